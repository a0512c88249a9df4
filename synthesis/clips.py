"""Synthesis services: turn pending clips into ready FLAC files in storage.

Called by the Celery tasks in ``synthesis/tasks.py`` (and by ``manage.py synthesize`` through
them). Reads and writes ``listening`` models but calls no listening service and imports no
Celery: after each batch it announces the study's changed clips (``synthesis.signals``), and
anchor clips whose source became ready are handed back to the task that called it
(``enqueue_anchors``), which queues them. The engine in ``synthesis/engine`` knows nothing of
either. Every clip ends ready (audio, duration, loudness, seed, timings, device, provenance) or failed (with
the error a researcher can act on).

A claim is a lease: the worker process (``host/pid``) and ``lease_until``, renewed while it
works (:func:`lease_kept`). :func:`clips_sweep` queues again, through its caller, the clips
whose lease ran out and the pending clips whose task was lost, and fails a clip whose worker
died ``SYNTHESIS_MAX_LEASE_EXPIRIES`` times.
"""

from __future__ import annotations

import io
import logging
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import soundfile as sf
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from listening.models import Clip, System, clip_upload_to
from mos_site.errors import TemporaryFailure
from observability import metrics
from synthesis.engine.audio import encode_flac, postprocess
from synthesis.engine.lowpass import LOWPASS_ANCHORS, anchor_filter_order, lowpass_anchor
from synthesis.engine.mnru import mnru
from synthesis.engine.protocol import SynthesisRequest
from synthesis.provenance import (
    anchor_clip_provenance,
    lowpass_clip_provenance,
    voice_clip_provenance,
)
from synthesis.signals import clips_changed
from synthesis.voices import VoiceUnavailable, voice_load

log = logging.getLogger(__name__)

# Sentences handed to the engine at once: the engine batches them by frame budget; this bounds
# how long a researcher waits to see progress.
CHUNK = 16

#: Called with ``system=`` (an anchor system) and ``clip_ids=`` for anchor clips whose source
#: clips just became ready; the task passes ``synthesis.tasks.clips_enqueue``.
EnqueueAnchors = Callable[..., None]


def worker_id() -> str:
    """Who holds a claim: this process, as ``host/pid`` (a worker's pool process)."""
    return f"{socket.gethostname()}/{os.getpid()}"


def _lease_end() -> datetime:
    return timezone.now() + timedelta(seconds=settings.SYNTHESIS_LEASE_S)


def _held_by_another(now) -> Q:
    """Running clips another live worker holds: their lease has not run out."""
    return Q(status=Clip.Status.RUNNING, lease_until__gt=now) & ~Q(worker=worker_id())


def _claim(clip_ids: Iterable[int], system_id: int) -> list[Clip]:
    """Mark running, under this worker's lease, the clips that are neither ready nor held by
    another worker whose lease still runs (a second delivery of the task leaves those alone)."""
    now = timezone.now()
    with transaction.atomic():
        clips = list(
            Clip.objects.select_for_update()
            .filter(id__in=list(clip_ids), system_id=system_id)
            .exclude(status=Clip.Status.READY)
            .exclude(_held_by_another(now))
            .select_related("sentence")
            .order_by("id")
        )
        # QuerySet.update skips auto_now: updated_at is set here, or a clip claimed a moment
        # ago would look as old as its row.
        Clip.objects.filter(id__in=[c.id for c in clips]).update(
            status=Clip.Status.RUNNING,
            attempts=F("attempts") + 1,
            error="",
            worker=worker_id(),
            lease_until=_lease_end(),
            updated_at=now,
        )
    return clips


def leases_renew(clip_ids: Iterable[int]) -> int:
    """Extend this worker's lease on those of ``clip_ids`` it still holds; returns how many."""
    return Clip.objects.filter(
        id__in=list(clip_ids), status=Clip.Status.RUNNING, worker=worker_id()
    ).update(lease_until=_lease_end(), updated_at=timezone.now())


