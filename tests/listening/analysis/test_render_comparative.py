"""listening.analysis.render_comparative: the CSV summary and the CSP-safe HTML of the CCR, AB,
ABX and SMOS reports (the command is tested in tests/listening/management/)."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from listening.analysis import render_comparative as render
from listening.analysis import stats
from tests.listening.analysis.test_scored_standalone import assert_outline

NASTY = '<script>alert("x")</script> & co'


def table(test: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    systems = ["ref", "tts", NASTY]
    for i in range(8):
        for s in range(6):
            for k, other in enumerate(systems[1:]):
                a, b = (systems[0], other) if (i + s + k) % 2 else (other, systems[0])
                if test == "ccr":
                    rows.append((f"L{i}", f"s{s}-{k}", a, b, int(rng.integers(-3, 4))))
                elif test == "ab":
                    rows.append((f"L{i}", f"s{s}-{k}", a, b, ["a", "b", "tie"][rng.integers(3)]))
                elif test == "abx":
                    x = a if rng.random() < 0.5 else b
                    rows.append((f"L{i}", f"s{s}-{k}", a, b, x, "ab"[rng.integers(2)]))
                else:
                    rows.append((f"L{i}", f"s{s}-{k}", other, int(rng.integers(1, 6))))
    columns = list(stats.COMPARISON_COLUMNS[test])
    return pd.DataFrame(rows, columns=columns)


@pytest.mark.parametrize("test", ["ccr", "ab", "abx", "smos"])
def test_html_is_tables_and_svg_with_no_script_or_inline_style_and_escapes_names(test):
    report = stats.build_test_report(table(test), test)
    html = render.comparison_html(report, title=f"Study {test}")
    assert "<script" not in html
    assert "style=" not in html and "<style" not in html
    assert NASTY not in html
    assert "&lt;script&gt;" in html
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert svgs
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
    assert "<table>" in html and "<caption>" in html
    # One h1 and one main; the sections are h2 under the h1, none skipped.
    assert_outline(html)
    assert html.count("<main") == 1 and html.count("<h1>") == 1


def test_ccr_csv_has_a_row_per_system_with_both_results():
    report = stats.build_test_report(table("ccr"), "ccr")
    rows = list(csv.DictReader(io.StringIO(render.comparison_summary_csv(report))))
    assert [r["system"] for r in rows] == ["tts", NASTY]
    for row, entry in zip(rows, report["systems"]):
        assert row["reference"] == "ref"
        assert float(row["cmos"]) == pytest.approx(entry["cmos"], abs=1e-6)
        assert float(row["ci95_clustered_low"]) == pytest.approx(
            entry["ci95_clustered"][0], abs=1e-6
        )
        assert row["cmos_after_exclusion"] != ""


def test_ab_csv_has_pairs_then_the_ranking():
    report = stats.build_test_report(table("ab"), "ab")
    rows = list(csv.DictReader(io.StringIO(render.comparison_summary_csv(report))))
    pairs = [r for r in rows if r["section"] == "comparison"]
    ranking = [r for r in rows if r["section"] == "ranking_after_exclusion"]
    assert len(pairs) == len(report["pairs"])
    assert [r["a"] for r in ranking] == [e["system"] for e in report["ranking_after_exclusion"]]
    assert [int(r["rank"]) for r in ranking] == list(range(1, len(ranking) + 1))
    assert int(pairs[0]["wins_a"]) == report["pairs"][0]["wins_a"]


def test_smos_csv_is_the_acr_summary():
    report = stats.build_test_report(table("smos"), "smos")
    rows = list(csv.DictReader(io.StringIO(render.comparison_summary_csv(report))))
    assert {r["system"] for r in rows} == {"tts", NASTY}
    assert "mos" in rows[0]


def test_the_interval_chart_draws_na_for_missing_numbers():
    svg = render.svg_interval_chart(
        [("x", None, [None, None]), ("y", 0.2, [0.1, 0.3])],
        scale=(0, 1),
        null=0.5,
        title="t",
        chart_id="c",
    )
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "n/a" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 1
