"""A study's life: draft → synthesizing → ready → open ⇄ paused → closed.

Every change of status goes through one function here, used alike by the researcher pages, the
API, the management commands and the tasks. Each refuses to run from the wrong status with a
message that says what to do instead, and each runs in one transaction.
"""

from __future__ import annotations

import logging
import random

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from listening.models import Clip, Playlist, PlaylistItem, Study, System

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """An action a user asked for cannot be done; the message says why and what to do."""


def _lock(study: Study) -> Study:
    # Two researchers' tabs (or a task and a page) may act on one study at once: lock its row so
    # status changes are serialised and each sees the other's result.
    return Study.objects.select_for_update().get(pk=study.pk)


def clip_counts(*, study: Study) -> dict[str, int]:
    """How many of the study's clips are pending, running, ready and failed."""
    counts = dict.fromkeys(Clip.Status.values, 0)
    rows = Clip.objects.filter(system__study=study).values("status").annotate(n=Count("id"))
    for row in rows:
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts[s] for s in Clip.Status.values)
    return counts


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


@transaction.atomic
def study_start_synthesis(*, study: Study, user=None, only_failed: bool = False) -> int:
    """Queue synthesis of every clip that is not ready (or only the failed ones).

    Voice systems are synthesised by the GPU workers; MNRU anchors are derived from their source
    system's clips as those become ready. Returns the number of clips queued."""
    from synthesis import tasks

    study = _lock(study)
    if study.design_frozen:
        raise ServiceError(
            f"Study '{study.slug}' is {study.get_status_display().lower()}: its clips are frozen. "
            "Create a new study to change them."
        )
    if not study.sentences.exists() or not study.systems.exists():
        raise ServiceError("Add sentences and at least one system before synthesising.")
    study_clips_ensure(study=study)
    wanted = [Clip.Status.FAILED] if only_failed else [Clip.Status.PENDING, Clip.Status.FAILED]
    queued = 0
    batches: list[tuple[str, int, list[int]]] = []
    for system in study.systems.filter(kind__in=[System.Kind.VOICE, System.Kind.ANCHOR]):
        ids = list(system.clips.filter(status__in=wanted).values_list("id", flat=True))
        if not ids:
            continue
        Clip.objects.filter(id__in=ids).update(status=Clip.Status.PENDING, error="")
        kind = "anchor" if system.kind == System.Kind.ANCHOR else "voice"
        batches.append((kind, system.id, ids))
        queued += len(ids)
    if queued:
        study.status = Study.Status.SYNTHESIZING
        study.save(update_fields=["status", "updated_at"])

    def enqueue() -> None:
        for kind, system_id, ids in batches:
            if kind == "voice":
                tasks.synthesize_clips.delay(system_id, ids)
            else:
                tasks.derive_anchor_clips.delay(system_id, ids)

    # The worker must never look for rows this transaction has not committed yet.
    transaction.on_commit(enqueue)
    log.info(
        "synthesis queued",
        extra={"study": study.slug, "clips": queued, "systems": len(batches), "user": str(user)},
    )
    if not queued:
        study_sync_status(study=study)
    return queued


@transaction.atomic
def clip_retry(*, clip: Clip) -> None:
    """Synthesise one clip again (a failed one, or a ready one the researcher wants redone)."""
    from synthesis import tasks

    study = _lock(clip.system.study)
    if study.design_frozen:
        raise ServiceError("The test has been opened: its clips can no longer change.")
    if clip.system.kind not in (System.Kind.VOICE, System.Kind.ANCHOR):
        raise ServiceError("This clip comes from uploaded audio: upload a new file instead.")
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.PENDING, error="", audio="", duration_s=None, loudness_lufs=None
    )
    study.status = Study.Status.SYNTHESIZING
    study.save(update_fields=["status", "updated_at"])
    if clip.system.kind == System.Kind.ANCHOR:
        transaction.on_commit(lambda: tasks.derive_anchor_clips.delay(clip.system_id, [clip.pk]))
    else:
        transaction.on_commit(lambda: tasks.synthesize_clips.delay(clip.system_id, [clip.pk]))


def study_sync_status(*, study: Study) -> str:
    """Move a synthesising study to ready once no clip is pending or running; open it right
    away when the study asks for that (the demo does) and every clip is ready."""
    with transaction.atomic():
        study = _lock(study)
        if study.status != Study.Status.SYNTHESIZING:
            return study.status
        counts = clip_counts(study=study)
        if counts[Clip.Status.PENDING] or counts[Clip.Status.RUNNING]:
            return study.status
        study.status = Study.Status.READY
        study.save(update_fields=["status", "updated_at"])
        # Hook (issue 7): measure the ready clips' objective metrics on the CPU queue "metrics"
        # once this commits; imported here so the web process loads the metric libraries only
        # when it needs them.
        from listening.tasks_metrics import study_objective_request

        transaction.on_commit(lambda pk=study.pk: study_objective_request(pk))
    if study.open_when_ready and counts[Clip.Status.FAILED] == 0:
        try:
            study_open(study=study)
        except ServiceError as exc:
            log.warning("could not open study", extra={"study": study.slug, "error": str(exc)})
    return Study.objects.get(pk=study.pk).status