@contextmanager
def lease_kept(clip_ids: list[int]) -> Iterator[None]:
    """Renew the lease on ``clip_ids`` every third of its length while the block runs.

    A thread does it, so that one long engine call (a batch can take minutes on a CPU) does
    not let the lease run out under a live worker; if the process dies, so does the thread,
    and the lease runs out as it should."""
    stop = threading.Event()
    me = worker_id()  # the thread runs in this process: same pid

    def renew() -> None:
        interval = max(settings.SYNTHESIS_LEASE_S / 3, 0.5)
        try:
            while not stop.wait(interval):
                try:
                    Clip.objects.filter(
                        id__in=clip_ids, status=Clip.Status.RUNNING, worker=me
                    ).update(lease_until=_lease_end(), updated_at=timezone.now())
                except Exception:  # the database briefly away: try again next time
                    log.warning("could not renew the synthesis lease", exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=renew, name="synthesis-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _fail(clips: Iterable[Clip], message: str) -> None:
    ids = [c.id for c in clips]
    Clip.objects.filter(id__in=ids).exclude(status=Clip.Status.READY).update(
        status=Clip.Status.FAILED, error=message[:4000], lease_until=None, updated_at=timezone.now()
    )
    log.warning("clips failed", extra={"clips": len(ids), "error": message[:500]})


def _peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux: the process's high-water mark, which is what bounds a worker.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def clip_store(
    clip: Clip,
    samples: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float,
    target_sample_rate: int | None,
    seconds: float | None = None,
    device: str = "",
    peak_memory_bytes: int | None = None,
    trim: bool = True,
    provenance: dict | None = None,
) -> bool:
    """Post-process (trim, clipping check, BS.1770 loudness) and store one clip as FLAC, with
    ``provenance`` (``synthesis.provenance``; the stored sample rate is added here).

    Returns False when another run finished the clip first (its file is then left alone)."""
    processed = postprocess(
        samples,
        sample_rate,
        target_lufs=target_lufs,
        target_sample_rate=target_sample_rate,
        trim=trim,
    )
    data = encode_flac(processed.samples, processed.sample_rate)
    name = clip_upload_to(clip, "audio.flac")
    # The name is the clip's token: a retry replaces a half-written file rather than adding one.
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    rtf = (seconds / processed.duration_s) if seconds and processed.duration_s else None
    with transaction.atomic():
        updated = (
            Clip.objects.filter(pk=clip.pk)
            .exclude(status=Clip.Status.READY)
            .update(
                status=Clip.Status.READY,
                audio=saved,
                duration_s=processed.duration_s,
                sample_rate=processed.sample_rate,
                loudness_lufs=processed.loudness_lufs,
                peak_dbfs=processed.peak_dbfs,
                clipped=processed.clipped,
                error="",
                synthesis_seconds=seconds,
                real_time_factor=rtf,
                device=device,
                peak_memory_bytes=peak_memory_bytes,
                lease_until=None,
                provenance={**(provenance or {}), "sample_rate": processed.sample_rate},
                ready_at=timezone.now(),
                updated_at=timezone.now(),
            )
        )
    if not updated and saved != name:
        default_storage.delete(saved)
    return bool(updated)


def _after_ready(
    system: System, sentence_ids: list[int], enqueue_anchors: EnqueueAnchors | None
) -> None:
    """Hand over the anchors derived from clips that just became ready."""
    if not sentence_ids or enqueue_anchors is None:
        return
    for anchor in system.anchors.all():
        ids = list(
            anchor.clips.filter(
                sentence_id__in=sentence_ids, status=Clip.Status.PENDING
            ).values_list("id", flat=True)
        )
        if ids:
            enqueue_anchors(system=anchor, clip_ids=ids)


def _announce(system: System) -> None:
    """Tell the apps above that clips of this system's study changed state."""
    clips_changed.send(sender=System, study=system.study)


def _observe(voice: str, device: str, seconds: float, duration: float) -> None:
    metrics.SYNTHESIS_SECONDS.labels(voice=voice, device=device).observe(seconds)
    if duration > 0:
        metrics.SYNTHESIS_RTF.labels(voice=voice, device=device).observe(seconds / duration)


