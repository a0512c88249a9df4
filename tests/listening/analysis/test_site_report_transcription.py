"""The site's report of a transcription study: the typed answers in the database are scored
against the study's sentences by the statistics of ``mos_report --test transcription``; the
ratings download read by that command (with ``--sentences``) gives the same numbers; the page
shows the error rates and the per-word error table; the scored answers can be downloaded."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from listening.analysis import reports
from listening.models import Listener, Rating, Study, StudyReport
from tests.mushra_factories import (
    SENTENCE_TEXTS,
    transcription_answer,
    transcription_study,
)

pytestmark = pytest.mark.django_db

#: What listeners type: system-0 heard right (in other spellings and cases), system-1 with one
#: word wrong in every sentence.
TYPED = {
    "system-0": {
        "s0": "the Cat sat on the mat",
        "s1": "bring me three apples",
        "s2": "color the gray box",
    },
    "system-1": {
        "s0": "the cat sat on the hat",
        "s1": "bring me three maples",
        "s2": "color the gray fox",
    },
}


@pytest.fixture
def answered():
    study = transcription_study(ratings_per_clip=4, texts=SENTENCE_TEXTS)
    transcription_answer(study, lambda system, sentence: TYPED[system][sentence])
    return study


def test_the_report_scores_every_answer_against_its_sentence(answered):
    report = reports.study_report_compute(study=answered)
    assert report["test"] == "transcription"
    systems = {s["system"]: s for s in report["systems"]}
    # Normalisation: case, "3" spoken as "three", British spellings made American.
    assert systems["system-0"]["wer"] == 0.0
    # One word in 6 + 4 + 4 (each sentence as often): 3 errors in 14 words.
    assert systems["system-1"]["wer"] == pytest.approx(3 / 14)
    assert systems["system-1"]["n"] == systems["system-0"]["n"] == 12
    lo, hi = systems["system-1"]["ci95_clustered"]
    assert lo <= 3 / 14 <= hi
    assert set(systems["system-1"]) >= {"system", "n", "wer", "cer", "ci95_clustered"}
    words = {w["word"]: w for w in report["word_errors"]}
    assert words["mat"]["substituted"] == 4 and words["mat"]["typed_instead"] == [["hat", 4]]
    assert report["accompanying_information"]["items"]


def test_the_ratings_download_and_the_sentences_give_mos_report_the_site_numbers(
    answered, client, tmp_path
):
    Listener.objects.filter(external_id="T1").update(excluded=True, exclusion_reason="bot")
    client.force_login(answered.owner)
    response = client.get(reverse("study_report_ratings_csv", args=[answered.slug]))
    text = b"".join(response.streaming_content).decode()
    assert next(csv.reader(io.StringIO(text)))[:4] == ["listener", "sentence", "system", "text"]
    ratings, sentences = tmp_path / "answers.csv", tmp_path / "sentences.csv"
    ratings.write_text(text, encoding="utf-8")
    with sentences.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("key", "text"), *SENTENCE_TEXTS.items()])
    out = io.StringIO()
    call_command(
        "mos_report",
        "--ratings-csv",
        str(ratings),
        "--test",
        "transcription",
        "--sentences",
        str(sentences),
        stdout=out,
    )
    offline = json.loads(out.getvalue())
    site = reports.study_report_compute(study=answered)
    assert offline["systems"] == site["systems"]
    assert offline["word_errors"] == site["word_errors"]
    assert [e["listener"] for e in site["excluded_listeners"]] == ["prolific:T1"]
    assert offline["excluded_listeners"] == site["excluded_listeners"]


def test_the_page_shows_the_error_rates_and_the_errors_per_word(answered, client):
    client.force_login(answered.owner)
    response = client.get(reverse("study_report", args=[answered.slug]))
    row = StudyReport.objects.get(study=answered)
    assert row.status == StudyReport.Status.READY, row.error
    page = response.content.decode()
    assert "Transcription report" in page
    assert "21.4 %" in page  # system-1's WER, 3 / 14
    assert "Errors per word" in page and "hat (4)" in page
    # Each section's hint and the per-system tables folded under the words' section.
    assert "Intervals: 95 % two-way clustered" in page
    assert "The words missed most come first." in page
    assert "<summary>Errors per word: system-1</summary>" in page
    assert reverse("study_report_answers_csv", args=[answered.slug]) in page


def test_the_typed_answers_download_normalised_and_scored(answered, client):
    client.force_login(answered.owner)
    response = client.get(reverse("study_report_answers_csv", args=[answered.slug]))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 24
    heard = next(r for r in rows if r["system"] == "system-1" and r["sentence"] == "s1")
    assert heard["normalised_reference"] == "bring me three apples"
    assert heard["text"] == "bring me three maples" and heard["errors"] == "1"


def test_word_errors_download_lists_the_missed_words(answered, client):
    client.force_login(answered.owner)
    response = client.get(reverse("study_report_word_errors_csv", args=[answered.slug]))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    (mat,) = [r for r in rows if r["system"] == "(all)" and r["word"] == "mat"]
    assert mat["substituted"] == "4" and mat["typed"] == "hat (4)"


def test_the_follow_up_shares_are_per_system_and_in_the_download(answered, client):
    """Everyone says system-1 sounded wrong, nobody system-0: 12 answers each (see above)."""
    Study.objects.filter(pk=answered.pk).update(
        followup_questions=[{"key": "odd", "text": "Did a word sound wrong?"}]
    )
    answered.refresh_from_db()
    for rating in Rating.objects.select_related("clip__system"):
        rating.followups = {"odd": "yes" if rating.clip.system.name == "system-1" else "no"}
        rating.save(update_fields=["followups"])
    report = reports.study_report_compute(study=answered)
    shares = {
        s["system"]: (s["n"], s["yes"], s["proportion"])
        for s in report["followups"]["odd"]["systems"]
    }
    assert shares == {"system-0": (12, 0, 0.0), "system-1": (12, 12, 1.0)}
    client.force_login(answered.owner)
    response = client.get(reverse("study_report_ratings_csv", args=[answered.slug]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0])[-1] == "followup_odd" and len(rows) == Rating.objects.count()


def test_mos_report_on_the_download_counts_the_follow_ups_the_site_counts(
    answered, client, tmp_path
):
    """T1, excluded by hand, says yes to everything; nobody else does: T1's yeses count on
    neither the site nor the command run on the site's download (its listener_excluded
    column)."""
    Study.objects.filter(pk=answered.pk).update(
        followup_questions=[{"key": "odd", "text": "Did a word sound wrong?"}]
    )
    answered.refresh_from_db()
    for rating in Rating.objects.select_related("listener"):
        rating.followups = {"odd": "yes" if rating.listener.external_id == "T1" else "no"}
        rating.save(update_fields=["followups"])
    Listener.objects.filter(external_id="T1").update(excluded=True, exclusion_reason="bot")
    client.force_login(answered.owner)
    response = client.get(reverse("study_report_ratings_csv", args=[answered.slug]))
    ratings, sentences = tmp_path / "answers.csv", tmp_path / "sentences.csv"
    ratings.write_text(b"".join(response.streaming_content).decode(), encoding="utf-8")
    with sentences.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("key", "text"), *SENTENCE_TEXTS.items()])
    out = io.StringIO()
    call_command(
        "mos_report",
        *("--ratings-csv", str(ratings), "--test", "transcription"),
        *("--sentences", str(sentences)),
        stdout=out,
    )
    offline = json.loads(out.getvalue())
    site = reports.study_report_compute(study=answered)
    assert {s["yes"] for s in offline["followups"]["odd"]["systems"]} == {0}
    site_odd = {k: v for k, v in site["followups"]["odd"].items() if k != "question"}
    assert offline["followups"]["odd"] == site_odd
