"""Celery adapters for synthesis: ids in, rows and files out, safe to run twice.

``synthesize_clips`` runs on the GPU queue ``synthesis``; ``derive_anchor_clips`` makes MNRU
anchors (ITU-T P.810) from a source system's ready clips. Both are idempotent (a ready clip is
skipped) and, as every Harken task (``mos_site.celery.HarkenTask``), ``acks_late``: a worker
killed mid-task leaves its message unacknowledged, the broker delivers it again, and the clips
it had not finished are done then. Where the broker does not (an hour's visibility timeout, a
Redis restarted without persistence), :func:`sweep_clips` does: clips whose worker's lease ran
out and pending clips whose task was lost are queued again (docs/architecture.md, "Leases and
the sweep"). Files are written under the clip's token, so a retry
replaces a half-written file instead of adding a second one. Temporary errors (database or
broker hiccups, a checkpoint server down) retry on the base's fixed back-off; permanent ones (a
checkpoint that will not load, text the model cannot say) mark the clip failed with a message
the researcher reads.

:func:`clips_enqueue` is the one place that chooses the task for a system's kind; the studies'
launch, a clip's retry, anchors whose source became ready and what the sweep and a starting
worker re-queue all go through it, after their transaction commits.
"""

from __future__ import annotations

import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

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


@app.task(base=HarkenTask, name="harken.sweep_clips")
def sweep_clips() -> dict:
    """The periodic sweep (Celery beat, every ``SYNTHESIS_SWEEP_S``): clips whose worker died
    and pending clips whose task was lost are queued again; see ``clips.clips_sweep``."""
    sweep = clip_service.clips_sweep()
    for system, ids in sweep.requeue:
        clips_enqueue(system=system, clip_ids=ids)
    return {"expired": sweep.expired, "failed": sweep.failed, "resent": sweep.resent}


def clips_enqueue(*, system: System, clip_ids: list[int]) -> None:
    """Queue ``clip_ids`` of ``system`` on the task its kind needs, once the current transaction
    commits (at once outside one): a worker must never look for rows not committed yet.

    The clips are stamped with the time in the same transaction (and with the task's id once
    the broker took it), so the sweep can tell a task the broker lost from one just queued. A broker that is down when the
    task is sent is logged, not raised: the stamp stands, and the sweep sends the task again."""
    if system.kind == System.Kind.VOICE:
        task = synthesize_clips
    elif system.kind == System.Kind.ANCHOR:
        task = derive_anchor_clips
    else:
        raise ValueError(f"system {system.pk} is {system.kind}: its audio is uploaded")
    system_id, ids = system.pk, list(clip_ids)
    clip_service.clips_mark_enqueued(clip_ids=ids)

    def send() -> None:
        try:
            sent = task.delay(system_id, ids)
        except (BrokerError, ConnectionError):
            log.exception(
                "could not send the synthesis task; the sweep will send it again",
                extra={"system": system_id, "clips": len(ids)},
            )
            return
        task_id = getattr(sent, "id", None)
        if isinstance(task_id, str):
            clip_service.clips_mark_sent(clip_ids=ids, task_id=task_id)

    transaction.on_commit(send)


@worker_process_init.connect
def _configure_torch(**_kwargs) -> None:
    """Each pool process sets its CPU thread count once, after the fork."""
    if settings.SYNTHESIS_THREADS:
        # torch loads in the workers only; this module is imported by the web process too.
        import torch

        torch.set_num_threads(settings.SYNTHESIS_THREADS)


@worker_ready.connect
def _recover_orphans(**_kwargs) -> None:
    """On start, queue again what no live worker holds: clips whose lease ran out, clips held
    by a process of this host that is gone (a crash just before this start), and pending clips
    whose task was lost. The periodic sweep does the same for workers that die later."""
    try:
        released = clip_service.leases_release_dead_local()
        sweep_clips()
    except Exception:  # a worker must start even if the database is briefly away
        log.exception("could not look for orphaned clips")
        return
    if released:
        log.warning("requeued clips of a dead worker", extra={"clips": released})