def voice_clips_synthesize(
    *, system_id: int, clip_ids: list[int], enqueue_anchors: EnqueueAnchors | None = None
) -> int:
    """Synthesise the clips of a voice system; returns how many became ready.

    ``enqueue_anchors(system=..., clip_ids=...)`` is called, inside a transaction so that what
    it queues waits for the commit, for the anchor clips whose source clips became ready."""
    system = System.objects.select_related("voice", "study").get(pk=system_id)
    if system.kind != System.Kind.VOICE or system.voice is None:
        raise ValueError(f"system {system_id} is not a voice system")
    clips = _claim(clip_ids, system_id)
    if not clips:
        _announce(system)
        return 0
    try:
        loaded = voice_load(system.voice)
    except VoiceUnavailable as exc:
        if exc.temporary:
            Clip.objects.filter(id__in=[c.id for c in clips]).update(
                status=Clip.Status.PENDING, lease_until=None, updated_at=timezone.now()
            )
            raise TemporaryFailure(str(exc)) from exc
        _fail(clips, str(exc))
        _announce(system)
        return 0

    done = 0
    with lease_kept([c.id for c in clips]):
        for start in range(0, len(clips), CHUNK):
            done += _synthesize_chunk(system, loaded, clips[start : start + CHUNK], enqueue_anchors)
            _announce(system)
    return done


def clips_fail_unfinished(*, system_id: int, clip_ids: list[int], error: str) -> int:
    """Mark failed, with ``error``, the clips of a task that are still running (its time ran
    out); returns how many. Ready clips keep their audio."""
    system = System.objects.select_related("study").get(pk=system_id)
    unfinished = list(
        Clip.objects.filter(id__in=clip_ids, system=system, status=Clip.Status.RUNNING)
    )
    if unfinished:
        _fail(unfinished, error)
    _announce(system)
    return len(unfinished)


def _synthesize_chunk(
    system: System, loaded, chunk: list[Clip], enqueue_anchors: EnqueueAnchors | None
) -> int:
    study = system.study
    voice_name = system.voice.name
    ready_sentences: list[int] = []
    done = 0
    batch_start = time.monotonic()

    requests = [
        SynthesisRequest(text=clip.sentence.text, seed=clip.seed, key=str(clip.id))
        for clip in chunk
    ]
    by_key = {str(clip.id): clip for clip in chunk}
    results = [
        (by_key[r.key], r.samples, r.sample_rate, r.seconds, r.error, r)
        for r in loaded.impl.synthesize(requests)
    ]
    # The engine measures its own peak (CUDA allocator, or the process's high-water mark).
    peak = getattr(loaded.impl, "peak_memory_bytes", None) or _peak_rss_bytes()
    for clip, samples, sample_rate, seconds, error, result in results:
        if error:
            _fail([clip], error)
            continue
        try:
            stored = clip_store(
                clip,
                samples,
                sample_rate,
                target_lufs=study.loudness_target_lufs,
                target_sample_rate=study.sample_rate,
                seconds=seconds,
                device=loaded.device,
                peak_memory_bytes=peak,
                provenance=voice_clip_provenance(
                    seed=clip.seed,
                    engine=loaded.engine,
                    voice=loaded.record,
                    settings=result.settings,
                    engine_sample_rate=sample_rate,
                    pieces=result.pieces,
                    loudness_target_lufs=study.loudness_target_lufs,
                ),
            )
        except ValueError as exc:  # SilentAudioError and friends: the output is unusable
            _fail([clip], f"The voice produced unusable audio: {exc}")
            continue
        if stored:
            done += 1
            ready_sentences.append(clip.sentence_id)
            duration = len(samples) / sample_rate if sample_rate else 0.0
            _observe(voice_name, loaded.device, seconds, duration)
    with transaction.atomic():
        _after_ready(system, ready_sentences, enqueue_anchors)
    # GPU memory after each batch, read by this pool process, which owns the CUDA context; a
    # no-op on CPU.
    metrics.observe_gpu_memory(loaded.device)
    log.info(
        "synthesis batch",
        extra={
            "study": study.slug,
            "study_id": study.pk,  # ids beside the names, for joining log lines with rows
            "system_id": system.pk,
            "system": system.name,
            "voice": voice_name,
            "device": loaded.device,
            "clips": len(chunk),
            "ready": done,
            "seconds": round(time.monotonic() - batch_start, 3),
        },
    )
    return done


#: Low-pass anchor kinds and their cut-off in Hz (synthesis.engine.lowpass).
LOWPASS_CUTOFF_HZ = {
    System.AnchorKind.LOWPASS_3500: 3500.0,
    System.AnchorKind.LOWPASS_7000: 7000.0,
}


