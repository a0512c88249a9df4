"""Friendly error pages: 503 with ``Retry-After`` while the database is away, 500 otherwise.

A listener who met a database restart used to get Django's bare "Server Error (500)": no
language, no advice, and a status that tells a proxy or a crawler the page is broken rather
than briefly away. Now:

- ``DatabaseOutageMiddleware`` turns an ``OperationalError`` or ``InterfaceError`` raised by a
  view (connecting, or the connection lost mid-request) into ``503 Service Unavailable`` with
  ``Retry-After`` (RFC 9110 §10.2.3) and ``templates/503.html``: wait a moment and reload
  (the API's clients get the same status and header with a JSON ``detail``).
- ``server_error`` (``handler500``) renders ``templates/500.html``; when the exception being
  handled is one of those database errors raised outside a view (a middleware reading the
  session, a template's lazy query), it answers the same 503.

Both pages render without a request context, so they make no query themselves, and in the
language ``LocaleMiddleware`` chose from the listener's browser (it reads no database).
HTTP only, no app: this module belongs to the project (``mos_site``).
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import get_language

log = logging.getLogger(__name__)

# Seconds a client is asked to wait before trying again: a database restart or failover.
RETRY_AFTER_S = 30
DATABASE_ERRORS = (OperationalError, InterfaceError)


def _page(template: str, status: int) -> HttpResponse:
    context = {"LANGUAGE_CODE": get_language() or "en", "retry_after": RETRY_AFTER_S}
    response = HttpResponse(loader.get_template(template).render(context), status=status)
    response["Cache-Control"] = "no-store"
    return response


def database_unavailable(request: HttpRequest | None = None) -> HttpResponse:
    """503 with Retry-After: the page for people, JSON for the API's clients."""
    if request is not None and request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {
                "detail": "The database is unavailable for a moment; retry after "
                f"{RETRY_AFTER_S} seconds (Retry-After)."
            },
            status=503,
        )
        response["Cache-Control"] = "no-store"
    else:
        response = _page("503.html", 503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class DatabaseOutageMiddleware:
    """A view that cannot reach the database answers 503 with Retry-After, not 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        # Logged without the error's text, which names the database host and port.
        log.warning(
            "database unavailable: answered 503",
            extra={"path": request.path, "error": type(exception).__name__},
        )
        return database_unavailable(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: the friendly 500 page, or the 503 one when the database is the cause."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable(request)
    return _page("500.html", 500)
