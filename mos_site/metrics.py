"""Prometheus metrics: what the processes record, what /metrics computes at scrape time, and how
samples from many processes reach one endpoint.

Where it sits: the web process (request latency, ratings), the synthesis workers (seconds and
real-time factor per clip, voice-cache lookups, GPU memory) and the CPU workers (objective
metrics, report builds) record into the collectors below; ``mos_site.views.metrics`` serves
:func:`exposition` at ``/metrics``; each Celery worker can serve its own samples on
``METRICS_PORT`` (:func:`worker_metrics_server_start`); ``deploy/prometheus.yml`` scrapes both and
``deploy/grafana-dashboard.json`` draws them.

Recorded by the processes (one module, so every process registers each collector exactly once):
request latency by route, ratings accepted, synthesis seconds and real-time factor per voice and
device, voice model-cache hits and misses, GPU memory (CUDA workers only), objective-metric
clips and seconds, report builds.

Computed at scrape time, one aggregate query or broker call each, by the web's /metrics only
(:class:`DatabaseCollector`, :class:`BrokerCollector`): clips by state, listeners seen in the last
:data:`ACTIVE_LISTENER_MINUTES` minutes, messages waiting per Celery queue, and
``harken_database_up`` / ``harken_broker_up``, which turn 0 (instead of the scrape failing) when
the database or the broker cannot be reached.

Multi-process mode. gunicorn runs several web processes and Celery runs a pool of processes;
each writes its samples to files under ``PROMETHEUS_MULTIPROC_DIR`` and /metrics adds them up
(prometheus_client's multiprocess mode). prometheus_client picks the mode once, when it is
first imported, from that environment variable, so the variable must be in the environment
*before* the process starts: ``bin/serve.py`` (``make run``) and docker-compose set it for
gunicorn and the workers, and the test suite passes it to the worker subprocesses it starts
(``WorkerProcess(env={"PROMETHEUS_MULTIPROC_DIR": ...})``). A process that is already running
(the pytest process, a shell) can switch over with :func:`multiprocess_dir`, which does what the
import would have done and resets Harken's collectors so every later sample goes to the files.

Workers in other containers cannot share the web's folder (process ids would collide across
PID namespaces), so each Celery worker serves its own container's folder over HTTP on
``METRICS_PORT`` (default :data:`DEFAULT_WORKER_METRICS_PORT` where
``PROMETHEUS_MULTIPROC_DIR`` is set; ``METRICS_PORT=0`` turns it off), guarded exactly like
/metrics (``METRICS_TOKEN`` bearer token or ``METRICS_ALLOWED_IPS``). Prometheus scrapes those
directly; we chose this over a Pushgateway because scrapes keep Prometheus's ``up`` series and
its staleness handling for each worker.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_WORKER_METRICS_PORT = 9101
ACTIVE_LISTENER_MINUTES = 5
"""A listener counts as active when the site saw them (Listener.last_seen_at) this recently."""

# --- Recorded by the processes ------------------------------------------------------------------
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
SYNTHESIS_SECONDS = Histogram(
    "harken_synthesis_seconds",
    "Wall seconds to synthesise one clip",
    ["voice", "device"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
SYNTHESIS_RTF = Histogram(
    "harken_synthesis_real_time_factor",
    "Synthesis seconds per second of audio",
    ["voice", "device"],
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
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


# --- Computed at scrape time --------------------------------------------------------------------


class DatabaseCollector:
    """Clips by state and active listeners, one aggregate query each; database_up says whether
    those numbers could be read. An unreachable database gives ``harken_database_up 0`` and no
    other family from here: the rest of /metrics is still served."""

    def describe(self) -> list:
        return []  # nothing is queried when the collector is registered

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from datetime import timedelta

        from django.db.models import Count
        from django.utils import timezone

        from listening.models import Clip, Listener

        up = GaugeMetricFamily("harken_database_up", "1 when /metrics could query the database")
        try:
            by_state = dict.fromkeys(Clip.Status.values, 0)
            for row in Clip.objects.order_by().values("status").annotate(n=Count("id")):
                by_state[row["status"]] = row["n"]
            since = timezone.now() - timedelta(minutes=ACTIVE_LISTENER_MINUTES)
            active = Listener.objects.filter(last_seen_at__gte=since).count()
        except Exception as exc:  # any driver error: report down, keep serving the rest
            log.warning("metrics: database unavailable", extra={"error": str(exc)[:300]})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        clips = GaugeMetricFamily("harken_clips", "Clips by state", labels=["state"])
        for state, n in by_state.items():
            clips.add_metric([state], n)
        yield clips
        yield GaugeMetricFamily(
            "harken_listeners_active",
            f"Listeners seen in the last {ACTIVE_LISTENER_MINUTES} minutes",
            value=active,
        )


def celery_queues() -> list[str]:
    """The queues Harken routes tasks to: the default queue and every routed one."""
    from django.conf import settings

    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    queues.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values())
    return sorted(queues)


class BrokerCollector:
    """Messages waiting in each Celery queue: LLEN on Redis (every priority sub-queue kombu
    uses), the message files of a queue on the filesystem broker. Other brokers report nothing.
    ``harken_broker_up`` is 0 when the broker cannot be read; the scrape still succeeds."""

    TIMEOUT_S = 2.0

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.conf import settings

        url = settings.CELERY_BROKER_URL
        options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {})
        queues = celery_queues()
        try:
            if url.startswith(("redis://", "rediss://")):
                depths = self._redis(url, queues, options)
            elif url.startswith("filesystem://"):
                depths = self._filesystem(queues, options)
            else:
                return
        except Exception as exc:
            log.warning("metrics: broker unavailable", extra={"error": str(exc)[:300]})
            yield GaugeMetricFamily("harken_broker_up", "1 when /metrics could read the broker", 0)
            return
        yield GaugeMetricFamily("harken_broker_up", "1 when /metrics could read the broker", 1)
        depth = GaugeMetricFamily(
            "harken_queue_depth", "Messages waiting in a Celery queue", labels=["queue"]
        )
        for queue in queues:
            depth.add_metric([queue], depths[queue])
        yield depth

    def _redis(self, url: str, queues: list[str], options: dict) -> dict[str, int]:
        import redis
        from kombu.transport.redis import PRIORITY_STEPS, Channel

        # kombu keeps priority p > 0 of queue q in the list "q<sep>p" (see kombu's
        # Channel._q_for_pri), under the optional global key prefix.
        steps = options.get("priority_steps", PRIORITY_STEPS)
        sep = options.get("sep", Channel.sep)
        prefix = options.get("global_keyprefix", "")
        client = redis.Redis.from_url(
            url, socket_timeout=self.TIMEOUT_S, socket_connect_timeout=self.TIMEOUT_S
        )
        try:
            pipe = client.pipeline(transaction=False)
            keys = [
                (q, f"{prefix}{q}{sep}{p}" if p else f"{prefix}{q}") for q in queues for p in steps
            ]
            for _, key in keys:
                pipe.llen(key)
            counts = pipe.execute()
        finally:
            client.close()
        depths = dict.fromkeys(queues, 0)
        for (queue, _), n in zip(keys, counts):
            depths[queue] += int(n)
        return depths

    def _filesystem(self, queues: list[str], options: dict) -> dict[str, int]:
        # kombu's filesystem transport names a message "<ms>_<uuid>.<queue>.msg" in its
        # data_folder_in and moves it away when a worker takes it.
        folder = options["data_folder_in"]
        depths = dict.fromkeys(queues, 0)
        suffix = {f"{q}.msg": q for q in queues}
        with os.scandir(folder) as entries:
            for entry in entries:
                queue = suffix.get(entry.name.partition(".")[2])
                if queue is not None:
                    depths[queue] += 1
        return depths


# --- Exposition ---------------------------------------------------------------------------------


class _ThisProcess:
    """Forwards the default registry: this process's own samples when not in multiprocess mode."""

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client import REGISTRY

        yield from REGISTRY.collect()


