"""Objective metrics of a study's clips: computed by Celery tasks on the CPU queue ``metrics``,
cached per clip in ``Clip.objective``. The services and the tasks that wrap them sit together
here (the project's task convention, ``mos_site.celery``).

Where it sits: a study whose clips are all synthesised turns ready
(``listening.studies.lifecycle.study_sync_status``), which enqueues
:func:`compute_study_objective` once the transaction commits; that task finds the clips whose
cached metrics are missing or out of date and fans them out to :func:`compute_clips_objective`
in small batches, so several CPU workers share a large study. Each clip's audio is read from
storage and measured by the pure functions of ``listening.objective.measure``;
``listening.analysis.objective_section`` puts the cached numbers beside MOS in the report.

What is computed for a ready clip of a test sentence (attention-check sentences are skipped):

- always: ``describe_clip`` (duration, speaking rate, words per second from the sentence text,
  BS.1770 loudness, clipping, leading and trailing silence) and two automatic MOS estimates:
  DistillMOS (``listening.objective.automatic``, made for speech quality with synthetic speech
  among its training data: the one to read for TTS) and DNSMOS P.808 (a model of noise
  suppression);
- when the study has a reference system (``System.Kind.REFERENCE``; the first by position if
  there are several) and the clip is from another system: ``compare_to_reference`` against the
  reference clip of the same sentence (STOI, ESTOI, PESQ-WB, MCD-DTW, F0 RMSE / correlation,
  VDE, GPE). Both clips are first brought to the lower of their two sample rates.

The cache (``Clip.objective``)::

    {"version": OBJECTIVE_VERSION, "key": "...", "computed_at": ISO time, "f0_method": "dio",
     "sample_rate": analysed rate, "reference_clip": id or null, "reference": {...} or null,
     "describe": {...}, "dnsmos_p808": float or null, "distillmos": float or null,
     "notes": [...], "error": ""}

``key`` fingerprints everything the numbers depend on: :data:`OBJECTIVE_VERSION` (bump it when
an algorithm changes), the F0 tracker, the DistillMOS package version (new weights may come
with it), the clip's audio (file name and ``ready_at``, which
changes when a clip is made again) and the reference clip's. A clip whose stored key matches is
skipped, so the tasks are idempotent and safe to run twice (``acks_late``); anything that
changes the key makes the next study task recompute that clip. A clip whose audio cannot be
measured keeps an ``error`` under the same key and is not retried until something changes.

The F0 tracker is WORLD's Harvest unless ``OBJECTIVE_F0_METHOD`` (a Django setting, else an
environment variable) says ``dio``: DIO + StoneMask is about 50 times faster and is what the
test suite uses.
"""

from __future__ import annotations

import io
import logging
import math
import time
from typing import Any

import numpy as np
import soundfile
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from listening.models import Clip, Study, System
from listening.objective import automatic, measure
from mos_site.celery import HarkenTask, app
from observability import metrics

log = logging.getLogger(__name__)

OBJECTIVE_VERSION = 2
"""Bump when listening.objective.measure or this module changes a number: every clip is
recomputed."""

CLIPS_PER_TASK = 8
"""Clips per compute_clips_objective task: ~10 s of work with Harvest, so a study fans out over
every CPU worker and a time limit never hits a whole study at once."""


# --- services -----------------------------------------------------------------------------------


def objective_f0_method() -> str:
    """The F0 tracker for MCD/F0 metrics: ``harvest`` (default) or ``dio``."""
    method = settings.OBJECTIVE_F0_METHOD
    if method not in measure.F0_METHODS:
        raise ValueError(
            f"OBJECTIVE_F0_METHOD={method!r} is not an F0 tracker; use one of "
            f"{', '.join(measure.F0_METHODS)}."
        )
    return method


def reference_system(study: Study) -> System | None:
    """The study's natural reference system, or None (then only reference-free metrics)."""
    return study.systems.filter(kind=System.Kind.REFERENCE).order_by("position", "id").first()


def _audio_stamp(clip: Clip | None) -> str:
    if clip is None or clip.status != Clip.Status.READY or not clip.audio:
        return "none"
    ready = clip.ready_at.isoformat() if clip.ready_at else ""
    return f"{clip.audio.name}@{ready}"


def clip_objective_key(clip: Clip, reference: Clip | None, f0_method: str) -> str:
    """Fingerprint of what a clip's cached metrics depend on (see the module docstring)."""
    return (
        f"v{OBJECTIVE_VERSION}|{f0_method}|{automatic.DISTILLMOS_VERSION}|{_audio_stamp(clip)}"
        f"|ref={_audio_stamp(reference)}"
    )


