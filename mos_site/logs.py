"""Log formatters shared by the web process and the workers (``LOGGING`` in settings).

``JsonFormatter`` writes one JSON object per line for production log shippers;
``TextFormatter`` writes readable lines for development. Extra fields passed with
``logger.info("...", extra={...})`` appear in both. Every Django process imports this module
when ``LOGGING`` is configured, which is also where the Celery workers learn to keep it (the
``setup_logging`` receiver below).

Structured log lines for operators: one per synthesis batch ("synthesis batch",
``synthesis/clips.py``), one per objective-metrics batch ("objective metrics batch",
``listening/objective/cache.py``) and one per report build ("report build",
``listening/analysis/reports.py``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from celery.signals import setup_logging

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


@setup_logging.connect(dispatch_uid="harken.keep_django_logging")
def _keep_django_logging(**_kwargs: Any) -> None:
    """Celery workers log through Django's ``LOGGING`` (these formatters), not Celery's own.

    Without a receiver for this signal Celery replaces the root logger's handlers with its own
    format, which drops every ``extra=`` field: the structured lines ("synthesis batch",
    "objective metrics batch", "report build") would lose their ids, sizes and seconds in the
    workers, where they are written. Connecting it tells Celery that logging is configured
    (Celery's documented switch), so LOG_FORMAT=json gives JSON lines in the workers too."""
