"""The report pages' tables as data (``listening.analysis.page_tables``): the cells line up with
their columns, numbers are formatted once, missing values say n/a, rules are named by label."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from listening.analysis.page_tables import (
    column,
    data_table,
    mushra_conditions_table,
    mushra_excluded_table,
    mushra_pairs_table,
    p_value,
    word_errors_table,
)


def test_each_cell_takes_its_column_s_kind():
    table = data_table(
        caption="c",
        columns=[column("System"), column("n", "num"), column("Note", "wrap")],
        rows=[("A", [3, "long words"], "excluded")],
    )
    (row,) = table["rows"]
    assert row["header"] == "A" and row["kind"] == "excluded"
    assert [(c["text"], c["kind"]) for c in row["cells"]] == [(3, "num"), ("long words", "wrap")]


def test_a_row_with_too_few_values_is_a_bug_not_a_short_row():
    # zip(strict=True) names the mismatch; any other ValueError would be a different fault.
    with pytest.raises(ValueError, match="zip\\(\\) argument"):
        data_table(
            caption="c", columns=[column("A"), column("B"), column("C")], rows=[("x", [1], "")]
        )


def test_conditions_show_one_decimal_and_n_a_for_a_missing_interval():
    systems = [
        {
            "system": "ref",
            "role": "hidden_reference",
            "n": 12,
            "mean": 97.75,
            "median": 98.0,
            "ci95": [96.04, 99.46],
            "ci95_clustered": [None, None],
        },
    ]
    (row,) = mushra_conditions_table(systems, "Scores")["rows"]
    assert [c["text"] for c in row["cells"]] == [
        "hidden reference",
        12,
        "97.8",
        "98.0",
        "96.0 – 99.5",
        "n/a",
    ]


def test_excluded_listeners_are_named_with_the_rules_labels():
    rules = [{"name": "hidden_reference_missed", "label": "Hidden reference not found"}]
    excluded = [
        {"listener": "P0", "rules": ["hidden_reference_missed"], "reason": "below 90"},
        {"listener": "P3", "rules": ["manual"], "reason": "noisy room"},
    ]
    rows = mushra_excluded_table(excluded, rules)["rows"]
    assert [r["cells"][0]["text"] for r in rows] == [
        "Hidden reference not found",
        "Excluded by hand",
    ]


def test_an_empty_word_table_says_so():
    table = word_errors_table([], "All systems")
    assert table["rows"] == [] and table["empty"] == "No words."


def test_a_table_section_is_labelled_by_its_heading_and_folds_its_details():
    table = word_errors_table([], "All systems")
    html = render_to_string(
        "listening/analysis/_table_section.html",
        {
            "id": "words-heading",
            "title": "Errors per word",
            "table": table,
            "details": [("Errors per word: A", word_errors_table([], "A"))],
        },
    )
    assert '<section aria-labelledby="words-heading">' in html
    assert '<h3 id="words-heading">Errors per word</h3>' in html
    assert 'class="hint"' not in html  # no hint given, no empty paragraph
    assert "<details>\n    <summary>Errors per word: A</summary>" in html
    assert html.count("<table") == 2


def test_a_p_value_below_the_fourth_place_is_not_printed_as_zero():
    assert p_value(3e-7) == "< 0.0001"
    assert p_value(0.0026) == "0.0026" and p_value(None) == "n/a"
    pair = {
        "system_a": "ref",
        "system_b": "tts",
        "n_pairs": 15,
        "mean_difference": 28.0,
        "mean_difference_ci95_clustered": [26.9, 29.1],
        "clustered_p_holm": 1e-9,
        "wilcoxon_p_holm": 0.0026,
        "better": "ref",
    }
    cells = [c["text"] for c in mushra_pairs_table([pair])["rows"][0]["cells"]]
    assert cells[3:5] == ["< 0.0001", "0.0026"]