def study_measured_clips(study: Study) -> tuple[list[Clip], dict[int, Clip], int | None]:
    """Ready clips of test sentences, the reference clip of each sentence, the reference
    system's id."""
    ref_system = reference_system(study)
    clips = list(
        Clip.objects.filter(
            system__study=study,
            status=Clip.Status.READY,
            sentence__expected_score__isnull=True,
        )
        .select_related("system", "sentence")
        .order_by("system__position", "system_id", "sentence__position", "sentence_id")
    )
    references = {}
    if ref_system is not None:
        references = {c.sentence_id: c for c in clips if c.system_id == ref_system.pk}
    return clips, references, ref_system.pk if ref_system else None


def reference_clip_for(
    clip: Clip, references: dict[int, Clip], ref_system_id: int | None
) -> Clip | None:
    """The reference clip ``clip`` is compared with (None for the reference system itself)."""
    if ref_system_id is None or clip.system_id == ref_system_id:
        return None
    return references.get(clip.sentence_id)


def study_objective_stale(*, study: Study) -> list[int]:
    """Ids of the study's ready test clips whose cached metrics are missing or out of date."""
    f0_method = objective_f0_method()
    clips, references, ref_system_id = study_measured_clips(study)
    stale = []
    for clip in clips:
        reference = reference_clip_for(clip, references, ref_system_id)
        if (clip.objective or {}).get("key") != clip_objective_key(clip, reference, f0_method):
            stale.append(clip.pk)
    return stale


def study_objective_enqueue(*, study: Study) -> int:
    """Queue the stale clips of ``study`` in batches; returns how many clips were queued.

    Enqueues on commit, so a worker never looks for rows this transaction has not written."""
    stale = study_objective_stale(study=study)
    batches = [stale[i : i + CLIPS_PER_TASK] for i in range(0, len(stale), CLIPS_PER_TASK)]

    def enqueue() -> None:
        for batch in batches:
            compute_clips_objective.delay(batch)

    transaction.on_commit(enqueue)
    log.info("objective metrics queued", extra={"study": study.slug, "clips": len(stale)})
    return len(stale)


def study_objective_request(study_id: int) -> None:
    """Enqueue :func:`compute_study_objective` for a study that just became ready.

    Called on commit by ``listening.studies.lifecycle.study_sync_status``. A broker failure is
    logged and swallowed: objective metrics must never fail the synthesis task that made the
    study ready, and the report's objective section shows the clips still pending."""
    try:
        compute_study_objective.delay(study_id)
    except Exception:
        log.exception("could not queue objective metrics", extra={"study_id": study_id})


def _read_mono(clip: Clip) -> tuple[np.ndarray, int]:
    """The clip's audio from storage as float64 (samples,), channels averaged."""
    with clip.audio.open("rb") as fh:
        data = fh.read()
    try:
        samples, sample_rate = soundfile.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise ValueError(
            f"the audio file {clip.audio.name} could not be decoded ({exc.error_string}); "
            "upload or synthesise the clip again."
        ) from exc
    return samples.mean(axis=1), int(sample_rate)


def json_safe(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):  # np.float64, np.int64, np.bool_: the Python number
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _measure(clip: Clip, reference: Clip | None, f0_method: str) -> dict[str, Any]:
    """Every metric of one clip; a ValueError of one metric becomes a note, not a failure."""
    samples, rate = _read_mono(clip)
    notes: list[str] = []
    result: dict[str, Any] = {
        "sample_rate": rate,
        "reference_clip": reference.pk if reference else None,
        "reference": None,
        "describe": None,
        "dnsmos_p808": None,
        "distillmos": None,
    }
    try:
        result["describe"] = measure.describe_clip(samples, rate, text=clip.sentence.text)
    except ValueError as exc:
        notes.append(f"describe_clip: {exc}")
    try:
        result["dnsmos_p808"] = measure.dnsmos_p808(samples, rate)
    except ValueError as exc:
        notes.append(f"dnsmos_p808: {exc}")
    try:
        result["distillmos"] = automatic.distillmos(samples, rate)
    except ValueError as exc:
        notes.append(f"distillmos: {exc}")
    if reference is not None:
        ref_samples, ref_rate = _read_mono(reference)
        # One rate for both: the lower, since upsampling adds no information to compare.
        common = min(rate, ref_rate)
        degraded = measure.resample(samples, rate, common)
        natural = measure.resample(ref_samples, ref_rate, common)
        try:
            result["reference"] = measure.compare_to_reference(
                degraded, natural, common, f0_method=f0_method
            )
            result["sample_rate"] = common
        except ValueError as exc:
            notes.append(f"compare_to_reference: {exc}")
    elif clip.system.kind != System.Kind.REFERENCE:
        notes.append("No ready reference clip of this sentence: reference-free metrics only.")
    result["notes"] = notes
    return result


