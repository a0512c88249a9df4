"""Celery adapters for synthesis: ids in, rows and files out, safe to run twice.

``synthesize_clips`` runs on the GPU queue ``synthesis``; ``derive_anchor_clips`` makes MNRU
anchors (ITU-T P.810) from a source system's ready clips. Both are idempotent (a ready clip is
skipped) and, as every Harken task (``mos_site.celery.HarkenTask``), ``acks_late``: a worker
killed mid-task leaves its message unacknowledged, the broker delivers it again, and the clips
it had not finished are done then. Files are written under the clip's token, so a retry
replaces a half-written file instead of adding a second one. Temporary errors (database or
broker hiccups, a checkpoint server down) retry on the base's fixed back-off; permanent ones (a
checkpoint that will not load, text the model cannot say) mark the clip failed with a message
the researcher reads.

:func:`clips_enqueue` is the one place that chooses the task for a system's kind; the studies'
launch, a clip's retry, anchors whose source became ready and the orphans found when a worker
starts all go through it, after their transaction commits.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import transaction

from listening.models import System
from mos_site.celery import HarkenTask, app
from synthesis import clips as clip_service

log = logging.getLogger(__name__)


@app.task(base=HarkenTask, bind=True, name="synthesis.tasks.synthesize_clips")
def synthesize_clips(self, system_id: int, clip_ids: list[int]) -> int:
    """Synthesise the given clips of a voice system; returns how many became ready."""
    start = time.monotonic()
    try:
        done = clip_service.voice_clips_synthesize(
            system_id=system_id, clip_ids=clip_ids, enqueue_anchors=clips_enqueue
        )
    except SoftTimeLimitExceeded:
        clip_service.clips_fail_unfinished(
            system_id=system_id,
            clip_ids=clip_ids,
            error=f"Synthesis ran past the task's time limit ({self.soft_time_limit} s). "
            "Retry the failed clips; if it happens again, shorten the sentences.",
        )
        return 0
    log.info(
        "synthesis task done",
        extra={
            "system": system_id,
            "clips": len(clip_ids),
            "ready": done,
            "seconds": round(time.monotonic() - start, 3),
        },
    )
    return done


@app.task(base=HarkenTask, name="synthesis.tasks.derive_anchor_clips")
def derive_anchor_clips(system_id: int, clip_ids: list[int]) -> int:
    """Make MNRU anchor clips from their source clips that are ready; returns how many."""
    return clip_service.anchor_clips_derive(system_id=system_id, clip_ids=clip_ids)


def clips_enqueue(*, system: System, clip_ids: list[int]) -> None:
    """Queue ``clip_ids`` of ``system`` on the task its kind needs, once the current transaction
    commits (at once outside one): a worker must never look for rows not committed yet."""
    if system.kind == System.Kind.VOICE:
        task = synthesize_clips
    elif system.kind == System.Kind.ANCHOR:
        task = derive_anchor_clips
    else:
        raise ValueError(f"system {system.pk} is {system.kind}: its audio is uploaded")
    system_id, ids = system.pk, list(clip_ids)
    transaction.on_commit(lambda: task.delay(system_id, ids))


@worker_process_init.connect
def _configure_torch(**_kwargs) -> None:
    """Each pool process sets its CPU thread count once, after the fork."""
    if settings.SYNTHESIS_THREADS:
        # torch loads in the workers only; this module is imported by the web process too.
        import torch

        torch.set_num_threads(settings.SYNTHESIS_THREADS)


@worker_ready.connect
def _recover_orphans(**_kwargs) -> None:
    """Clips left running by a worker that died are queued again.

    Redis redelivers an unacknowledged task after its visibility timeout, so there only clips
    older than the synthesis task's hard time limit are orphans. The filesystem broker (the
    embedded default, one worker) hands a message out once: every clip still running when it
    starts is orphaned.
    """
    filesystem = settings.CELERY_BROKER_URL.startswith("filesystem://")
    older = timedelta(seconds=0 if filesystem else synthesize_clips.time_limit)
    try:
        orphans = clip_service.clips_requeue_stale(older_than=older)
        for system, ids in orphans:
            clips_enqueue(system=system, clip_ids=ids)
    except Exception:  # a worker must start even if the database is briefly away
        log.exception("could not look for orphaned clips")
        return
    n = sum(len(ids) for _, ids in orphans)
    if n:
        log.warning("requeued orphaned clips", extra={"clips": n})
