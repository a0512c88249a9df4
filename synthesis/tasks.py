"""Celery adapters for synthesis: ids in, rows and files out, safe to run twice.

``synthesize_clips`` runs on the GPU queue ``synthesis``; ``derive_anchor_clips`` makes MNRU
anchors (ITU-T P.810) from a source system's ready clips. Both are idempotent (a ready clip is
skipped) and ``acks_late``: a worker killed mid-task leaves its message unacknowledged, the broker
delivers it again, and the clips it had not finished are done then. Files are written under the
clip's token, so a retry replaces a half-written file instead of adding a second one.

Errors are sorted by kind (pretix's practice): temporary ones (database or broker hiccups) retry
with a fixed back-off; permanent ones (a checkpoint that will not load, text the model cannot
say) mark the clip failed with a message the researcher reads.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import OperationalError

from synthesis import clips as clip_service

log = logging.getLogger(__name__)

# Seconds to wait before retry 1, 2, 3…: temporary failures get a few quick tries, then slow ones.
RETRY_BACKOFF = [5, 15, 60, 180, 600]


def _retry_delay(retries: int) -> int:
    return RETRY_BACKOFF[min(retries, len(RETRY_BACKOFF) - 1)]


@shared_task(
    bind=True,
    name="synthesis.tasks.synthesize_clips",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=len(RETRY_BACKOFF),
    soft_time_limit=1800,
    time_limit=1900,
)
def synthesize_clips(self, system_id: int, clip_ids: list[int]) -> int:
    """Synthesise the given clips of a voice system; returns how many became ready."""
    start = time.monotonic()
    try:
        done = clip_service.voice_clips_synthesize(system_id=system_id, clip_ids=clip_ids)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=_retry_delay(self.request.retries)) from exc
    except clip_service.TemporaryFailure as exc:
        raise self.retry(exc=exc, countdown=_retry_delay(self.request.retries)) from exc
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


@shared_task(
    bind=True,
    name="synthesis.tasks.derive_anchor_clips",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=len(RETRY_BACKOFF),
    soft_time_limit=600,
    time_limit=660,
)
def derive_anchor_clips(self, system_id: int, clip_ids: list[int]) -> int:
    """Make MNRU anchor clips from their source clips that are ready; returns how many."""
    try:
        return clip_service.anchor_clips_derive(system_id=system_id, clip_ids=clip_ids)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=_retry_delay(self.request.retries)) from exc


@worker_process_init.connect
def _configure_torch(**_kwargs) -> None:
    """Each pool process sets its CPU thread count once, after the fork."""
    if settings.SYNTHESIS_THREADS:
        import torch

        torch.set_num_threads(settings.SYNTHESIS_THREADS)


@worker_ready.connect
def _recover_orphans(**_kwargs) -> None:
    """Clips left running by a worker that died are queued again.

    Redis redelivers an unacknowledged task after its visibility timeout, so there only clips
    older than the hard time limit are orphans. The filesystem broker (the embedded default,
    one worker) hands a message out once: every clip still running when it starts is orphaned.
    """
    filesystem = settings.CELERY_BROKER_URL.startswith("filesystem://")
    older = timedelta(seconds=0 if filesystem else settings.CELERY_TASK_TIME_LIMIT)
    try:
        n = clip_service.clips_requeue_stale(older_than=older)
    except Exception:  # a worker must start even if the database is briefly away
        log.exception("could not look for orphaned clips")
        return
    if n:
        log.warning("requeued orphaned clips", extra={"clips": n})