def clip_objective_compute(*, clip_id: int) -> str:
    """Compute and cache one clip's metrics unless the cache is current.

    Returns "computed", "skipped" (cache current, clip not ready, or an attention-check
    sentence) or "failed" (the audio could not be read or measured; the error is cached)."""
    clip = Clip.objects.select_related("system", "sentence").filter(pk=clip_id).first()
    if clip is None or clip.status != Clip.Status.READY or clip.sentence.expected_score is not None:
        return "skipped"
    f0_method = objective_f0_method()
    ref_system = reference_system(clip.system.study)
    reference = None
    if ref_system is not None and clip.system_id != ref_system.pk:
        reference = Clip.objects.filter(
            system=ref_system, sentence_id=clip.sentence_id, status=Clip.Status.READY
        ).first()
    key = clip_objective_key(clip, reference, f0_method)
    if (clip.objective or {}).get("key") == key:
        return "skipped"

    start = time.monotonic()
    try:
        data = _measure(clip, reference, f0_method)
        data["error"] = ""
        outcome = "computed"
    except (FileNotFoundError, ValueError) as exc:
        # A missing or undecodable file: permanent until the clip or its reference is made
        # again, which changes the key.
        data = {"error": f"{type(exc).__name__}: {exc}"[:2000], "notes": []}
        outcome = "failed"
    seconds = time.monotonic() - start
    data.update(
        version=OBJECTIVE_VERSION,
        key=key,
        f0_method=f0_method,
        computed_at=timezone.now().isoformat(),
        seconds=round(seconds, 3),
    )
    # Conditional write: a clip made again while we measured keeps its (now stale) cache empty
    # of our numbers, and the next study task measures the new audio.
    Clip.objects.filter(pk=clip.pk, status=Clip.Status.READY, ready_at=clip.ready_at).update(
        objective=json_safe(data)
    )
    kind = "with_reference" if reference is not None else "without_reference"
    metrics.OBJECTIVE_SECONDS.labels(kind=kind).observe(seconds)
    if outcome == "failed":
        log.warning("objective metrics failed", extra={"clip": clip.pk, "error": data["error"]})
    return outcome


def clips_objective_compute(*, clip_ids: list[int]) -> dict[str, int]:
    """Compute a batch of clips; returns how many were computed, skipped and failed."""
    start = time.monotonic()
    counts = {"computed": 0, "skipped": 0, "failed": 0}
    for clip_id in clip_ids:
        outcome = clip_objective_compute(clip_id=clip_id)
        counts[outcome] += 1
        metrics.OBJECTIVE_CLIPS.labels(result=outcome).inc()
    log.info(
        "objective metrics batch: %d clips, %d computed, %d skipped, %d failed",
        len(clip_ids),
        counts["computed"],
        counts["skipped"],
        counts["failed"],
        extra={
            "clips": len(clip_ids),
            **counts,
            "seconds": round(time.monotonic() - start, 3),
            "device": "cpu",
        },
    )
    return counts


# --- Tasks -------------------------------------------------------------------------------------


@app.task(base=HarkenTask, name="listening.tasks_metrics.compute_clips_objective")
def compute_clips_objective(clip_ids: list[int]) -> dict[str, int]:
    """Objective metrics of the given clips (ids); clips already current are skipped."""
    return clips_objective_compute(clip_ids=clip_ids)


@app.task(base=HarkenTask, name="listening.tasks_metrics.compute_clip_objective")
def compute_clip_objective(clip_id: int) -> str:
    """Objective metrics of one clip: "computed", "skipped" or "failed"."""
    outcome = clip_objective_compute(clip_id=clip_id)
    metrics.OBJECTIVE_CLIPS.labels(result=outcome).inc()
    return outcome


@app.task(base=HarkenTask, name="listening.tasks_metrics.compute_study_objective")
def compute_study_objective(study_id: int) -> int:
    """Queue the study's clips whose metrics are missing or stale; returns how many."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        log.info("objective metrics: study gone", extra={"study_id": study_id})
        return 0
    with transaction.atomic():
        return study_objective_enqueue(study=study)
