"""A study's life: draft → synthesizing → ready → open ⇄ paused → closed.

Every change of status goes through one function here, used alike by the researcher pages, the
API, the management commands and the tasks. Each refuses to run from the wrong status with a
message that says what to do instead, and each runs in one transaction.

Where it sits: the other services of this room (settings, sentences, systems, recordings,
launch) lock a study and keep its clip rows complete through the helpers here; synthesis
announces clips that changed state with ``synthesis.signals.clips_changed``, which
``listening.apps`` connects to :func:`study_sync_status`, so synthesis never calls a listening
service. A study that turns ready queues its objective metrics
(``listening.objective.cache``); opening it builds the playlists with
``listening.participation.design``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from listening.errors import ServiceError
from listening.models import Clip, Playlist, Rating, Study, System, TrialClip
from listening.objective.cache import study_objective_request
from listening.participation.design import design_playlists
from listening.participation.design_trials import PlannedTrial
from listening.studies import open_mushra
from listening.studies.playlists import design_refusal, playlists_replace
from listening.studies.trials_open import trials_playlists_create

log = logging.getLogger(__name__)


def study_lock(study: Study) -> Study:
    """The study's row, locked until the transaction ends."""
    # Two researchers' tabs (or a task and a page) may act on one study at once: lock its row so
    # status changes are serialised and each sees the other's result.
    return Study.objects.select_for_update().get(pk=study.pk)


def study_lock_unfrozen(study: Study, what: str) -> Study:
    """The study's row, locked; refused once the test has been opened (``what`` says what
    the researcher tried to change, for the message)."""
    study = study_lock(study)
    if study.design_frozen:
        raise ServiceError(
            f"Study '{study.slug}' is {study.get_status_display().lower()}: its design is frozen, "
            f"so {what} can no longer change. Create a new study instead."
        )
    return study


def status_counts(clips: QuerySet[Clip]) -> dict[str, int]:
    """How many of ``clips`` are in each ``Clip.Status`` (every state, 0 when none), and
    ``total``: one grouped query."""
    counts = dict.fromkeys(Clip.Status.values, 0)
    for row in clips.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts[s] for s in Clip.Status.values)
    return counts


def clip_counts(*, study: Study) -> dict[str, int]:
    """How many of the study's clips are pending, running, ready and failed."""
    return status_counts(Clip.objects.filter(system__study=study))


def study_clips_ensure(*, study: Study) -> int:
    """Create the missing clip rows (one per system and sentence); returns how many were new.

    Uploaded and reference systems get rows too: their audio arrives by upload, so a missing
    file shows as a pending clip the researcher can see."""
    existing = set(Clip.objects.filter(system__study=study).values_list("system_id", "sentence_id"))
    sentence_ids = list(study.sentences.values_list("id", flat=True))
    new = [
        Clip(system_id=system_id, sentence_id=sentence_id)
        for system_id in study.systems.values_list("id", flat=True)
        for sentence_id in sentence_ids
        if (system_id, sentence_id) not in existing
    ]
    Clip.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def study_design_changed(*, study: Study) -> None:
    """Sentences or systems changed: make the missing clip rows (so opening refuses until they
    are ready) and send a ready study back to draft."""
    study_clips_ensure(study=study)
    if study.status == Study.Status.READY:
        Study.objects.filter(pk=study.pk).update(
            status=Study.Status.DRAFT, updated_at=timezone.now()
        )
        study.status = Study.Status.DRAFT


def study_sync_status(*, study: Study) -> str:
    """Move a synthesising study to ready once no clip is pending or running; open it right
    away when the study asks for that (the demo does) and every clip is ready."""
    with transaction.atomic():
        study = study_lock(study)
        if study.status != Study.Status.SYNTHESIZING:
            return study.status
        counts = clip_counts(study=study)
        if counts[Clip.Status.PENDING] or counts[Clip.Status.RUNNING]:
            return study.status
        study.status = Study.Status.READY
        study.save(update_fields=["status", "updated_at"])
        # The ready clips' objective metrics are measured on the CPU queue "metrics" once this
        # commits (the task must find the study ready).
        transaction.on_commit(lambda pk=study.pk: study_objective_request(pk))
    if study.open_when_ready and counts[Clip.Status.FAILED] == 0:
        try:
            study_open(study=study)
        except ServiceError as exc:
            log.warning("could not open study", extra={"study": study.slug, "error": str(exc)})
    return Study.objects.get(pk=study.pk).status


def clips_changed_received(sender: Any, *, study: Study, **kwargs: Any) -> None:
    """Receiver of ``synthesis.signals.clips_changed``: synthesis saved clips of ``study``."""
    study_sync_status(study=study)


