"""listening.analysis.render (JSON, CSV, SVG, HTML); the ``mos_report`` command that uses it is
tested in tests/listening/management/test_mos_report.py."""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from listening.analysis import render as reports
from listening.analysis import stats

ROOT = Path(__file__).resolve().parents[3]
SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<script>alert("x")</script> & co'


def ratings_table(seed: int = 0) -> pd.DataFrame:
    """Three systems (one with a hostile name), 12 listeners x 9 sentences, one straight-liner."""
    rng = np.random.default_rng(seed)
    systems = ["natural", "tacotron2", NASTY]
    quality = {"natural": 4.4, "tacotron2": 3.6, NASTY: 2.1}
    rows = []
    for j in range(12):
        bias = rng.normal(0, 0.4)
        for s in range(9):
            system = systems[(j + s) % 3]
            score = int(np.clip(round(quality[system] + bias + rng.normal(0, 0.6)), 1, 5))
            if j == 11:
                score = 3
            rows.append((f"L{j}", f"s{s}", system, score))
    return pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])


@pytest.fixture(scope="module")
def report() -> dict:
    return stats.build_report(ratings_table())


@pytest.fixture
def django_templates():
    """The project's settings when pytest-django configured them; otherwise (plugin disabled)
    a minimal configuration: rendering needs only the template engine."""
    import django
    from django.conf import settings

    if not settings.configured and "DJANGO_SETTINGS_MODULE" not in os.environ:
        settings.configure(
            TEMPLATES=[
                {
                    "BACKEND": "django.template.backends.django.DjangoTemplates",
                    "DIRS": [ROOT / "templates"],
                }
            ],
            INSTALLED_APPS=[],
        )
    django.setup()


# --- JSON and CSV ---------------------------------------------------------------------------


def test_json_round_trips_without_nan(report):
    text = reports.report_json(report)
    assert "NaN" not in text
    assert json.loads(text) == report


def test_summary_csv_has_one_row_per_system_with_both_intervals(report):
    rows = list(csv.DictReader(io.StringIO(reports.report_summary_csv(report))))
    assert [r["system"] for r in rows] == [s["system"] for s in report["systems"]]
    after = {s["system"]: s for s in report["systems_after_exclusion"]}
    for row, s in zip(rows, report["systems"]):
        assert int(row["n"]) == s["n"]
        assert float(row["mos"]) == pytest.approx(s["mos"], abs=1e-6)
        assert float(row["ci95_low"]) == pytest.approx(s["ci95"][0], abs=1e-6)
        assert float(row["ci95_clustered_high"]) == pytest.approx(s["ci95_clustered"][1], abs=1e-6)
        assert int(row["n_after_exclusion"]) == after[s["system"]]["n"]
    # The straight-liner (L11) is excluded: every system loses its 3 ratings.
    assert all(int(r["n"]) - int(r["n_after_exclusion"]) == 3 for r in rows)


# --- SVG ------------------------------------------------------------------------------------


def test_mos_chart_is_accessible_svg_with_both_intervals_and_escaped_names(report):
    systems = report["systems_after_exclusion"]
    svg = reports.svg_mos_chart(systems)
    assert "<script>" not in svg
    root = ET.fromstring(svg)  # well-formed XML despite the hostile system name
    assert root.find(f"{SVG}title").text.startswith("Mean opinion score")
    desc = root.find(f"{SVG}desc").text
    assert NASTY in desc and "clustered interval" in desc
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert NASTY in labels
    assert any("t-interval" in (t or "") for t in labels)
    assert any("clustered" in (t or "") for t in labels)
    # Each system: one interval line per kind, t thin and dark, clustered thick and orange.
    lines = list(root.iter(f"{SVG}line"))
    t_lines = [
        x for x in lines if x.get("stroke") == reports.T_COLOUR and x.get("x1") != x.get("x2")
    ]
    c_lines = [
        x
        for x in lines
        if x.get("stroke") == reports.CLUSTERED_COLOUR and x.get("x1") != x.get("x2")
    ]
    assert len(t_lines) == len(c_lines) == len(systems) + 1  # + the legend's sample line
    # Bars end at the MOS on the 1–5 axis (170 px labels, 460 px plot).
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == reports.BAR_COLOUR][1:]
    for bar, s in zip(bars, systems):
        assert float(bar.get("width")) == pytest.approx((s["mos"] - 1) / 4 * 460, abs=0.06)
    # The clustered interval is drawn wider than the t-interval where it is wider.
    for t_line, c_line, s in zip(t_lines[1:], c_lines[1:], systems):
        t_width = float(t_line.get("x2")) - float(t_line.get("x1"))
        c_width = float(c_line.get("x2")) - float(c_line.get("x1"))
        wider = s["ci95_clustered_half_width"] > s["ci95_half_width"]
        assert (c_width > t_width) == wider