def process_writes_to_multiproc_dir() -> bool:
    """True when this process's collectors write to PROMETHEUS_MULTIPROC_DIR."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


_warned_late_env = False


def _registry(*, site: bool):
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    global _warned_late_env
    registry = CollectorRegistry()
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        if not process_writes_to_multiproc_dir() and not _warned_late_env:
            _warned_late_env = True
            log.warning(
                "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported in this "
                "process, so this process's own samples are missing from /metrics; set it in the "
                "environment before the process starts.",
                extra={"dir": folder},
            )
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_ThisProcess())
    if site:
        registry.register(DatabaseCollector())
        registry.register(BrokerCollector())
    return registry


def exposition(*, site: bool = True) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type.

    Samples come from every process sharing PROMETHEUS_MULTIPROC_DIR when it is set (gunicorn
    and Celery processes), else from this process. ``site=True`` (the web's /metrics) adds the
    scrape-time database and broker collectors; a worker's own endpoint leaves them out so the
    same numbers are not scraped twice.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(_registry(site=site)), CONTENT_TYPE_LATEST


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


# --- Who may read metrics -----------------------------------------------------------------------


def request_allowed(
    *, remote_addr: str, authorization: str, token: str, allowed_networks: Iterable[str]
) -> bool:
    """True for ``Authorization: Bearer <token>`` (when a token is configured) or a client
    address inside one of ``allowed_networks`` (addresses or CIDR networks)."""
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    for allowed in allowed_networks:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


# --- A worker's own endpoint --------------------------------------------------------------------


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds the worker's shutdown
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass  # Prometheus scrapes every few seconds; access lines would drown the task logs


def worker_metrics_app(environ, start_response):
    """WSGI app of a worker's endpoint: GET /metrics, same guard as the web's /metrics."""
    from django.conf import settings

    if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found: metrics are at /metrics.\n"]
    if not request_allowed(
        remote_addr=environ.get("REMOTE_ADDR", ""),
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        token=settings.METRICS_TOKEN,
        allowed_networks=settings.METRICS_ALLOWED_IPS,
    ):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Forbidden: metrics need METRICS_TOKEN or an allowed address.\n"]
    body, content_type = exposition(site=False)
    start_response("200 OK", [("Content-Type", content_type)])
    return [body]


def worker_metrics_port() -> int:
    """METRICS_PORT, or the default where PROMETHEUS_MULTIPROC_DIR is set; 0 means off."""
    from django.conf import settings

    raw = str(settings.METRICS_PORT).strip()
    if not raw:
        return DEFAULT_WORKER_METRICS_PORT if os.environ.get(MULTIPROC_ENV) else 0
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(
            f"METRICS_PORT={raw!r} is not a port number; use e.g. 9101, or 0 for off."
        ) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"METRICS_PORT={port} is out of range; use 1-65535, or 0 for off.")
    return port


def worker_metrics_server_start(*, address: str = "0.0.0.0") -> WSGIServer | None:
    """Serve this worker's metrics on :func:`worker_metrics_port` in a daemon thread.

    Runs in the worker's main process (on Celery's ``worker_ready``); the tasks run in pool
    processes, so their samples reach the endpoint only through PROMETHEUS_MULTIPROC_DIR, and
    without it nothing is served. A port already taken is logged, never fatal: a worker must
    start even when its metrics cannot be served.
    """
    try:
        port = worker_metrics_port()
    except ValueError as exc:
        log.error("worker metrics not served: %s", exc)
        return None
    if not port:
        return None
    if not os.environ.get(MULTIPROC_ENV):
        log.error(
            "worker metrics not served: METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR, because "
            "tasks run in pool processes whose samples only reach the endpoint through it."
        )
        return None
    try:
        server = make_server(
            address, port, worker_metrics_app, _Server, handler_class=_QuietHandler
        )
    except OSError as exc:
        log.warning("worker metrics not served", extra={"port": port, "error": str(exc)})
        return None
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    log.info("worker metrics served", extra={"address": address, "port": server.server_port})
    return server
