"""/healthz for load balancers: 200 when the database and the broker answer, 503 naming the one
that does not."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mos_site.celery import app

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