def test_mos_chart_handles_a_system_without_ratings():
    systems = [
        {
            "system": "empty",
            "n": 0,
            "mos": None,
            "ci95": [None, None],
            "ci95_clustered": [None, None],
        }
    ]
    root = ET.fromstring(reports.svg_mos_chart(systems))
    assert "no ratings" in [t.text for t in root.iter(f"{SVG}text")]


def test_histograms_segments_are_proportional_to_counts(report):
    systems = report["systems"]
    root = ET.fromstring(reports.svg_histograms(systems))
    assert root.find(f"{SVG}title").text
    segments = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    for s in systems:
        own = [r for r in segments if r.find(f"{SVG}title").text.startswith(f"{s['system']}, ")]
        counts = {k: v for k, v in s["histogram"].items() if v}
        assert len(own) == len(counts)
        for rect, (score, count) in zip(own, counts.items()):
            assert f"score {score}: {count} ratings" in rect.find(f"{SVG}title").text
            assert float(rect.get("width")) == pytest.approx(count / s["n"] * 460, abs=0.06)


# --- HTML -----------------------------------------------------------------------------------


def test_html_report_is_standalone_and_escapes_names(report, django_templates):
    html = reports.report_html(report, title="Blizzard <demo>")
    assert html.startswith("<!doctype html>")
    assert "<title>Blizzard &lt;demo&gt; — MOS report</title>" in html
    assert "<script" not in html.lower()
    assert NASTY not in html
    assert html.count("<svg") == 3  # MOS after exclusion, distribution, MOS for all listeners
    assert 'scope="col"' in html and "<caption>" in html
    assert "Excluded listeners" in html and "identical_scores: all 9 ratings are 3" in html
    assert "Significance matrix" in html and "Holm" in html
    assert "t-interval" in html and "clustered" in html


def test_html_report_says_when_screening_is_off(django_templates):
    report = stats.build_report(ratings_table(), rules={"enabled": False})
    html = reports.report_html(report, title="No screening")
    assert "listener screening is switched off" in html
    assert "No listener was excluded." in html
    assert html.count("<svg") == 2


def test_missing_numbers_say_why_and_nothing_prints_as_minus_zero(django_templates):
    # "solo" has one rating; "flat" is rated 3 throughout (an SD of exactly zero); after the
    # exclusions the straight-liner's only system "gone" has no ratings at all.
    table = ratings_table()
    extra = pd.DataFrame(
        [("L0", "s0", "solo", 4)]
        + [(f"L{j}", f"s{s}", "flat", 3) for j in range(11) for s in range(2)]
        + [("L11", f"s{s}", "gone", 3) for s in range(9)],
        columns=["listener", "sentence", "system", "score"],
    )
    report = stats.build_report(pd.concat([table, extra], ignore_index=True))
    systems = {s["system"]: s for s in report["systems"]}
    assert systems["solo"]["sd"] is None
    assert systems["solo"]["missing_reasons"]["sd"].startswith("one rating")
    assert systems["flat"]["sd"] == 0.0 and "sd" not in systems["flat"]["missing_reasons"]
    after = {s["system"]: s for s in report["systems_after_exclusion"]}
    assert after["gone"]["n"] == 0 and after["gone"]["missing_reasons"]["sd"] == "no ratings"
    json.loads(reports.report_json(report))

    html = reports.report_html(report, title="Degenerate")
    summary = reports.report_summary_csv(report)
    for text in (html, summary):
        assert "-0.00" not in text and "-0.0," not in text
    assert "n/a (one rating: no spread to measure)" in html
    assert "n/a (no ratings)" in html
    rows = {r["system"]: r for r in csv.DictReader(io.StringIO(summary))}
    assert rows["solo"]["sd"] == "n/a" and "sd: one rating" in rows["solo"]["notes"]
    assert rows["gone"]["mos_after_exclusion"] == "n/a"
    assert "sd after exclusion: no ratings" in rows["gone"]["notes"]


def test_format_never_prints_minus_zero():
    assert reports._fmt(-1e-12) == "0.00"
    assert reports._fmt(-0.0, 3) == "0.000"
    assert reports._fmt(-0.004) == "0.00"
    assert reports._fmt(-0.006) == "-0.01"
    assert reports.csv_cell(-1e-9) == 0.0 and str(reports.csv_cell(-1e-9)) == "0.0"


def test_html_shows_each_rules_effect_and_a_rule_not_applied(django_templates):
    table = ratings_table().assign(response_seconds=0.3)  # quick keyboard answers throughout
    report = stats.build_report(table, rules={"min_median_response_seconds": 1.0})
    assert report["screening"]["suspended"] == ["fast_answers"]
    html = reports.report_html(report, title="Effects")
    assert "not applied: too many" in html and "MOS change without them" in html
    shift = report["screening"]["effects"]["identical_scores"]["mos_shift"]["natural"]
    assert f"natural {shift:+.2f}" in html
    assert any("would exclude 100%" in w for w in report["warnings"])
    assert "would exclude 100%" in html
