"""A Celery worker's own metrics endpoint, started when the worker is ready.

Workers in other containers cannot share the web's folder (process ids would collide across
PID namespaces), so each Celery worker serves its own container's folder over HTTP on
``METRICS_PORT`` (default :data:`DEFAULT_WORKER_METRICS_PORT` where
``PROMETHEUS_MULTIPROC_DIR`` is set; ``METRICS_PORT=0`` turns it off), guarded exactly like
/metrics (``METRICS_TOKEN`` bearer token or ``METRICS_ALLOWED_IPS``). Prometheus scrapes those
directly; we chose this over a Pushgateway because scrapes keep Prometheus's ``up`` series and
its staleness handling for each worker. ``observability.apps`` connects :func:`serve_on_worker_ready`
to Celery's ``worker_ready`` in every process that loads Django, the workers included.
"""

from __future__ import annotations

import logging
import os
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings

from observability.exposition import exposition, request_allowed
from observability.metrics import MULTIPROC_ENV

log = logging.getLogger(__name__)

DEFAULT_WORKER_METRICS_PORT = 9101


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds the worker's shutdown
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass  # Prometheus scrapes every few seconds; access lines would drown the task logs


def worker_metrics_app(environ, start_response):
    """WSGI app of a worker's endpoint: GET /metrics, same guard as the web's /metrics."""
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


def serve_on_worker_ready(**_kwargs: Any) -> None:
    """Each Celery worker serves its processes' metrics on METRICS_PORT (connected by
    ``observability.apps`` to ``worker_ready``)."""
    worker_metrics_server_start()