def _training_clips(study: Study, n: int, rng: random.Random) -> list[int]:
    """Clips spanning the scale for training: the reference (top), the anchors (bottom), then
    the other systems, each from a different sentence."""
    if n <= 0:
        return []
    order = {System.Kind.REFERENCE: 0, System.Kind.ANCHOR: 1}
    # Anchors with the lowest Q first: the clearly "Bad" end of the scale.
    systems = sorted(
        study.systems.all(), key=lambda s: (order.get(s.kind, 2), s.anchor_q_db or 0, s.id)
    )
    picked: list[int] = []
    used_sentences: set[int] = set()
    clips = list(
        Clip.objects.filter(
            system__study=study, status=Clip.Status.READY, sentence__expected_score__isnull=True
        ).values_list("id", "system_id", "sentence_id")
    )
    rng.shuffle(clips)
    for system in systems:
        for clip_id, system_id, sentence_id in clips:
            if system_id == system.id and sentence_id not in used_sentences:
                picked.append(clip_id)
                used_sentences.add(sentence_id)
                break
        if len(picked) >= n:
            break
    return picked


@transaction.atomic
def study_open(*, study: Study, user=None) -> int:
    """Freeze the design and precompute the playlists; returns how many were created.

    From here on sentences, systems and clips no longer change (P.808 practice: every listener
    rates the same frozen material)."""
    from listening.design import DesignError, design_playlists

    study = _lock(study)
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
    rng = random.Random(study.design_seed)
    training = _training_clips(study, study.training_clips, rng)
    try:
        planned = design_playlists(
            clips=test_clips,
            ratings_per_clip=study.ratings_per_clip,
            clips_per_listener=study.clips_per_listener,
            seed=study.design_seed,
            training=training,
            gold=gold,
            attention_check_rate=study.attention_check_rate,
        )
    except DesignError as exc:
        raise ServiceError(f"Cannot build playlists: {exc}") from exc
    Playlist.objects.filter(study=study).delete()
    playlists = Playlist.objects.bulk_create(
        Playlist(study=study, index=p.index, seed=p.seed) for p in planned
    )
    PlaylistItem.objects.bulk_create(
        PlaylistItem(
            playlist=playlist,
            position=position,
            clip_id=item.clip_id,
            purpose=item.purpose,
            expected_score=item.expected_score,
        )
        for playlist, plan in zip(playlists, planned, strict=True)
        for position, item in enumerate(plan.items)
    )
    study.status = Study.Status.OPEN
    study.opened_at = timezone.now()
    study.save(update_fields=["status", "opened_at", "updated_at"])
    log.info(
        "study opened", extra={"study": study.slug, "playlists": len(playlists), "user": str(user)}
    )
    return len(playlists)


@transaction.atomic
def study_pause(*, study: Study, user=None) -> None:
    study = _lock(study)
    if study.status != Study.Status.OPEN:
        raise ServiceError("Only an open test can be paused.")
    study.status = Study.Status.PAUSED
    study.save(update_fields=["status", "updated_at"])


@transaction.atomic
def study_resume(*, study: Study, user=None) -> int:
    study = _lock(study)
    if study.status != Study.Status.PAUSED:
        raise ServiceError("Only a paused test can be resumed.")
    study.status = Study.Status.OPEN
    study.save(update_fields=["status", "updated_at"])
    return study.playlists.count()


@transaction.atomic
def study_close(*, study: Study, user=None) -> None:
    study = _lock(study)
    if study.status not in (Study.Status.OPEN, Study.Status.PAUSED):
        raise ServiceError("Only an open or paused test can be closed.")
    study.status = Study.Status.CLOSED
    study.closed_at = timezone.now()
    study.save(update_fields=["status", "closed_at", "updated_at"])


def study_progress(*, study: Study) -> dict:
    """Numbers for the researcher's progress view: clips by state and ratings collected."""
    from listening.models import Rating

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
        "failures": failures,
        "playlists": playlists,
        "ratings": ratings,
        "ratings_target": n_test_clips * study.ratings_per_clip,
    }


__all__ = [
    "ServiceError",
    "clip_counts",
    "clip_retry",
    "study_clips_ensure",
    "study_close",
    "study_open",
    "study_pause",
    "study_progress",
    "study_resume",
    "study_start_synthesis",
    "study_sync_status",
]
