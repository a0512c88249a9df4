"""``mos_report STUDY_SLUG`` for a MUSHRA and a transcription study: the command prints the
report the site's page shows (the same numbers, in the study type's own JSON, CSV and HTML), and
the site's ratings download run through ``mos_report --ratings-csv`` agrees with it."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from listening.analysis import reports
from listening.analysis.render import report_json
from listening.models import Listener, Rating
from tests.factories import response_body
from tests.mushra_factories import (
    SENTENCE_TEXTS,
    careless_mushra_study,
    transcription_answer,
    transcription_study,
)

pytestmark = pytest.mark.django_db


def mos_report(*args: str) -> str:
    out = io.StringIO()
    call_command("mos_report", *args, stdout=out)
    return out.getvalue()


def site_download(client, study, name: str = "study_report_ratings_csv") -> str:
    client.force_login(study.owner)
    response = client.get(reverse(name, args=[study.slug]))
    assert response.status_code == 200
    return response_body(response).decode()


@pytest.fixture
def mushra():
    """Six listeners over three conditions and both anchors; P0 misses the hidden reference,
    P3 was excluded by hand."""
    study = careless_mushra_study()
    Listener.objects.filter(external_id="P3").update(excluded=True, exclusion_reason="noisy room")
    return study


@pytest.fixture
def transcription():
    """Four listeners; system-1 is heard with one word wrong per sentence, T1 excluded by hand."""
    study = transcription_study(ratings_per_clip=4, texts=SENTENCE_TEXTS)
    wrong = {
        "s0": "the cat sat on the hat",
        "s1": "bring me three maples",
        "s2": "color the gray fox",
    }
    transcription_answer(
        study,
        lambda system, key: SENTENCE_TEXTS[key] if system == "system-0" else wrong[key],
    )
    Listener.objects.filter(external_id="T1").update(excluded=True, exclusion_reason="bot")
    return study


def test_a_mushra_study_s_report_is_the_site_s_report(mushra):
    printed = json.loads(mos_report(mushra.slug))
    site = json.loads(report_json(reports.study_report_compute(study=mushra)))
    assert printed == site
    assert printed["test"] == "mushra"
    excluded = {e["listener"]: e["rules"] for e in printed["excluded_listeners"]}
    assert excluded == {"prolific:P3": ["manual"], "prolific:P0": ["hidden_reference_missed"]}
    roles = {s["system"]: s["role"] for s in printed["systems"]}
    assert roles["system-0"] == "hidden_reference" and roles["anchor35"] == "anchor35"


def test_a_mushra_study_s_report_agrees_with_its_ratings_download(mushra, client, tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(site_download(client, mushra), encoding="utf-8")
    offline = json.loads(mos_report("--ratings-csv", str(path), "--test", "mushra"))
    printed = json.loads(mos_report(mushra.slug))
    for key in ("systems", "pairs", "excluded_listeners", "n_listeners"):
        assert printed[key] == offline[key], key


def test_a_mushra_study_s_csv_and_html_are_the_site_s_downloads(mushra, client):
    assert mos_report(mushra.slug, "--format", "csv") == site_download(
        client, mushra, "study_report_summary_csv"
    )
    page = mos_report(mushra.slug, "--format", "html", "--title", "Vocoders")
    assert "MUSHRA report" in page and "<svg" in page and "Vocoders" in page


def test_a_transcription_study_s_report_is_the_site_s_report(transcription):
    printed = json.loads(mos_report(transcription.slug))
    site = json.loads(report_json(reports.study_report_compute(study=transcription)))
    assert printed == site
    systems = {s["system"]: s for s in printed["systems"]}
    assert systems["system-0"]["wer"] == 0.0
    assert 0.1 < systems["system-1"]["wer"] < 0.3
    kept = Rating.objects.filter(listener__study=transcription, listener__excluded=False)
    assert sum(s["n"] for s in printed["systems"]) == kept.count() > 0
    assert [e["listener"] for e in printed["excluded_listeners"]] == ["prolific:T1"]


def test_a_transcription_study_s_report_agrees_with_its_ratings_download(
    transcription, client, tmp_path
):
    answers, sentences = tmp_path / "answers.csv", tmp_path / "sentences.csv"
    answers.write_text(site_download(client, transcription), encoding="utf-8")
    with sentences.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("key", "text"), *SENTENCE_TEXTS.items()])
    offline = json.loads(
        mos_report(
            "--ratings-csv", str(answers), "--test", "transcription", "--sentences", str(sentences)
        )
    )
    printed = json.loads(mos_report(transcription.slug))
    for key in ("systems", "word_errors", "excluded_listeners"):
        assert printed[key] == offline[key], key


def test_a_transcription_study_s_csv_and_html_are_the_site_s_downloads(transcription, client):
    assert mos_report(transcription.slug, "--format", "csv") == site_download(
        client, transcription, "study_report_summary_csv"
    )
    page = mos_report(transcription.slug, "--format", "html")
    assert f"{transcription.title}: transcription report</h1>" in page


def test_the_report_goes_to_out_when_given(transcription, tmp_path):
    out = tmp_path / "report.json"
    assert mos_report(transcription.slug, "--out", str(out)) == ""
    assert json.loads(out.read_text(encoding="utf-8"))["test"] == "transcription"


def test_a_study_s_slug_with_a_test_type_is_told_to_drop_it(mushra):
    with pytest.raises(CommandError, match="for a study give its slug alone"):
        mos_report(mushra.slug, "--test", "mushra")
