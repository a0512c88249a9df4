"""Starting synthesis: a study's missing clips, or one clip again, handed to the synthesis queue.

Where it sits: the researcher pages, the API, ``manage.py synthesize`` and the demo's bootstrap
call these; they make the clip rows (``lifecycle.study_clips_ensure``), mark them pending, set
the study synthesizing and hand the ids to ``synthesis.tasks.clips_enqueue``, which picks the
task for each system's kind and sends it once the transaction commits: a worker never looks for
rows that are not committed yet. The study turns ready on its own when the last clip is done
(``lifecycle.study_sync_status``).
"""

from __future__ import annotations

import logging

from django.db import transaction

from listening.errors import ServiceError
from listening.models import Clip, Study, System
from listening.studies.lifecycle import study_clips_ensure, study_lock, study_sync_status
from synthesis.availability import voice_availability
from synthesis.tasks import clips_enqueue

log = logging.getLogger(__name__)

#: The systems whose clips Harken makes itself; the others' audio is uploaded.
SYNTHESISED_KINDS = (System.Kind.VOICE, System.Kind.ANCHOR)


def _voices_check(study: Study) -> None:
    """Refuse to queue clips for a voice that cannot work here (its weights removed since it was
    chosen, say): every clip would fail on the worker with the same error."""
    systems = study.systems.filter(kind=System.Kind.VOICE).select_related("voice")
    unavailable = [
        (system, found)
        for system in systems
        if system.voice is not None and not (found := voice_availability(system.voice)).ok
    ]
    if unavailable:
        details = " ".join(
            f"System '{system.name}' (voice '{system.voice.name}'): {' '.join(found.problems)}"
            for system, found in unavailable
        )
        raise ServiceError(f"Nothing was queued: a voice cannot synthesise here. {details}")


@transaction.atomic
def study_start_synthesis(*, study: Study, user=None, only_failed: bool = False) -> int:
    """Queue synthesis of every clip that is not ready (or only the failed ones).

    Voice systems are synthesised by the GPU workers; MNRU anchors are derived from their source
    system's clips as those become ready. Returns the number of clips queued."""
    study = study_lock(study)
    if study.design_frozen:
        raise ServiceError(
            f"Study '{study.slug}' is {study.get_status_display().lower()}: its clips are frozen. "
            "Create a new study to change them."
        )
    if not study.sentences.exists() or not study.systems.exists():
        raise ServiceError("Add sentences and at least one system before synthesising.")
    _voices_check(study)
    study_clips_ensure(study=study)
    wanted = [Clip.Status.FAILED] if only_failed else [Clip.Status.PENDING, Clip.Status.FAILED]
    queued = 0
    n_systems = 0
    for system in study.systems.filter(kind__in=SYNTHESISED_KINDS):
        ids = list(system.clips.filter(status__in=wanted).values_list("id", flat=True))
        if not ids:
            continue
        # A researcher's launch starts the count of dead workers afresh (synthesis.clips_sweep).
        Clip.objects.filter(id__in=ids).update(
            status=Clip.Status.PENDING, error="", lease_expiries=0
        )
        clips_enqueue(system=system, clip_ids=ids)
        queued += len(ids)
        n_systems += 1
    if queued:
        study.status = Study.Status.SYNTHESIZING
        study.save(update_fields=["status", "updated_at"])
    log.info(
        "synthesis queued",
        extra={"study": study.slug, "clips": queued, "systems": n_systems, "user": str(user)},
    )
    if not queued:
        study_sync_status(study=study)
    return queued


@transaction.atomic
def clip_retry(*, clip: Clip) -> None:
    """Synthesise one clip again (a failed one, or a ready one the researcher wants redone)."""
    study = study_lock(clip.system.study)
    if study.design_frozen:
        raise ServiceError("The test has been opened: its clips can no longer change.")
    if clip.system.kind not in SYNTHESISED_KINDS:
        raise ServiceError("This clip comes from uploaded audio: upload a new file instead.")
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.PENDING,
        error="",
        audio="",
        duration_s=None,
        loudness_lufs=None,
        lease_expiries=0,
    )
    study.status = Study.Status.SYNTHESIZING
    study.save(update_fields=["status", "updated_at"])
    clips_enqueue(system=clip.system, clip_ids=[clip.pk])
