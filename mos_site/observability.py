"""Logs and metrics plumbing shared by the web process and the workers.

Logs: ``JsonFormatter`` writes one JSON object per line for production log shippers;
``TextFormatter`` writes readable lines for development. Extra fields passed with
``logger.info("...", extra={...})`` appear in both.

Metrics: Prometheus collectors live in ``mos_site.metrics``; the middleware here times requests,
and a Celery worker starts its own metrics endpoint on ``worker_ready`` (connected below: every
Django process imports this module when ``LOGGING`` is configured, so the worker always has it).

Structured log lines for operators: one per synthesis batch ("synthesis batch", written by
``synthesis/clips.py``), one per objective-metrics batch ("objective metrics batch",
``listening/tasks_metrics.py``) and one per report build (:func:`log_report_build`).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery.signals import setup_logging, worker_ready

report_log = logging.getLogger("harken.reports")

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


def log_report_build(
    study: Any,
    seconds: float,
    n_ratings: int,
    *,
    n_listeners: int | None = None,
    n_systems: int | None = None,
    n_clips: int | None = None,
    report_id: int | None = None,
    result: str = "ready",
    **fields: Any,
) -> None:
    """Log one report build as a structured line and time it in ``harken_report_build_seconds``.

    ``study`` is a Study (its id and slug are logged) or a slug. Fields of the line: study,
    study_id, report (StudyReport id), ratings, listeners, systems, clips, seconds, result
    ("ready", "failed" or "error", also the histogram's label; logged as a warning unless
    ready), device (always "cpu": reports are built by the CPU workers), and
    any extra keyword given. The report-build task calls this once per build, failed or not.
    """
    from mos_site import metrics

    extra = {
        "study": getattr(study, "slug", study),
        "study_id": getattr(study, "pk", None),
        "report": report_id,
        "ratings": n_ratings,
        "listeners": n_listeners,
        "systems": n_systems,
        "clips": n_clips,
        "seconds": round(float(seconds), 3),
        "result": result,
        "device": "cpu",
        **fields,
    }
    level = logging.INFO if result == "ready" else logging.WARNING
    # The main fields are in the message too, for log readers that show no extra fields.
    report_log.log(
        level,
        "report build: study %s, %d ratings, %.3f s, %s",
        extra["study"],
        n_ratings,
        float(seconds),
        result,
        extra=extra,
    )
    metrics.REPORT_BUILD_SECONDS.labels(result=result).observe(float(seconds))


@setup_logging.connect(dispatch_uid="harken.keep_django_logging")
def _keep_django_logging(**_kwargs: Any) -> None:
    """Celery workers log through Django's ``LOGGING`` (these formatters), not Celery's own.

    Without a receiver for this signal Celery replaces the root logger's handlers with its own
    format, which drops every ``extra=`` field: the structured lines ("synthesis batch",
    "objective metrics batch", "report build") would lose their ids, sizes and seconds in the
    workers, where they are written. Connecting it tells Celery that logging is configured
    (Celery's documented switch), so LOG_FORMAT=json gives JSON lines in the workers too."""


@worker_ready.connect(dispatch_uid="harken.worker_metrics_server")
def _serve_worker_metrics(**_kwargs: Any) -> None:
    """Each Celery worker serves its processes' metrics on METRICS_PORT (see mos_site.metrics)."""
    from mos_site.metrics import worker_metrics_server_start

    worker_metrics_server_start()
