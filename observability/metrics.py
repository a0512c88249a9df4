"""Prometheus collectors that Harken's processes record into, and how their samples reach files
that many processes share.

Where it sits: every process imports this module (it imports nothing of the project): the web
process records request latency (``observability.middleware``) and ratings
(``listening.participation.ratings``); the synthesis workers record seconds and real-time
factor per clip, voice-cache lookups and GPU memory (``synthesis.clips``, ``synthesis.voices``);
the CPU workers record objective metrics (``listening.objective.cache``) and report builds
(``listening.analysis.reports``). ``observability.exposition`` turns the samples into the
``/metrics`` page, ``observability.worker`` serves a worker's own; ``deploy/prometheus.yml``
scrapes both and ``deploy/grafana-dashboard.json`` draws them. One module, so every process
registers each collector exactly once.

Multi-process mode. gunicorn runs several web processes and Celery runs a pool of processes;
each writes its samples to files under ``PROMETHEUS_MULTIPROC_DIR`` and /metrics adds them up
(prometheus_client's multiprocess mode). prometheus_client picks the mode once, when it is
first imported, from that environment variable, so the variable must be in the environment
*before* the process starts: ``bin/serve.py`` (``make run``) and docker-compose set it for
gunicorn and the workers, and the test suite passes it to the worker subprocesses it starts
(``WorkerProcess(env={"PROMETHEUS_MULTIPROC_DIR": ...})``). A process that is already running
(the pytest process, a shell) can switch over with :func:`multiprocess_dir`, which does what the
import would have done and resets Harken's collectors so every later sample goes to the files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, values

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- The collectors ----------------------------------------------------------------------------
# Every collector has labels: a labelled collector creates its per-process value lazily, on the
# first .labels() call, which is what lets multiprocess_dir() switch a running process over.

REQUEST_LATENCY = Histogram(
    "harken_request_seconds",
    "HTTP request latency by route",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATINGS_SUBMITTED = Counter(
    "harken_ratings_submitted_total", "Ratings accepted from listeners", ["study"]
)
# The synthesis histograms are sliced alike, so a dashboard can divide one by the other.
PER_VOICE_AND_DEVICE = ["voice", "device"]
SYNTHESIS_SECONDS = Histogram(
    "harken_synthesis_seconds",
    "Wall seconds to synthesise one clip",
    PER_VOICE_AND_DEVICE,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
SYNTHESIS_RTF = Histogram(
    "harken_synthesis_real_time_factor",
    "Synthesis seconds per second of audio",
    PER_VOICE_AND_DEVICE,
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
SYNTHESIS_SWEPT = Counter(
    "harken_synthesis_swept_clips_total",
    "Clips the synthesis sweep acted on (outcome: expired = requeued after its worker died, "
    "failed = its worker died too often, resent = its task was lost)",
    ["outcome"],
)
MODEL_CACHE = Counter(
    "harken_worker_model_cache_total", "Voice model lookups in a worker", ["result"]
)
GPU_MEMORY = Gauge(
    "harken_gpu_memory_bytes",
    "CUDA device memory seen by a synthesis worker after its last batch (kind: used, free, total)",
    ["device", "kind"],
    # The newest reading wins, whichever pool process made it.
    multiprocess_mode="mostrecent",
)
OBJECTIVE_CLIPS = Counter(
    "harken_objective_clips_total",
    "Clips handled by the objective-metrics tasks (result: computed, skipped, failed)",
    ["result"],
)
OBJECTIVE_SECONDS = Histogram(
    "harken_objective_seconds",
    "Seconds to compute one clip's objective metrics",
    ["kind"],  # with_reference | without_reference
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
REPORT_BUILD_SECONDS = Histogram(
    "harken_report_build_seconds",
    "Seconds to build one study report",
    ["result"],  # the build's outcome: ready, failed (nothing to analyse yet) or error
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

HARKEN_COLLECTORS = (
    REQUEST_LATENCY,
    RATINGS_SUBMITTED,
    SYNTHESIS_SECONDS,
    SYNTHESIS_RTF,
    SYNTHESIS_SWEPT,
    MODEL_CACHE,
    GPU_MEMORY,
    OBJECTIVE_CLIPS,
    OBJECTIVE_SECONDS,
    REPORT_BUILD_SECONDS,
)


def observe_gpu_memory(device: str) -> None:
    """Record free, used and total memory of a CUDA ``device`` ("cuda", "cuda:1"); no-op on CPU.

    Called by the synthesis pool process after each batch: that process owns the CUDA context.
    It is never read at scrape time from a worker's main process, because initialising CUDA
    there, before Celery forks its pool, would break CUDA in every pool process. "used" is the
    whole device's (every process on it), from ``torch.cuda.mem_get_info``.
    (Not exercised here: the test machine has no GPU.)
    """
    if not device.startswith("cuda"):
        return
    try:
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(device))
    except Exception:  # a metric must never fail a synthesis batch
        log.debug("could not read CUDA memory", exc_info=True)
        return
    GPU_MEMORY.labels(device=device, kind="free").set(free)
    GPU_MEMORY.labels(device=device, kind="used").set(total - free)
    GPU_MEMORY.labels(device=device, kind="total").set(total)


# --- Multi-process mode --------------------------------------------------------------------------


def process_writes_to_multiproc_dir() -> bool:
    """True when this process's collectors write to PROMETHEUS_MULTIPROC_DIR."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def _drop_children() -> None:
    """Forget every labelled child of Harken's collectors, so the next .labels() call makes a
    value of the current ValueClass."""
    with warnings.catch_warnings():
        # prometheus_client warns that clear() leaves the samples already in the files; that
        # is what we want: only this process's in-memory children go.
        warnings.simplefilter("ignore", UserWarning)
        for collector in HARKEN_COLLECTORS:
            collector.clear()


@contextlib.contextmanager
def multiprocess_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Switch this running process to multiprocess mode on ``path`` for the ``with`` block.

    What prometheus_client would have done had PROMETHEUS_MULTIPROC_DIR been set when it was
    imported: the environment variable is set (child processes started inside the block
    inherit it), new values are written to files under ``path``, and Harken's collectors drop
    the values they hold so every later sample goes to the files. On exit the previous mode
    and environment come back and the collectors are reset again. For the test process and
    development shells; servers get the variable before they start.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    previous_env = os.environ.get(MULTIPROC_ENV)
    previous_class = values.ValueClass
    os.environ[MULTIPROC_ENV] = str(folder)
    values.ValueClass = values.MultiProcessValue()
    _drop_children()
    try:
        yield folder
    finally:
        _drop_children()
        with contextlib.suppress(AttributeError):
            values.ValueClass.close_all_files()
        values.ValueClass = previous_class
        if previous_env is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous_env