def _derive(system: System, src: Clip, clip: Clip, samples, sample_rate: int):
    """(derived samples, provenance) of ``clip`` from its source clip's audio."""
    target = system.study.loudness_target_lufs
    if system.anchor_kind == System.AnchorKind.MNRU:
        degraded = mnru(samples, sample_rate, system.anchor_q_db, seed=clip.seed)
        return degraded, anchor_clip_provenance(
            seed=clip.seed,
            q_db=system.anchor_q_db,
            source_clip=src.token,
            source=src.provenance,
            loudness_target_lufs=target,
        )
    cutoff = LOWPASS_CUTOFF_HZ[system.anchor_kind]
    filtered = lowpass_anchor(samples, sample_rate, cutoff)
    return filtered, lowpass_clip_provenance(
        seed=clip.seed,
        cutoff_hz=cutoff,
        stopband_hz=LOWPASS_ANCHORS[cutoff],
        order=anchor_filter_order(cutoff, sample_rate),
        source_clip=src.token,
        source=src.provenance,
        loudness_target_lufs=target,
    )


def anchor_clips_derive(*, system_id: int, clip_ids: list[int]) -> int:
    """Anchors from the source system's ready clips of the same sentences: MNRU noise (ITU-T
    P.810) or a MUSHRA low-pass filter (ITU-R BS.1534-3), by the system's ``anchor_kind``.

    Clips whose source is not ready yet stay pending: they are queued again when it is."""
    system = System.objects.select_related("study", "anchor_source").get(pk=system_id)
    source = system.anchor_source
    mnru_without_q = system.anchor_kind == System.AnchorKind.MNRU and system.anchor_q_db is None
    if system.kind != System.Kind.ANCHOR or source is None or mnru_without_q:
        raise ValueError(f"system {system_id} is not an anchor system")
    candidates = list(
        Clip.objects.filter(id__in=clip_ids, system=system).exclude(status=Clip.Status.READY)
    )
    sources = {
        c.sentence_id: c
        for c in Clip.objects.filter(
            system=source, sentence_id__in=[c.sentence_id for c in candidates]
        )
    }
    done = 0
    for clip in candidates:
        src = sources.get(clip.sentence_id)
        if src is None or src.status == Clip.Status.FAILED:
            _fail([clip], f"Its source clip in system '{source.name}' failed; retry that first.")
            continue
        if src.status != Clip.Status.READY:
            continue
        claimed = (
            Clip.objects.filter(pk=clip.pk)
            .exclude(status=Clip.Status.READY)
            .exclude(_held_by_another(timezone.now()))
            .update(
                status=Clip.Status.RUNNING,
                attempts=F("attempts") + 1,
                worker=worker_id(),
                lease_until=_lease_end(),
                updated_at=timezone.now(),
            )
        )
        if not claimed:
            continue
        start = time.monotonic()
        with src.audio.open("rb") as fh:
            samples, sample_rate = sf.read(io.BytesIO(fh.read()), dtype="float32")
        try:
            # A low-pass anchor refuses a clip too narrow to carry the band it removes.
            derived, provenance = _derive(system, src, clip, samples, sample_rate)
            if clip_store(
                clip,
                derived,
                sample_rate,
                target_lufs=system.study.loudness_target_lufs,
                target_sample_rate=None,
                seconds=time.monotonic() - start,
                device="cpu",
                trim=False,  # keep the source's timing: the anchor is the same utterance
                provenance=provenance,
            ):
                done += 1
        except ValueError as exc:
            _fail([clip], f"Could not derive the anchor: {exc}")
    _announce(system)
    return done


def clips_mark_enqueued(*, clip_ids: list[int]) -> None:
    """Note that a task for ``clip_ids`` is being queued now (the sweep's clock for lost
    tasks); called in the transaction whose commit sends it."""
    Clip.objects.filter(id__in=clip_ids).update(enqueued_at=timezone.now(), task_id="")


def clips_mark_sent(*, clip_ids: list[int], task_id: str) -> None:
    """Note the id of the task the broker accepted for ``clip_ids`` (for the logs and admin)."""
    Clip.objects.filter(id__in=clip_ids, status=Clip.Status.PENDING).update(task_id=task_id)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def leases_release_dead_local() -> int:
    """End at once the leases of workers on this host whose process is gone; returns how many
    clips. A worker starting after a crash need not wait for those leases to run out."""
    host = socket.gethostname()
    dead = []
    for holder in (
        Clip.objects.filter(status=Clip.Status.RUNNING, worker__startswith=f"{host}/")
        .values_list("worker", flat=True)
        .distinct()
    ):
        pid = holder.rpartition("/")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            dead.append(holder)
    if not dead:
        return 0
    return Clip.objects.filter(status=Clip.Status.RUNNING, worker__in=dead).update(
        lease_until=timezone.now()
    )