def _training_tiers(study: Study) -> list[list[tuple[int, int]]]:
    """Candidate practice clips by condition, best first (``design.pick_training``): the
    natural reference(s), then the other systems in their order, then the MNRU anchors from
    the highest Q to the lowest (the clearly "Bad" end). Attention-check sentences are left
    out. Without a reference the first system stands at the top: what is best is not known
    before the ratings."""
    clips: dict[int, list[tuple[int, int]]] = {}
    for clip_id, system_id, sentence_id in Clip.objects.filter(
        system__study=study, status=Clip.Status.READY, sentence__expected_score__isnull=True
    ).values_list("id", "system_id", "sentence_id"):
        clips.setdefault(system_id, []).append((clip_id, sentence_id))
    systems = list(study.systems.all())
    references = [s for s in systems if s.kind == System.Kind.REFERENCE]
    anchors = sorted(
        (s for s in systems if s.kind == System.Kind.ANCHOR),
        key=lambda s: (-(s.anchor_q_db or 0.0), s.id),
    )
    others = [s for s in systems if s.kind not in (System.Kind.REFERENCE, System.Kind.ANCHOR)]
    tiers = [[c for s in references for c in clips.get(s.id, [])]]
    tiers += [clips.get(s.id, []) for s in others + anchors]
    return [tier for tier in tiers if tier]


@transaction.atomic
def study_open(*, study: Study, user=None) -> int:
    """Freeze the design and precompute the playlists; returns how many were created.

    From here on sentences, systems and clips no longer change (P.808 practice: every listener
    rates the same frozen material)."""
    study = study_lock(study)
    if study.status in (Study.Status.OPEN, Study.Status.CLOSED):
        raise ServiceError(f"Study '{study.slug}' is already {study.status}.")
    if study.status == Study.Status.PAUSED:
        return study_resume(study=study)
    if study.status == Study.Status.SYNTHESIZING:
        raise ServiceError("Synthesis is still running: open the test once every clip is ready.")
    counts = clip_counts(study=study)
    if counts["total"] == 0:
        raise ServiceError("The study has no clips: add sentences and systems, then synthesise.")
    not_ready = counts["total"] - counts[Clip.Status.READY]
    if not_ready:
        raise ServiceError(
            f"{not_ready} of {counts['total']} clips are not ready "
            f"({counts[Clip.Status.FAILED]} failed, {counts[Clip.Status.PENDING]} pending): "
            "retry or replace them, or remove their system, before opening the test."
        )
    if study.test_type in open_mushra.TEST_TYPES:
        # MUSHRA and transcription trials have their own designs (ITU-R BS.1534-3).
        n_playlists = open_mushra.playlists_write(study=study)
    elif study.test_type != Study.TestType.ACR:
        n_playlists = trials_playlists_create(study=study)
    else:
        n_playlists = _acr_playlists_create(study)
    study.status = Study.Status.OPEN
    study.opened_at = timezone.now()
    study.save(update_fields=["status", "opened_at", "updated_at"])
    log.info(
        "study opened", extra={"study": study.slug, "playlists": n_playlists, "user": str(user)}
    )
    return n_playlists


def _acr_playlists_create(study: Study) -> int:
    """The ACR playlists (``design.design_playlists``): one clip per trial."""
    test_clips = {
        (system_id, sentence_id): clip_id
        for clip_id, system_id, sentence_id in Clip.objects.filter(
            system__study=study, sentence__expected_score__isnull=True
        ).values_list("id", "system_id", "sentence_id")
    }
    gold = [
        (clip_id, expected)
        for clip_id, expected in Clip.objects.filter(
            system__study=study,
            sentence__expected_score__isnull=False,
            system__kind__in=[System.Kind.VOICE, System.Kind.UPLOADED, System.Kind.REFERENCE],
        ).values_list("id", "sentence__expected_score")
    ]
    with design_refusal():
        planned = design_playlists(
            clips=test_clips,
            ratings_per_clip=study.ratings_per_clip,
            clips_per_listener=study.clips_per_listener,
            seed=study.design_seed,
            # Practice per playlist, spanning the scale, never a test clip of that playlist.
            training_tiers=_training_tiers(study),
            n_training=study.training_clips,
            gold=gold,
            attention_check_rate=study.attention_check_rate,
        )
    # An ACR trial presents its one clip, as the test clip.
    return playlists_replace(
        study=study,
        planned=(
            (
                p.index,
                p.seed,
                [
                    PlannedTrial(
                        clips=((TrialClip.Role.TEST, item.clip_id),),
                        purpose=item.purpose,
                        rated_clip_id=item.clip_id,
                        expected_score=item.expected_score,
                    )
                    for item in p.items
                ],
            )
            for p in planned
        ),
    )


def _move(study: Study, *, allowed: tuple[str, ...], to: str, refusal: str, **stamps) -> Study:
    """Lock ``study`` and move it to status ``to`` from one of ``allowed``, else refuse."""
    study = study_lock(study)
    if study.status not in allowed:
        raise ServiceError(refusal)
    study.status = to
    for name, value in stamps.items():
        setattr(study, name, value)
    study.save(update_fields=["status", *stamps, "updated_at"])
    return study


@transaction.atomic
def study_pause(*, study: Study, user=None) -> None:
    _move(
        study,
        allowed=(Study.Status.OPEN,),
        to=Study.Status.PAUSED,
        refusal="Only an open test can be paused.",
    )


