"""The report service of a comparison study: its responses go as the type's table, with the
reference and the systems' order, to the one place the type's statistics are called
(``reports.statistics_of_type``); until those are wired the page says why, and never crashes."""

import pandas as pd
import pytest
from django.urls import reverse

from listening.analysis import reports
from listening.analysis.selectors import study_comparison_frame
from listening.models import StudyReport
from tests.factories import (
    TypedRatingFactory,
    comparison_study,
    listener_with_playlist,
    trial_with,
)


def _ccr_study():
    study, clips = comparison_study("ccr")
    listener, playlist = listener_with_playlist(study, "p1")
    trial = trial_with(playlist, [("a", clips["natural", "s0"]), ("b", clips["alpha", "s0"])])
    TypedRatingFactory(item=trial, listener=listener, score=2)
    return study


@pytest.mark.django_db
def test_the_type_statistics_get_the_table_the_reference_and_the_order(monkeypatch):
    study = _ccr_study()
    seen = {}

    def statistics(frame, test_type, **arguments):
        seen.update(frame=frame, test_type=test_type, **arguments)
        return {"test": test_type, "systems": [], "warnings": []}

    # The statistics live on another branch until the merge: this stands in for them.
    monkeypatch.setattr(reports, "statistics_of_type", statistics)
    report = reports.study_report_compute(study=study)

    assert seen["test_type"] == "ccr"
    pd.testing.assert_frame_equal(seen["frame"], study_comparison_frame(study))
    assert seen["reference"] == "natural"
    assert seen["system_order"] == ["natural", "alpha", "beta"]
    assert seen["manual_exclusions"] == {}
    assert seen["rules"] == study.screening
    assert report["test"] == "ccr"
    assert report["study"]["n_rows_read"] == 1
    assert "accompanying_information" in report


@pytest.mark.django_db
def test_report_page_of_a_comparison_study_says_why_there_is_no_report_yet(client):
    study = _ccr_study()
    client.force_login(study.owner)
    response = client.get(reverse("study_report", args=[study.slug]))
    assert response.status_code == 200
    report = StudyReport.objects.get(study=study)
    assert report.status == StudyReport.Status.FAILED
    assert "CCR" in report.error
    assert "CCR" in response.content.decode()


@pytest.mark.django_db
def test_a_comparison_study_without_responses_has_nothing_to_report():
    study, _ = comparison_study("ab")
    with pytest.raises(ValueError, match="no test responses yet"):
        reports.study_report_compute(study=study)
