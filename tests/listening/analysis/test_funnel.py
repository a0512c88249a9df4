"""The report's funnel: arrived, consented, failed the headphone
check, dropped out by step, completed; per study and per platform; on the page and in JSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from listening.analysis.funnel import study_funnel
from listening.models import Listener
from listening.participation import checks
from tests.factories import (
    fail_headphone_check,
    join,
    open_study,
    pass_checks,
    rate_everything,
    rated_study,
    response_body,
)

pytestmark = pytest.mark.django_db


def test_funnel_counts_each_step_per_platform():
    study = open_study(slug="funnel")
    for query in ("?PROLIFIC_PID=A&SESSION_ID=1", "?PROLIFIC_PID=B&SESSION_ID=2", "", ""):
        Client().get(f"/t/{study.slug}/{query}")
    done = pass_checks(join(study, "A"))
    rate_everything(done)
    assert fail_headphone_check(join(study, "B"))[1] is False
    gone = checks.listener_consent(listener=join(study))  # stopped at the questionnaire
    Listener.objects.filter(pk=gone.pk).update(last_seen_at=timezone.now() - timedelta(hours=3))
    checks.listener_consent(listener=join(study))  # still answering the questionnaire

    funnel = study_funnel(study=study)
    total = funnel["total"]
    assert (total["arrived"], total["consented"], total["completed"]) == (4, 4, 1)
    assert (total["failed_headphone_check"], total["dropped_out"], total["in_progress"]) == (
        1,
        1,
        1,
    )
    by_step = {s["step"]: s["n"] for s in total["dropped_out_by_step"]}
    assert by_step["questionnaire"] == 1 and sum(by_step.values()) == 1
    platforms = {row["platform"]: row for row in funnel["platforms"]}
    assert platforms["prolific"]["arrived"] == 2 and platforms["prolific"]["completed"] == 1
    assert platforms["prolific"]["failed_headphone_check"] == 1
    assert platforms["none"]["consented"] == 2 and platforms["none"]["dropped_out"] == 1


def test_funnel_is_on_the_report_page_and_in_the_json(client_ada, ada):
    study = rated_study(ada)
    page = client_ada.get(reverse("study_report", args=[study.slug])).content.decode()
    assert 'id="funnel"' in page and "Failed the headphone check" in page
    response = client_ada.get(reverse("study_report_json", args=[study.slug]))
    data = json.loads(response_body(response))
    assert data["funnel"]["total"]["completed"] == study.listeners.filter(stage="completed").count()
    assert {row["platform"] for row in data["funnel"]["platforms"]} >= {"prolific"}