@dataclass
class Sweep:
    """What one sweep did. ``requeue`` is for the caller to queue: (system, clip ids)."""

    requeue: list[tuple[System, list[int]]] = field(default_factory=list)
    expired: int = 0  # running clips whose worker died, set back to pending
    failed: int = 0  # ... whose worker died too often: failed for good
    resent: int = 0  # pending clips whose task no worker took, sent again


def clips_sweep() -> Sweep:
    """Running clips whose lease ran out go back to pending (or fail after
    ``SYNTHESIS_MAX_LEASE_EXPIRIES``); pending clips whose task was sent longer than
    ``SYNTHESIS_RESEND_AFTER_S`` ago go out again. Safe to run twice at once (rows are locked,
    skipping those another sweep holds) and to over-send: a task skips ready and held clips."""
    now = timezone.now()
    result = Sweep()
    worst = settings.SYNTHESIS_MAX_LEASE_EXPIRIES
    touched: set[int] = set()
    with transaction.atomic():
        expired = list(
            Clip.objects.select_for_update(skip_locked=True)
            .filter(status=Clip.Status.RUNNING)
            .filter(
                Q(lease_until__lte=now)
                # Claimed before leases existed: judged by the claim's age.
                | Q(lease_until__isnull=True, updated_at__lte=now - _lease_length())
            )
            .values_list("id", "system_id", "lease_expiries", "worker")
        )
        give_up: dict[str, list[int]] = {}
        back: list[int] = []
        for clip_id, system_id, expiries, holder in expired:
            touched.add(system_id)
            if expiries + 1 >= worst:
                give_up.setdefault(holder, []).append(clip_id)
            else:
                back.append(clip_id)
        Clip.objects.filter(id__in=back).update(
            status=Clip.Status.PENDING,
            lease_expiries=F("lease_expiries") + 1,
            lease_until=None,
            updated_at=now,
        )
        for holder, ids in give_up.items():
            Clip.objects.filter(id__in=ids).update(
                status=Clip.Status.FAILED,
                lease_expiries=F("lease_expiries") + 1,
                lease_until=None,
                updated_at=now,
                error=(
                    f"The worker died {worst} times while synthesising this clip (last: "
                    f"{holder or 'unknown'}); see the worker logs (often: out of memory or a "
                    "time limit), fix the cause, then retry the failed clips."
                ),
            )
        result.expired = len(back)
        result.failed = sum(len(ids) for ids in give_up.values())

        resend_before = now - timedelta(seconds=settings.SYNTHESIS_RESEND_AFTER_S)
        lost = (
            Clip.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=Clip.Status.PENDING,
                system__kind__in=[System.Kind.VOICE, System.Kind.ANCHOR],
                enqueued_at__lte=resend_before,
            )
            .values_list("id", "system_id")
        )
        by_system: dict[int, list[int]] = {}
        for clip_id, system_id in lost:
            by_system.setdefault(system_id, []).append(clip_id)
        result.resent = sum(len(ids) for ids in by_system.values())
        system_of = {clip_id: system_id for clip_id, system_id, *_ in expired}
        for clip_id in back:
            by_system.setdefault(system_of[clip_id], []).append(clip_id)
        systems = System.objects.select_related("study").in_bulk([*by_system, *touched])
        result.requeue = [
            (systems[system_id], sorted(set(ids))) for system_id, ids in by_system.items()
        ]
    for system_id in touched:
        _announce(systems[system_id])
    for outcome in ("expired", "failed", "resent"):
        if getattr(result, outcome):
            metrics.SYNTHESIS_SWEPT.labels(outcome=outcome).inc(getattr(result, outcome))
    if result.expired or result.failed or result.resent:
        log.warning(
            "synthesis sweep",
            extra={"expired": result.expired, "failed": result.failed, "resent": result.resent},
        )
    return result


def _lease_length() -> timedelta:
    return timedelta(seconds=settings.SYNTHESIS_LEASE_S)
