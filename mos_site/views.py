"""Operational endpoints: /healthz for load balancers and /metrics for Prometheus.

/metrics renders ``mos_site.metrics.exposition``; who may read it is decided by
``mos_site.metrics.request_allowed``, shared with the workers' own metrics endpoints."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def check_database() -> str | None:
    """None when the database answers ``SELECT 1``; otherwise the error text."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable" to a health check
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def check_broker() -> str | None:
    """None when Celery's broker accepts a connection; otherwise the error text."""
    from mos_site.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
            if conn.transport_cls == "filesystem":
                folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]
                if not os.access(folder, os.W_OK):
                    return f"filesystem broker folder {folder} is not writable"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    problems = {"database": check_database(), "broker": check_broker()}
    body = {name: ("ok" if err is None else err) for name, err in problems.items()}
    failing = [name for name, err in problems.items() if err is not None]
    if failing:
        body["status"] = "unavailable: " + ", ".join(failing)
        log.warning("health check failed", extra={"failing": failing, **body})
        return JsonResponse(body, status=503)
    body["status"] = "ok"
    return JsonResponse(body)


def _metrics_allowed(request: HttpRequest) -> bool:
    from mos_site.metrics import request_allowed

    return request_allowed(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        authorization=request.headers.get("Authorization", ""),
        token=settings.METRICS_TOKEN,
        allowed_networks=settings.METRICS_ALLOWED_IPS,
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; open to METRICS_ALLOWED_IPS or a bearer METRICS_TOKEN.

    Samples of every gunicorn and Celery process sharing PROMETHEUS_MULTIPROC_DIR, plus clips
    by state, active listeners and queue depths computed now (see ``mos_site.metrics``). An
    unreachable database or broker turns ``harken_database_up`` / ``harken_broker_up`` to 0;
    the response is still 200 so Prometheus keeps the rest."""
    if not _metrics_allowed(request):
        return HttpResponse(
            "Forbidden: metrics need METRICS_TOKEN or an allowed address.\n",
            status=403,
            content_type="text/plain",
        )
    from mos_site.metrics import exposition

    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
