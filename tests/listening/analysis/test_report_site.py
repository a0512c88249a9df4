"""The report page and its downloads through Django's test client, on a study whose ratings
the test writes straight into the database with numbers it knows (``tests.factories.rated_study``).

The study: three systems (a natural reference and two uploaded ones) x four sentences, twelve
ready clips with real WAV files. Four honest listeners rate every clip by :func:`honest_score`;
one straight-liner gives 3 to everything (the screening excludes them: identical_scores); one
listener gives 5 to everything and is excluded by hand with a reason. Expected numbers are
computed here from those rules, by hand, not with ``listening.analysis.stats``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import statistics
import zipfile

import pytest
import soundfile
from django.test import override_settings
from django.urls import reverse

from listening.analysis import downloads
from listening.analysis import reports as report_service
from listening.analysis.stats import build_report, read_ratings_csv
from listening.models import Clip, Listener, Rating, Study, StudyReport, new_token
from listening.objective.cache import clips_objective_compute
from mos_site.spreadsheet import spreadsheet_cell
from tests.factories import (
    BASE,
    MANUAL,
    MANUAL_REASON,
    N_RATINGS,
    RATED_SYSTEMS,
    STRAIGHT,
    ResearcherFactory,
    StudyFactory,
    expected_mos,
    honest_score,
    rated_study,
    response_body,
)


@pytest.fixture
def study(ada):
    return rated_study(ada)


def url(name: str, study: Study) -> str:
    return reverse(name, args=[study.slug])


def download_text(response) -> str:
    return response_body(response).decode("utf-8")


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


# --- The page ----------------------------------------------------------------------------------


def test_report_page_shows_charts_tables_and_who_was_excluded(client_ada, study):
    response = client_ada.get(url("study_report", study))
    assert response.status_code == 200
    html = response.content.decode()
    # Both charts are inline SVG with both intervals named in the legend.
    assert html.count("<svg") >= 3
    assert "95 % t-interval over ratings" in html and "95 % clustered interval" in html
    assert 'id="hist-after-title"' in html and 'id="hist-after-compact-title"' in html
    # MOS after exclusions (honest listeners only) and with every screened listener.
    for name in BASE:
        assert f"{expected_mos(name, straight_liner=False):.3f}" in html
        assert f"{expected_mos(name, straight_liner=True):.3f}" in html
    assert "Significance matrix" in html
    # Excluded listeners, and why: the straight-liner by a rule, the other by hand.
    assert f"prolific:{STRAIGHT}" in html and "identical_scores: all 12 ratings are 3" in html
    assert f"prolific:{MANUAL}" in html and MANUAL_REASON in html
    # Every download is linked.
    for name in ("ratings_csv", "summary_csv", "json", "html", "audio_zip"):
        assert url(f"study_report_{name}", study) in html


def test_summary_csv_mos_matches_a_hand_computation(client_ada, study):
    response = client_ada.get(url("study_report_summary_csv", study))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="mos-study-mos-summary.csv"' in response["Content-Disposition"]
    rows = {row["system"]: row for row in csv_rows(download_text(response))}
    assert list(rows) == [name for name, _ in RATED_SYSTEMS]  # the study's order
    for name in BASE:
        row = rows[name]
        assert float(row["mos"]) == pytest.approx(expected_mos(name, straight_liner=True))
        assert float(row["mos_after_exclusion"]) == pytest.approx(
            expected_mos(name, straight_liner=False)
        )
        assert int(row["n"]) == 5 * 4 and int(row["n_after_exclusion"]) == 4 * 4
        # The t-interval by hand: mean +/- t(0.975, n-1) s / sqrt(n) on the logit of
        # (mean - 1) / 4 (delta method), mapped back; honest listeners only.
        scores = [honest_score(j, name, s) for j in range(4) for s in range(4)]
        from scipy import stats as sps

        half = sps.t.ppf(0.975, 15) * statistics.stdev(scores) / 4
        p = (statistics.mean(scores) - 1) / 4
        low = 1 + 4 / (1 + math.exp(-(math.log(p / (1 - p)) - half / (4 * p * (1 - p)))))
        assert float(row["ci95_low_after_exclusion"]) == pytest.approx(low, abs=1e-5)
        assert row["ci95_clustered_low_after_exclusion"] != ""


def test_json_download_has_both_intervals_and_the_exclusions(client_ada, study):
    response = client_ada.get(url("study_report_json", study))
    assert response.status_code == 200
    data = json.loads(download_text(response))
    systems = {s["system"]: s for s in data["systems_after_exclusion"]}
    for name in BASE:
        s = systems[name]
        assert s["mos"] == pytest.approx(expected_mos(name, straight_liner=False))
        assert s["n_listeners"] == 4 and s["n_sentences"] == 4
        lo, hi = s["ci95_clustered"]
        assert lo < s["mos"] < hi
        assert sum(s["histogram"].values()) == 16
    excluded = {e["listener"]: e for e in data["excluded_listeners"]}
    assert excluded[f"prolific:{STRAIGHT}"]["rules"] == ["identical_scores"]
    assert excluded[f"prolific:{MANUAL}"]["rules"] == ["manual"]
    assert data["manual_exclusions"] == [
        {"listener": f"prolific:{MANUAL}", "reason": MANUAL_REASON, "n_ratings": 12}
    ]
    # The hand-excluded listener is in no number at all.
    assert data["n_listeners"] == 5 and data["n_ratings"] == 5 * 12
    assert "manual_exclusion" in data["method"]


def test_raw_ratings_csv_has_one_row_per_rating_and_reads_back(client_ada, study, tmp_path):
    response = client_ada.get(url("study_report_ratings_csv", study))
    assert response.status_code == 200 and response.streaming
    text = download_text(response)
    rows = csv_rows(text)
    assert len(rows) == N_RATINGS
    assert list(rows[0]) == downloads.RAW_RATING_COLUMNS
    tokens = {c.token: c for c in Clip.objects.select_related("system", "sentence")}
    row = next(r for r in rows if r["platform_id"] == "P2" and r["system"] == "espeak")
    clip = tokens[row["clip"]]
    assert clip.system.name == "espeak" and clip.sentence.key == row["sentence"]
    assert row["sentence_text"] == clip.sentence.text
    s = int(row["sentence"][1:]) - 1
    assert int(row["score"]) == honest_score(1, "espeak", s)
    assert row["listener"] == "prolific:P2" and row["platform"] == "prolific"
    assert (row["purpose"], row["play_count"], row["played_seconds"]) == ("test", "2", "0.6")
    assert row["response_seconds"] == "2.5" and row["created_at"]
    manual = [r for r in rows if r["platform_id"] == MANUAL]
    assert {(r["listener_excluded"], r["exclusion_reason"]) for r in manual} == {
        ("true", MANUAL_REASON)
    }
    # The file is a ratings CSV for listening.analysis.stats as it is: MOS over all its rows by hand.
    table = read_ratings_csv(text.encode())
    report = build_report(table)
    for s in report["systems"]:
        by_hand = [int(r["score"]) for r in rows if r["system"] == s["system"]]
        assert s["mos"] == pytest.approx(sum(by_hand) / len(by_hand))


def test_standalone_html_download(client_ada, study):
    response = client_ada.get(url("study_report_html", study))
    assert response.status_code == 200
    assert 'filename="mos-study-mos-report.html"' in response["Content-Disposition"]
    html = download_text(response)
    assert html.startswith("<!doctype html>") and "<title>Tacotron2 vs eSpeak" in html
    assert "<script" not in html and "<link" not in html  # one file, nothing to fetch
    assert f"{expected_mos('natural', straight_liner=False):.3f}" in html
    assert MANUAL_REASON in html


def test_audio_zip_holds_every_ready_clip_and_a_manifest(client_ada, study, tmp_path):
    response = client_ada.get(url("study_report_audio_zip", study))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    path = tmp_path / "audio.zip"
    path.write_bytes(b"".join(response.streaming_content))
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = csv_rows(archive.read("manifest.csv").decode())
        # 12 clips, their manifest and trials.csv (each trial's clips and roles).
        assert len(manifest) == 12 and len(names) == 14
        assert {"manifest.csv", "trials.csv"} <= set(names)
        assert list(manifest[0]) == downloads.AUDIO_MANIFEST_COLUMNS
        for row in manifest:
            clip = Clip.objects.select_related("system", "sentence").get(token=row["token"])
            assert row["file_name"] == f"audio/{clip.system.name}/{clip.sentence.key}.wav"
            assert (row["system"], row["sentence"], row["text"]) == (
                clip.system.name,
                clip.sentence.key,
                clip.sentence.text,
            )
            assert float(row["duration_s"]) == pytest.approx(clip.duration_s)
            assert float(row["loudness_lufs"]) == pytest.approx(clip.loudness_lufs)
            with clip.audio.open("rb") as stored:
                assert archive.read(row["file_name"]) == stored.read()
            samples, rate = soundfile.read(io.BytesIO(archive.read(row["file_name"])))
            assert len(samples) / rate == pytest.approx(clip.duration_s)


def test_tokens_read_back_from_a_download_as_themselves():
    """Downloads neutralise cells that begin with "-" (spreadsheet formulas); a token that
    began with one (1 in 64 of URL-safe tokens) came back from the manifest as "'-..." and
    named no clip."""
    tokens = [new_token() for _ in range(2000)]
    assert all(spreadsheet_cell(token) == token for token in tokens)
    assert len(set(tokens)) == len(tokens) and all(len(token) == 22 for token in tokens)


def test_a_clip_missing_from_storage_is_listed_not_fatal(client_ada, study, tmp_path):
    clip = Clip.objects.filter(system__study=study).first()
    clip.audio.storage.delete(clip.audio.name)
    handle, count = downloads.study_audio_zip(study=study)
    with handle, zipfile.ZipFile(handle) as archive:
        assert count == 11
        assert clip.sentence.key in archive.read("missing.txt").decode()
        assert len(csv_rows(archive.read("manifest.csv").decode())) == 11


# --- Cache -------------------------------------------------------------------------------------


def test_report_is_cached_until_a_new_rating_arrives(client_ada, study):
    client_ada.get(url("study_report", study))
    first = StudyReport.objects.get(study=study)
    assert first.status == StudyReport.Status.READY and first.progress == 1.0
    # Nothing changed: the same row, not built again.
    client_ada.get(url("study_report", study))
    client_ada.get(url("study_report_json", study))
    assert list(StudyReport.objects.filter(study=study)) == [first]
    assert StudyReport.objects.get(pk=first.pk).finished_at == first.finished_at

    # A new listener rates one clip: a new fingerprint, a new build with the new rating in it.
    clip = Clip.objects.get(system__name="espeak", sentence__key="s1")
    newcomer = Listener.objects.create(study=study, platform="prolific", external_id="P7")
    Rating.objects.create(listener=newcomer, clip=clip, score=5, response_seconds=3.0)
    data = json.loads(download_text(client_ada.get(url("study_report_json", study))))
    second = StudyReport.objects.get(study=study)  # the old one was replaced
    assert second.pk != first.pk and second.key != first.key
    espeak = next(s for s in data["systems"] if s["system"] == "espeak")
    assert espeak["n"] == 21


def test_manual_exclusion_and_rule_changes_make_a_new_report(client_ada, study):
    key, _ = report_service.report_fingerprint(study=study)
    Listener.objects.filter(external_id=MANUAL).update(excluded=False)
    key_included, _ = report_service.report_fingerprint(study=study)
    assert key_included != key
    data = json.loads(download_text(client_ada.get(url("study_report_json", study))))
    assert data["manual_exclusions"] == [] and data["n_listeners"] == 6

    study.screening = dict(study.screening, flag_identical_scores=False)
    study.save()
    assert report_service.report_fingerprint(study=study)[0] != key_included
    data = json.loads(download_text(client_ada.get(url("study_report_json", study))))
    assert f"prolific:{STRAIGHT}" not in {e["listener"] for e in data["excluded_listeners"]}


def test_build_is_idempotent_and_logs_one_structured_line(study, caplog):
    caplog.set_level(logging.INFO, logger="listening.analysis.reports")
    report = report_service.report_request(study=study)
    assert report.status == StudyReport.Status.READY
    [line] = [r for r in caplog.records if r.msg.startswith("report build")]
    assert (line.study, line.ratings, line.result) == (study.slug, N_RATINGS, "ready")
    assert line.seconds >= 0
    caplog.clear()
    again = report_service.report_build(report_id=report.pk)
    assert again.finished_at == report.finished_at and again.data == report.data
    assert not [r for r in caplog.records if r.msg.startswith("report build")]


# --- Large reports: queued, with progress ------------------------------------------------------


@override_settings(REPORT_INLINE_MAX_RATINGS=10)
def test_a_large_report_is_queued_and_the_page_shows_progress(
    client_ada, study, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_ada.get(url("study_report", study))
    assert len(callbacks) == 1  # build_study_report.delay, once the request's rows are saved
    report = StudyReport.objects.get(study=study)
    assert report.status == StudyReport.Status.PENDING and report.data is None
    html = response.content.decode()
    assert '<progress id="report-progress" max="1" value="0.000000">' in html
    # Without JavaScript the page refreshes itself; with it, progress.js polls the status.
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    assert "js/analysis/progress.js" in html
    status = client_ada.get(url("study_report_status", study) + f"?id={report.pk}").json()
    assert status == {
        "id": report.pk,
        "status": "pending",
        "progress": 0.0,
        "message": "",
        "error": "",
        "ready": False,
    }
    # Downloads of the statistics wait for the build; raw ratings and audio do not.
    response = client_ada.get(url("study_report_json", study))
    assert response.status_code == 302 and response["Location"] == url("study_report", study)
    assert client_ada.get(url("study_report_ratings_csv", study)).status_code == 200

    # The worker's part, run here: progress ends at 1.0 and the page shows the report.
    seen = []
    report_service.report_build(report_id=report.pk, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0
    status = client_ada.get(url("study_report_status", study)).json()
    assert status["ready"] and status["progress"] == 1.0 and status["message"] == "Done"
    assert "<svg" in client_ada.get(url("study_report", study)).content.decode()


@override_settings(REPORT_INLINE_MAX_RATINGS=0)
def test_an_old_build_finishing_late_keeps_the_newer_report(
    client_ada, study, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        old = report_service.report_request(study=study)
        newcomer = Listener.objects.create(study=study, platform="prolific", external_id="P8")
        clip = Clip.objects.get(system__name="natural", sentence__key="s2")
        Rating.objects.create(listener=newcomer, clip=clip, score=4, response_seconds=3.0)
        new = report_service.report_request(study=study)
    assert new.pk != old.pk
    report_service.report_build(report_id=new.pk)
    report_service.report_build(report_id=old.pk)  # the slow worker of the old fingerprint
    assert StudyReport.objects.get(pk=new.pk).status == StudyReport.Status.READY
    assert report_service.report_request(study=study).pk == new.pk


def test_a_study_without_ratings_says_so_and_can_be_built_again(client_ada, ada):
    empty = StudyFactory(owner=ada, slug="empty", title="Nothing yet")
    response = client_ada.get(url("study_report", empty))
    assert response.status_code == 200
    html = response.content.decode()
    assert "This study has no test ratings yet" in html and "Build again" in html
    report = StudyReport.objects.get(study=empty)
    assert report.status == StudyReport.Status.FAILED
    # Nothing changed: the page shows the same failure, it does not retry on every visit.
    client_ada.get(url("study_report", empty))
    assert StudyReport.objects.get(study=empty).finished_at == report.finished_at
    response = client_ada.post(url("study_report_rebuild", empty))
    assert response.status_code == 302
    assert StudyReport.objects.get(study=empty).finished_at > report.finished_at


def test_every_listener_excluded_by_hand_is_explained(client_ada, study):
    Listener.objects.filter(study=study).update(excluded=True)
    html = client_ada.get(url("study_report", study)).content.decode()
    assert "Every listener with test ratings has been excluded by hand" in html


# --- Who may see it ----------------------------------------------------------------------------

ALL_URLS = [
    ("get", "study_report"),
    ("get", "study_report_status"),
    ("post", "study_report_rebuild"),
    ("get", "study_report_ratings_csv"),
    ("get", "study_report_summary_csv"),
    ("get", "study_report_objective_csv"),
    ("get", "study_report_json"),
    ("get", "study_report_html"),
    ("get", "study_report_audio_zip"),
]


@pytest.mark.parametrize(("method", "name"), ALL_URLS)
def test_another_researcher_gets_a_404_everywhere(client, study, method, name):
    client.force_login(ResearcherFactory(username="bob"))
    response = getattr(client, method)(url(name, study))
    assert response.status_code == 404
    assert not StudyReport.objects.filter(study=study).exists()  # nothing was built for bob


@pytest.mark.parametrize(("method", "name"), ALL_URLS)
def test_anonymous_users_are_sent_to_the_login_page(client, study, method, name):
    response = getattr(client, method)(url(name, study))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_an_admin_opens_and_downloads_any_study(client, study):
    client.force_login(ResearcherFactory(username="root", is_superuser=True))
    assert client.get(url("study_report", study)).status_code == 200
    rows = csv_rows(download_text(client.get(url("study_report_summary_csv", study))))
    assert [r["system"] for r in rows] == [name for name, _ in RATED_SYSTEMS]


def test_status_of_an_unknown_report_is_a_404(client_ada, study):
    assert client_ada.get(url("study_report_status", study)).status_code == 404
    assert client_ada.get(url("study_report_status", study) + "?id=x").status_code == 404


# --- Objective metrics beside MOS (listening.analysis.objective_section) ----------------------


def test_objective_metrics_sit_beside_mos_and_new_measurements_rebuild(client_ada, study):
    before = json.loads(download_text(client_ada.get(url("study_report_json", study))))
    assert before["objective"]["n_computed"] == 0 and before["objective"]["pending"] == 12
    key_before = StudyReport.objects.get(study=study).key

    clips_objective_compute(clip_ids=list(Clip.objects.values_list("id", flat=True)))
    assert report_service.report_fingerprint(study=study)[0] != key_before
    html = client_ada.get(url("study_report", study)).content.decode()
    data = StudyReport.objects.get(study=study).data
    natural = next(s for s in data["objective"]["systems"] if s["system"] == "natural")
    durations = [0.25 + 0.05 * s for s in range(4)]  # the clips' lengths, by construction
    assert natural["metrics"]["duration_s"]["n"] == 4
    assert natural["metrics"]["duration_s"]["mean"] == pytest.approx(sum(durations) / 4)
    assert "Objective metrics beside MOS" in html and 'id="objective-metrics"' in html
    assert f"{sum(durations) / 4:.3f} ± " in html

    response = client_ada.get(url("study_report_objective_csv", study))
    assert response.status_code == 200
    rows = csv_rows(download_text(response))
    row = next(r for r in rows if r["system"] == "natural" and r["metric"] == "duration_s")
    assert float(row["mean"]) == pytest.approx(sum(durations) / 4)
    standalone = download_text(client_ada.get(url("study_report_html", study)))
    assert (
        "Objective metrics beside MOS" in standalone
        and f"{sum(durations) / 4:.3f} ± " in standalone
    )
    # The summary CSV stays one table: a row per system, nothing else.
    summary = csv_rows(download_text(client_ada.get(url("study_report_summary_csv", study))))
    assert [r["system"] for r in summary] == [name for name, _ in RATED_SYSTEMS]


def test_the_study_page_links_to_the_report(client_ada, study):
    html = client_ada.get(reverse("researcher:study", args=[study.slug])).content.decode()
    assert f'href="{url("study_report", study)}"' in html
