"""The follow-up questions in every type's site report, its JSON and its ratings download: the
share of "yes" per system over the counted answers (test clips, listeners kept), hand-computed
here, with the clustered interval of ``stats.followups``; the download's ``followup_<key>``
columns give ``mos_report --ratings-csv`` the same shares."""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest
from django.core.management import call_command
from django.urls import reverse

from listening.analysis import reports
from listening.analysis.downloads import study_ratings_csv_rows
from listening.analysis.stats.followups import add_counted_followups, per_system
from listening.models import Rating, Study
from mos_site.spreadsheet import csv_writer
from tests.factories import (
    HONEST,
    TypedRatingFactory,
    comparison_study,
    listener_with_playlist,
    rated_study,
    trial_with,
)

pytestmark = pytest.mark.django_db

QUESTION = [{"key": "odd", "text": "Did a word sound wrong?"}]
#: Honest listeners say "yes" for the sentences below this position: 0, 1 and 3 of 4.
YES_BELOW = {"natural": 0, "tacotron2": 1, "espeak": 3}


def csv_text(study: Study) -> str:
    out = io.StringIO()
    csv_writer(out).writerows(study_ratings_csv_rows(study=study))
    return out.getvalue()


def shares(report: dict, key: str = "odd") -> dict[str, tuple]:
    return {
        s["system"]: (s["n"], s["yes"], s["proportion"])
        for s in report["followups"][key]["systems"]
    }


@pytest.fixture
def acr(ada):
    """``rated_study`` with the question answered: honest listeners as YES_BELOW says; the
    straight-liner (screened out) and the listener excluded by hand say yes to everything."""
    study = rated_study(ada)
    Study.objects.filter(pk=study.pk).update(followup_questions=QUESTION)
    study.refresh_from_db()
    for rating in Rating.objects.select_related("listener", "clip__system", "clip__sentence"):
        honest = rating.listener.external_id in HONEST
        below = YES_BELOW[rating.clip.system.name]
        yes = not honest or rating.clip.sentence.position < below
        rating.followups = {"odd": "yes" if yes else "no"}
        rating.save(update_fields=["followups"])
    return study


def test_the_pure_count_keeps_test_rows_of_kept_listeners_and_pairs_count_twice():
    frame = pd.DataFrame(
        {
            "listener": ["L1", "L1", "L2", "L3", "L2"],
            "sentence": ["s1", "s2", "s1", "s1", "s2"],
            "a": ["x", "x", "x", "x", "y"],
            "b": ["y", "y", "y", "y", "y"],
            "purpose": ["test", "test", "test", "test", "gold"],
            "followup_odd": ["yes", "no", "yes", "yes", "yes"],
        }
    )
    expanded = per_system(frame)
    assert len(expanded) == 2 * 4 + 1, "a trial of y against y counts once"
    report = {"excluded_listeners": [{"listener": "L3", "rules": ["manual"]}]}
    add_counted_followups(report, frame, QUESTION)
    # Counted: L1 s1 yes, L1 s2 no, L2 s1 yes (L3 excluded, the gold row left out).
    assert shares(report) == {"x": (3, 2, pytest.approx(2 / 3)), "y": (3, 2, pytest.approx(2 / 3))}
    assert report["followups"]["odd"]["question"] == "Did a word sound wrong?"


def test_the_acr_report_gives_the_hand_computed_shares_with_clustered_intervals(acr):
    report = reports.study_report_compute(study=acr)
    # 4 honest listeners x 4 sentences per system; the excluded two are not counted.
    assert shares(report) == {
        "natural": (16, 0, 0.0),
        "tacotron2": (16, 4, 0.25),
        "espeak": (16, 12, 0.75),
    }
    for entry in report["followups"]["odd"]["systems"]:
        low, high = entry["ci95_clustered"]
        assert 0.0 <= low <= entry["proportion"] <= high <= 1.0
    espeak = next(s for s in report["followups"]["odd"]["systems"] if s["system"] == "espeak")
    assert espeak["ci95_clustered"][1] - espeak["ci95_clustered"][0] > 0.05


def test_the_acr_page_json_and_download_carry_the_followups(acr, client_ada, tmp_path):
    page = client_ada.get(reverse("study_report", args=[acr.slug]))
    html = page.content.decode()
    assert 'id="followups-heading"' in html and "Did a word sound wrong?" in html
    data = json.loads(client_ada.get(reverse("study_report_json", args=[acr.slug])).content)
    assert shares(data)["espeak"] == (16, 12, 0.75)
    text = csv_text(acr)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[-1] == "followup_odd"
    assert {r["followup_odd"] for r in rows} == {"yes", "no"}
    # mos_report reads the download as it is and gives the same shares (the straight-liner is
    # screened out there too; the hand exclusion travels in listener_excluded).
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    out = io.StringIO()
    call_command("mos_report", "--ratings-csv", str(path), "--format", "json", stdout=out)
    offline = json.loads(out.getvalue())
    assert shares(offline)["tacotron2"] == (16, 4, 0.25)


def answered_ab_study(**fields) -> Study:
    """An AB study with the question: two listeners, two trials each; alpha is in all four
    trials (3 yes), natural in the two first (2 yes), beta in the others (1 yes)."""
    study, clips = comparison_study("ab", followup_questions=QUESTION, **fields)
    pairs = [
        [("a", clips["natural", "s0"]), ("b", clips["alpha", "s0"])],
        [("a", clips["beta", "s1"]), ("b", clips["alpha", "s1"])],
    ]
    for name, answers in (("p1", ("yes", "no")), ("p2", ("yes", "yes"))):
        listener, playlist = listener_with_playlist(study, name)
        for shape, answer in zip(pairs, answers, strict=True):
            TypedRatingFactory(
                item=trial_with(playlist, shape),
                listener=listener,
                choice="a",
                followups={"odd": answer},
            )
    return study


def test_a_comparison_report_counts_each_answer_for_both_systems_of_its_trial():
    study = answered_ab_study()
    frame = reports.study_comparison_followups_frame(study)
    report = add_counted_followups({}, frame, QUESTION)
    assert shares(report) == {
        "natural": (2, 2, 1.0),
        "alpha": (4, 3, 0.75),
        "beta": (2, 1, 0.5),
    }
    rows = list(csv.DictReader(io.StringIO(csv_text(study))))
    assert [r["followup_odd"] for r in rows] == ["yes", "no", "yes", "yes"]


def test_a_comparison_report_s_file_carries_the_followups_as_its_page_does(ada, client_ada):
    study = answered_ab_study(owner=ada)
    page = client_ada.get(reverse("study_report", args=[study.slug])).content.decode()
    file = client_ada.get(reverse("study_report_html", args=[study.slug])).content.decode()

    def followups(html: str) -> str:
        start = html.index('<section aria-labelledby="followups-heading">')
        return html[start : html.index("</section>", start)]

    section = followups(file)
    # The same section; its heading is h2 under the file's h1, h3 under the page's report h2.
    assert section.replace("h2", "h3") == followups(page)
    assert '<h2 id="followups-heading">' in section and "Did a word sound wrong?" in section
    # The site page's own main holds the body: no main nested in it, one h1 (the study's).
    assert page.count("<main") == 1 and page.count("<h1") == 1
    rows = re.findall(
        r'<tr><th scope="row">(\w+)</th><td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td>',
        section,
    )
    assert sorted(rows) == [("alpha", "4", "3"), ("beta", "2", "1"), ("natural", "2", "2")]
