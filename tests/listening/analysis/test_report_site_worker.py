"""A report too large to build in the request goes through a REAL Celery worker: the page
queues it and shows a progress bar, the worker builds it (progress reaching 1.0, one structured
log line), and the page then shows the numbers a hand computation gives.

Runs on SQLite and the filesystem broker by default, and on PostgreSQL and Redis with
``DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://...``.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from listening.analysis.reports import build_study_report
from listening.models import Rating, StudyReport
from tests.conftest import wait_for
from tests.factories import BASE, expected_mos, rated_study

pytestmark = [pytest.mark.worker]


def test_report_is_built_by_a_real_worker_with_progress(client_ada, ada, celery_worker):
    client = client_ada
    study = rated_study(ada, slug="worker-study")
    page = reverse("study_report", args=[study.slug])

    # Every build is "large" here, so the request queues it instead of building it.
    with override_settings(REPORT_INLINE_MAX_RATINGS=0):
        response = client.get(page)
    assert response.status_code == 200
    assert "<progress" in response.content.decode()
    report = StudyReport.objects.get(study=study)
    assert report.status in {StudyReport.Status.PENDING, StudyReport.Status.RUNNING}

    status_url = reverse("study_report_status", args=[study.slug]) + f"?id={report.pk}"

    def ready() -> bool:
        status = client.get(status_url).json()
        assert status["status"] != "failed", status["error"] + celery_worker.log_text()[-3000:]
        return status["ready"]

    wait_for(ready, timeout=90, message="the worker to build the report")
    report.refresh_from_db()
    assert report.progress == 1.0 and report.message == "Done"
    after = {s["system"]: s["mos"] for s in report.data["systems_after_exclusion"]}
    for name in BASE:
        assert after[name] == pytest.approx(expected_mos(name, straight_liner=False))

    # The page now shows the report itself, from the cache: no second build.
    html = client.get(page).content.decode()
    assert "<svg" in html and f"{expected_mos('natural', straight_liner=False):.3f}" in html
    assert list(StudyReport.objects.filter(study=study)) == [report]
    n_ratings = Rating.objects.filter(listener__study=study).count()
    log = celery_worker.log_text()
    assert "listening.tasks_reports.build_study_report" in log
    assert f"report build: study {study.slug}, {n_ratings} ratings, " in log

    # Delivered again (acks_late after a lost worker, say): nothing changes.
    finished = report.finished_at
    assert build_study_report.apply(args=[report.pk]).get() == "ready"
    report.refresh_from_db()
    assert report.finished_at == finished