@transaction.atomic
def study_resume(*, study: Study, user=None) -> int:
    study = _move(
        study,
        allowed=(Study.Status.PAUSED,),
        to=Study.Status.OPEN,
        refusal="Only a paused test can be resumed.",
    )
    return study.playlists.count()


@transaction.atomic
def study_close(*, study: Study, user=None) -> None:
    _move(
        study,
        allowed=(Study.Status.OPEN, Study.Status.PAUSED),
        to=Study.Status.CLOSED,
        refusal="Only an open or paused test can be closed.",
        closed_at=timezone.now(),
    )


def study_progress(*, study: Study) -> dict:
    """Numbers for the researcher's progress view: clips by state and ratings collected."""
    counts = clip_counts(study=study)
    failures = list(
        Clip.objects.filter(system__study=study, status=Clip.Status.FAILED)
        .values("token", "system__name", "sentence__key", "error")
        .order_by("system__name", "sentence__key")[:200]
    )
    playlists = study.playlists.aggregate(
        total=Count("id"),
        completed=Count("id", filter=Q(status=Playlist.Status.COMPLETED)),
        claimed=Count("id", filter=Q(status=Playlist.Status.CLAIMED)),
    )
    ratings = Rating.objects.filter(listener__study=study, purpose="test").count()
    n_test_clips = Clip.objects.filter(
        system__study=study, sentence__expected_score__isnull=True
    ).count()
    return {
        "status": study.status,
        "clips": counts,
        "synthesis": synthesis_health(study=study),
        "failures": failures,
        "playlists": playlists,
        "ratings": ratings,
        "ratings_target": n_test_clips * study.ratings_per_clip,
    }


#: The command a researcher can run when no worker takes the clips.
WORKER_HINT = "`make run` starts one; in production `celery -A mos_site worker`"


def synthesis_health(*, study: Study) -> dict:
    """Whether the study's synthesis is moving, for the researcher: the workers that died
    holding its clips (their clips are or will be queued again by the sweep,
    ``synthesis.clips.clips_sweep``) and whether pending clips have waited
    ``SYNTHESIS_STALLED_AFTER_S`` with nothing running, which means no worker takes them.

    ``alerts`` are the sentences the pages show, in the request's language."""
    now = timezone.now()
    clips = Clip.objects.filter(system__study=study)
    lease = timedelta(seconds=settings.SYNTHESIS_LEASE_S)
    running = clips.filter(status=Clip.Status.RUNNING)
    live = running.filter(lease_until__gt=now).count()
    dead = list(
        running.filter(
            Q(lease_until__lte=now) | Q(lease_until__isnull=True, updated_at__lte=now - lease)
        )
        .values("worker")
        .annotate(clips=Count("id"))
        .order_by("worker")
    )
    requeued = list(
        clips.filter(status=Clip.Status.PENDING, lease_expiries__gt=0)
        .values("worker")
        .annotate(clips=Count("id"))
        .order_by("worker")
    )
    waiting = clips.filter(
        status=Clip.Status.PENDING,
        enqueued_at__isnull=False,
        system__kind__in=[System.Kind.VOICE, System.Kind.ANCHOR],
    ).aggregate(n=Count("id"), since=Min("enqueued_at"))
    last_change = clips.aggregate(at=Max("updated_at"))["at"]
    quiet_since = max(filter(None, [last_change, waiting["since"]]), default=now)
    quiet_s = (now - quiet_since).total_seconds()
    stalled = bool(waiting["n"] and not live and quiet_s >= settings.SYNTHESIS_STALLED_AFTER_S)
    alerts = [
        ngettext(
            "Worker %(worker)s stopped while synthesising %(n)d clip: it will be queued again "
            "within %(s)d s. If this message stays, no worker is running (%(hint)s).",
            "Worker %(worker)s stopped while synthesising %(n)d clips: they will be queued "
            "again within %(s)d s. If this message stays, no worker is running (%(hint)s).",
            row["clips"],
        )
        % {
            "worker": row["worker"] or _("(unknown)"),
            "n": row["clips"],
            "s": settings.SYNTHESIS_SWEEP_S,
            "hint": WORKER_HINT,
        }
        for row in dead
    ]
    alerts += [
        ngettext(
            "Worker %(worker)s died; %(n)d clip re-queued.",
            "Worker %(worker)s died; %(n)d clips re-queued.",
            row["clips"],
        )
        % {"worker": row["worker"] or _("(unknown)"), "n": row["clips"]}
        for row in requeued
    ]
    minutes = int(quiet_s // 60)
    if stalled:
        alerts.append(
            ngettext(
                "Stalled: no worker has picked up these %(n)d clips for %(m)d minute. "
                "Is a worker running? (%(hint)s)",
                "Stalled: no worker has picked up these %(n)d clips for %(m)d minutes. "
                "Is a worker running? (%(hint)s)",
                minutes,
            )
            % {"n": waiting["n"], "m": minutes, "hint": WORKER_HINT}
        )
    return {
        "stalled": stalled,
        "stalled_minutes": minutes if stalled else 0,
        "waiting": waiting["n"],
        "running_live": live,
        "dead_workers": dead,
        "requeued": requeued,
        "alerts": alerts,
    }
