"""/metrics for Prometheus: the exposition of ``observability.exposition``, guarded by
``request_allowed`` (the same guard as the workers' own endpoints)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from observability.exposition import exposition, request_allowed


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; open to METRICS_ALLOWED_IPS or a bearer METRICS_TOKEN.

    Samples of every gunicorn and Celery process sharing PROMETHEUS_MULTIPROC_DIR, plus clips
    by state, active listeners and queue depths computed now. An unreachable database or
    broker turns ``harken_database_up`` / ``harken_broker_up`` to 0; the response is still 200
    so Prometheus keeps the rest."""
    allowed = request_allowed(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        authorization=request.headers.get("Authorization", ""),
        token=settings.METRICS_TOKEN,
        allowed_networks=settings.METRICS_ALLOWED_IPS,
    )
    if not allowed:
        return HttpResponse(
            "Forbidden: metrics need METRICS_TOKEN or an allowed address.\n",
            status=403,
            content_type="text/plain",
        )
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
