"""Prometheus collectors, one module so every process registers each exactly once.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR (``make run`` and
docker-compose do) so each process writes its samples there and /metrics aggregates them.
"""

from prometheus_client import Counter, Gauge, Histogram

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
CLIPS_BY_STATE = Gauge("harken_clips", "Clips by state", ["state"], multiprocess_mode="mostrecent")


def exposition() -> tuple[bytes, str]:
    """The text exposition of every collector; aggregated across processes when
    PROMETHEUS_MULTIPROC_DIR is set (gunicorn workers and Celery workers)."""
    import os

    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
