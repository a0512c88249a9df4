"""Logs and metrics plumbing shared by the web process and the workers.

Logs: ``JsonFormatter`` writes one JSON object per line for production log shippers;
``TextFormatter`` writes readable lines for development. Extra fields passed with
``logger.info("...", extra={...})`` appear in both.

Metrics: Prometheus collectors live in ``mos_site.metrics``; the middleware here times requests.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()) | {
    "message",
    "asctime",
    "taskName",
}


def _extras(record: logging.LogRecord) -> dict:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RequestMetricsMiddleware:
    """Observes request latency per view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from mos_site import metrics

        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The view name, not the raw path: tokens in paths would explode the label space.
        route = match.view_name if match else "unmatched"
        metrics.REQUEST_LATENCY.labels(
            method=request.method, route=route, status=str(response.status_code)
        ).observe(time.perf_counter() - start)
        return response
