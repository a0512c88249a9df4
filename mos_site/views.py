"""/healthz for load balancers: 200 when the database, the broker and the media storage answer,
503 naming the one that does not.

The answer names *which* dependency failed, never *how*: exception texts carry host names,
ports, user names and paths, and /healthz is open to anyone. The cause goes to the log
(``health check failed``, one field per dependency) for whoever runs the site."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mos_site.celery import app

log = logging.getLogger(__name__)


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def check_database() -> str | None:
    """None when the database answers ``SELECT 1``; otherwise the error text (for the log)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable" to a health check
        return _cause(exc)
    return None


def check_broker() -> str | None:
    """None when Celery's broker accepts a connection; otherwise the error text (for the log)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
            if conn.transport_cls == "filesystem":
                folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]
                if not os.access(folder, os.W_OK):
                    return f"filesystem broker folder {folder} is not writable"
    except Exception as exc:
        return _cause(exc)
    return None


def check_storage() -> str | None:
    """None when the media storage can be used: a local folder that exists and is writable, or
    a remote store (S3) that answers a lookup; otherwise the error text (for the log)."""
    try:
        if isinstance(default_storage, FileSystemStorage):
            folder = default_storage.location
            # The storage makes its folder on the first save; a fresh site has none yet.
            os.makedirs(folder, exist_ok=True)
            if not os.access(folder, os.W_OK):
                return f"media folder {folder} is not writable"
        else:
            default_storage.exists("healthz")
    except Exception as exc:  # any storage error means "not usable" to a health check
        return _cause(exc)
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    problems = {
        "database": check_database(),
        "broker": check_broker(),
        "storage": check_storage(),
    }
    body = {name: ("ok" if err is None else "unavailable") for name, err in problems.items()}
    failing = [name for name, err in problems.items() if err is not None]
    if failing:
        body["status"] = "unavailable: " + ", ".join(failing)
        log.warning(
            "health check failed",
            extra={"failing": failing, **{n: e for n, e in problems.items() if e is not None}},
        )
        return JsonResponse(body, status=503)
    body["status"] = "ok"
    return JsonResponse(body)
