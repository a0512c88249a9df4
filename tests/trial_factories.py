"""Comparison studies (CCR, AB, ABX, SMOS) for the tests: ``open_study``'s material with a
test type, the first system as the study's reference and optional MNRU anchors; and what the
report tests of every type read back from the site: the ratings download and the report page."""

from __future__ import annotations

import io

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from listening.analysis.downloads import study_ratings_csv_rows
from listening.models import Listener, Rating, Study, StudyReport, System
from listening.studies.lifecycle import study_open
from mos_site.spreadsheet import csv_writer
from tests.factories import open_study, trial_with


def open_trial_study(test_type: str, *, slug: str | None = None, opened: bool = True, **fields):
    """A ready study of ``test_type`` whose first system is its reference, opened unless
    ``opened=False``. ``fields`` go to :func:`tests.factories.open_study`."""
    defaults = dict(
        n_systems=3,
        n_sentences=4,
        gold=False,
        anchors=(5.0,),
        ratings_per_clip=1,
        clips_per_listener=3,
        training_clips=1,
        attention_check_rate=0.3,
        seconds=0.4,
    )
    defaults.update(fields)
    study = open_study(
        slug=slug or f"trial-{test_type}", test_type=test_type, open_study=False, **defaults
    )
    study.reference_system = System.objects.get(study=study, name="system-0")
    study.save(update_fields=["reference_system"])
    if opened:
        study_open(study=study)
        study.refresh_from_db()
    return study


def ab_trial(playlist, clips: dict, first: tuple[str, str], second: tuple[str, str], **fields):
    """A two-clip trial of ``playlist``: ``clips[first]`` played as A, then ``clips[second]`` as
    B, keys (system name, sentence key) as :func:`tests.factories.comparison_study` returns them;
    ``fields`` go to the trial (purpose, expected answer)."""
    return trial_with(playlist, [("a", clips[first]), ("b", clips[second])], **fields)


def correct_answer(item, study: Study) -> str:
    """What an attentive listener answers to a trial: the expected one of a check, else a
    plausible answer of the type."""
    if item.expected_choice:
        return item.expected_choice
    if item.expected_score is not None:
        return str(item.expected_score)
    return {"ccr": "1", "smos": "4", "ab": "a", "abx": "a"}[study.test_type]


def answers_of(listener: Listener) -> list[Rating]:
    return list(Rating.objects.filter(listener=listener).order_by("item__position"))


def now():
    return timezone.now()


def ratings_download(study: Study) -> str:
    """The study's ratings download as the site writes it: its rows through the one CSV writer
    of every download."""
    out = io.StringIO()
    csv_writer(out).writerows(study_ratings_csv_rows(study=study))
    return out.getvalue()


def report_page(client: Client, study: Study) -> tuple[str, StudyReport]:
    """The report page as the study's owner sees it, and its report row, which must be ready
    (served with status 200)."""
    client.force_login(study.owner)
    response = client.get(reverse("study_report", args=[study.slug]))
    assert response.status_code == 200
    report = StudyReport.objects.get(study=study)
    assert report.status == StudyReport.Status.READY, report.error
    return response.content.decode(), report
