"""Celery adapter for report builds: a report id in, a ready (or failed) ``StudyReport`` out.

``build_study_report`` runs on the CPU queue ``metrics`` (``CELERY_TASK_ROUTES`` in settings)
and wraps ``listening.services.reports.report_build``, which writes the progress into the row
that the report page polls and logs one structured line per build (study, ratings, seconds).

Safe to run twice: a ready report is left as it is and the statistics are deterministic, so the
task is ``acks_late`` and a worker killed mid-build leaves the message for another worker.
Temporary errors (the database going away) retry with a fixed back-off; an error in the data
marks the report failed with a message for the researcher and is not retried.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from listening.models import StudyReport
from listening.services.reports import report_build

log = logging.getLogger(__name__)

# Seconds to wait before retry 1, 2, 3: a database restart is over in well under a minute.
RETRY_BACKOFF = [5, 30, 120]


@shared_task(
    bind=True,
    name="listening.tasks_reports.build_study_report",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=len(RETRY_BACKOFF),
    # 1M ratings take about 10 s (benchmarks/report.py); reading them from the database more.
    soft_time_limit=900,
    time_limit=960,
)
def build_study_report(self, report_id: int) -> str:
    """Build report ``report_id``; returns its status ("ready", "failed" or "missing")."""
    try:
        report = report_build(report_id=report_id)
    except StudyReport.DoesNotExist:
        # Deleted since it was queued (a newer report replaced it, or the study is gone).
        log.info("report gone before its build", extra={"report": report_id})
        return "missing"
    except (OperationalError, InterfaceError) as exc:
        delay = RETRY_BACKOFF[min(self.request.retries, len(RETRY_BACKOFF) - 1)]
        raise self.retry(exc=exc, countdown=delay) from exc
    return report.status
