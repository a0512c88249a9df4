"""The site's report of a MUSHRA study: the condition scores in the database go, with their roles
from the trial clips, to the statistics of ``mos_report --test mushra``; the ratings download
read by that command gives the same numbers; the study's BS.1534-3 thresholds and the listeners
excluded by hand are applied; the page shows the box plot, the conditions and the exclusions."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from listening.analysis import reports
from listening.analysis.selectors import study_mushra_frame
from listening.models import ConditionScore, Listener, Study
from tests.mushra_factories import careless_mushra_study, honest, mushra_study
from tests.trial_factories import report_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated():
    return careless_mushra_study()


def _download(client, study) -> str:
    response = client.get(reverse("study_report_ratings_csv", args=[study.slug]))
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_the_table_has_one_row_per_listener_sentence_and_rated_condition_with_its_role(rated):
    frame = study_mushra_frame(rated)
    # 6 listeners x 3 sentences x (hidden reference, 2 systems, 2 anchors); no open reference.
    assert len(frame) == 6 * 3 * 5
    roles = frame.drop_duplicates("system").set_index("system")["role"].to_dict()
    assert roles == {
        "system-0": "hidden_reference",
        "system-1": "test",
        "system-2": "test",
        "anchor35": "anchor35",
        "anchor70": "anchor70",
    }
    assert list(frame.columns[:5]) == ["listener", "sentence", "system", "score", "role"]


def test_the_report_excludes_the_listener_who_misses_the_hidden_reference(rated):
    report = reports.study_report_compute(study=rated)
    assert report["test"] == "mushra"
    assert [e["listener"] for e in report["excluded_listeners"]] == ["prolific:P0"]
    (excluded,) = report["excluded_listeners"]
    assert excluded["rules"] == ["hidden_reference_missed"]
    assert "below 90 in 3 of 3 trials" in excluded["reason"]
    systems = {s["system"]: s for s in report["systems"]}
    assert systems["system-0"]["role"] == "hidden_reference"
    assert systems["system-0"]["n"] == 5 * 3
    # The five listeners kept rate system-1 at 70 give or take 4 on every sentence.
    assert systems["system-1"]["mean"] == pytest.approx(
        sum(honest(j, "system-1", "test", s) for j in range(1, 6) for s in range(3)) / 15
    )
    lo, hi = systems["system-1"]["ci95_clustered"]
    assert lo < systems["system-1"]["mean"] < hi
    assert set(systems["system-1"]) >= {"system", "role", "n", "mean", "median", "ci95_clustered"}
    screening = report["screening"]
    assert screening["fired"] == {"hidden_reference_missed": 1, "mid_anchor_high": 0}
    assert screening["evaluated"] == {"hidden_reference_missed": 6, "mid_anchor_high": 6}
    assert screening["n_excluded"] == 1
    assert report["accompanying_information"]["items"]
    assert report["study"]["n_rows_read"] == 90


def test_the_study_thresholds_decide_the_post_screening(rated):
    rated.screening = {**rated.screening, "hidden_reference_below": 55.0}
    rated.save()
    report = reports.study_report_compute(study=rated)
    assert report["excluded_listeners"] == []
    assert report["screening"]["rules"]["hidden_reference_below"] == 55.0


def test_a_listener_excluded_by_hand_is_left_out_and_listed_with_the_reason(rated):
    Listener.objects.filter(external_id="P3").update(
        excluded=True, exclusion_reason="returned the submission"
    )
    report = reports.study_report_compute(study=rated)
    excluded = {e["listener"]: e for e in report["excluded_listeners"]}
    assert excluded["prolific:P3"]["rules"] == ["manual"]
    assert "returned the submission" in excluded["prolific:P3"]["reason"]
    assert report["n_listeners"] == 5
    systems = {s["system"]: s for s in report["systems"]}
    assert systems["system-0"]["n"] == 4 * 3


def test_the_ratings_download_run_through_mos_report_gives_the_site_numbers(
    rated, client, tmp_path
):
    Listener.objects.filter(external_id="P3").update(excluded=True, exclusion_reason="noisy room")
    client.force_login(rated.owner)
    text = _download(client, rated)
    header = next(csv.reader(io.StringIO(text)))
    assert header[:5] == ["listener", "sentence", "system", "score", "role"]
    path = tmp_path / "ratings.csv"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("mos_report", "--ratings-csv", str(path), "--test", "mushra", stdout=out)
    offline = json.loads(out.getvalue())
    site = reports.study_report_compute(study=rated)

    def numbers(report):
        return [
            (s["system"], s["role"], s["n"], s["mean"], s["median"], s["ci95_clustered"])
            for s in report["systems"]
        ]

    assert numbers(offline) == numbers(site)
    assert offline["pairs"] == site["pairs"]
    assert offline["excluded_listeners"] == site["excluded_listeners"]


def test_the_report_page_shows_the_box_plot_the_conditions_and_the_exclusions(rated, client):
    page, row = report_page(client, rated)
    assert "<svg" in page and "MUSHRA scores per condition" in page
    assert "prolific:P0" in page and "Hidden reference not found" in page
    mean = {s["system"]: s for s in row.data["systems"]}["system-1"]["mean"]
    assert re.search(rf"<th scope=\"row\">system-1</th>.*?{mean:.1f}", page, re.S)
    assert "Accompanying information" in page
    assert '<h3 id="pairs-heading">Pairs of conditions</h3>' in page
    assert "p values Holm-corrected across the pairs" in page  # the section's hint
    assert "Scores per condition · all listeners" in page  # a listener was excluded


@pytest.mark.parametrize(
    ("name", "kind", "check"),
    [
        (
            "study_report_json",
            "application/json",
            lambda body: json.loads(body)["test"] == "mushra",
        ),
        ("study_report_html", "text/html", lambda body: "MUSHRA report" in body and "<svg" in body),
        ("study_report_summary_csv", "text/csv", lambda body: body.startswith("system,role,n,")),
    ],
)
def test_every_download_of_the_report_is_the_mushra_one(rated, client, name, kind, check):
    client.force_login(rated.owner)
    response = client.get(reverse(name, args=[rated.slug]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith(kind)
    assert check(response.content.decode())


def test_a_mushra_study_without_ratings_says_so():
    study = mushra_study(slug="mushra-empty")
    with pytest.raises(ValueError, match="no MUSHRA ratings yet"):
        reports.study_report_compute(study=study)


def _ask_followups(study: Study) -> None:
    """One follow-up question on every condition: system-2 "sounds wrong" to everyone, and P0
    (whom the hidden-reference rule excludes) says yes to everything."""
    Study.objects.filter(pk=study.pk).update(
        followup_questions=[{"key": "odd", "text": "Did a word sound wrong?"}]
    )
    study.refresh_from_db()
    for score in ConditionScore.objects.select_related("trial_clip__clip__system", "response"):
        odd = score.trial_clip.clip.system.name == "system-2"
        odd = odd or score.response.listener.external_id == "P0"
        score.followups = {"odd": "yes" if odd else "no"}
        score.save(update_fields=["followups"])


def test_the_follow_up_shares_count_the_listeners_the_post_screening_keeps(rated, client):
    """Every condition of system-2 "sounds wrong" to everyone, nothing else does, but P0 (whom
    the hidden-reference rule excludes) says yes to everything: 5 kept listeners x 3 pages."""
    _ask_followups(rated)
    report = reports.study_report_compute(study=rated)
    assert "P0" in {e["listener"].split(":")[-1] for e in report["excluded_listeners"]}
    shares = {s["system"]: (s["n"], s["yes"]) for s in report["followups"]["odd"]["systems"]}
    assert shares["system-2"] == (15, 15) and shares["system-1"] == (15, 0)
    assert report["followups"]["odd"]["question"] == "Did a word sound wrong?"
    client.force_login(rated.owner)
    rows = list(csv.DictReader(io.StringIO(_download(client, rated))))
    assert {r["followup_odd"] for r in rows if r["system"] == "system-2"} == {"yes"}


def test_mos_report_on_the_download_gives_the_site_follow_up_shares(rated, client, tmp_path):
    """The offline command counts the follow-up answers of the listeners the post-screening
    keeps, as the site does: P0's yeses count on neither side."""
    _ask_followups(rated)
    client.force_login(rated.owner)
    path = tmp_path / "ratings.csv"
    path.write_text(_download(client, rated), encoding="utf-8")
    out = io.StringIO()
    call_command("mos_report", "--ratings-csv", str(path), "--test", "mushra", stdout=out)
    offline = json.loads(out.getvalue())
    site = reports.study_report_compute(study=rated)
    assert "P0" in {e["listener"].split(":")[-1] for e in offline["excluded_listeners"]}
    shares = {s["system"]: (s["n"], s["yes"]) for s in offline["followups"]["odd"]["systems"]}
    assert shares["system-1"] == (15, 0)
    site_odd = {k: v for k, v in site["followups"]["odd"].items() if k != "question"}
    assert offline["followups"]["odd"] == site_odd


def test_the_conditions_follow_the_reference_the_study_order_and_the_anchors(rated, client):
    """Hidden reference, the systems under test by System.position (here against their
    names), then the mid and the low anchor: in the JSON, the conditions table and the box
    plot, and the follow-up shares in the same order."""
    _ask_followups(rated)
    rated.systems.filter(name="system-2").update(position=1)
    rated.systems.filter(name="system-1").update(position=2)
    report = reports.study_report_compute(study=rated)
    names = [s["system"] for s in report["systems"]]
    roles = [s["role"] for s in report["systems"]]
    assert names[:3] == ["system-0", "system-2", "system-1"]
    assert roles == ["hidden_reference", "test", "test", "anchor70", "anchor35"]
    assert [s["system"] for s in report["followups"]["odd"]["systems"]] == names
    page, _ = report_page(client, rated)
    table = page[page.index("<table") :]
    assert [table.index(f'<th scope="row">{n}</th>') for n in names] == sorted(
        table.index(f'<th scope="row">{n}</th>') for n in names
    )
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert [chart.index(n) for n in names] == sorted(chart.index(n) for n in names)
