"""Render a transcription report (``stats.transcription.transcription_report``) and its answers.

Where this sits: beside ``render`` and ``render_mushra``; ``mos_report --test transcription``
and the site's report page and downloads call these. Every CSV goes through the formula-safe
writer (``mos_site.spreadsheet``), because the answers are text that listeners typed. The HTML
is the site page's report body (:func:`transcription_context`, drawn by
``templates/listening/analysis/_scored_report.html``) in a standalone file
(``report_scored.html``: one stylesheet in its head, no script); the templates escape every
name and answer.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from mos_site.spreadsheet import csv_writer

from . import page_tables
from .render import csv_cell

__all__ = [
    "ANSWER_COLUMNS",
    "answers_csv",
    "followups_csv",
    "percent_text",
    "transcription_context",
    "transcription_html",
    "transcription_summary_csv",
    "word_errors_csv",
]

SUMMARY_COLUMNS = [
    "system",
    "n",
    "n_listeners",
    "n_sentences",
    "words",
    "substitutions",
    "deletions",
    "insertions",
    "wer",
    "wer_ci95_clustered_low",
    "wer_ci95_clustered_high",
    "cer",
    "cer_ci95_clustered_low",
    "cer_ci95_clustered_high",
    "sentences_correct",
]
ANSWER_COLUMNS = [
    "listener",
    "sentence",
    "system",
    "text",
    "reference",
    "normalised_text",
    "normalised_reference",
    "words",
    "substitutions",
    "deletions",
    "insertions",
    "errors",
    "wer",
    "cer",
]


def _rows_csv(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def transcription_summary_csv(report: dict) -> str:
    """One row per system: counts, WER and CER with their clustered 95 % intervals."""
    rows = []
    for s in report["systems"]:
        wer_ci, cer_ci = s["ci95_clustered"], s["cer_ci95_clustered"]
        rows.append(
            [
                s["system"],
                s["n"],
                s["n_listeners"],
                s["n_sentences"],
                s["words"],
                s["substitutions"],
                s["deletions"],
                s["insertions"],
                s["wer"],
                wer_ci[0],
                wer_ci[1],
                s["cer"],
                cer_ci[0],
                cer_ci[1],
                s["sentences_correct"],
            ]
        )
    return _rows_csv(SUMMARY_COLUMNS, rows)


def answers_csv(scored: pd.DataFrame) -> str:
    """The typed answers with their sentence, both normalised texts and the error counts, one
    row per answer (``stats.transcription.scored_answers``' frame). Formula-like answers
    ("=HYPERLINK(...)") are written as text."""
    rows = scored[ANSWER_COLUMNS].astype(object).where(scored[ANSWER_COLUMNS].notna(), None)
    return _rows_csv(ANSWER_COLUMNS, rows.values.tolist())


def word_errors_csv(report: dict) -> str:
    """The per-word error table (all systems, then each system), most-missed words first."""
    header = ["system", "word", "n", "correct", "substituted", "deleted", "error_rate", "typed"]
    tables = [("(all)", report["word_errors"]), *report["word_errors_by_system"].items()]
    rows = [
        [
            system,
            e["word"],
            e["n"],
            e["correct"],
            e["substituted"],
            e["deleted"],
            e["error_rate"],
            "; ".join(f"{w} ({k})" for w, k in e["typed_instead"]),
        ]
        for system, table in tables
        for e in table
    ]
    return _rows_csv(header, rows)


def followups_csv(report: dict) -> str:
    """The ``followups`` section of any report: question, system, n, yes, proportion, CI."""
    header = ["question", "system", "n", "yes", "proportion", "ci95_low", "ci95_high"]
    rows = [
        [name, s["system"], s["n"], s["yes"], s["proportion"], *s["ci95_clustered"]]
        for name, section in (report.get("followups") or {}).items()
        for s in section["systems"]
    ]
    return _rows_csv(header, rows)


def percent_text(value: float | None) -> str:
    """A rate in plain text, as the offline report and the accompanying information write it."""
    return "n/a" if value is None else f"{100 * value:.1f} %"


def transcription_context(report: dict, *, title: str) -> dict[str, Any]:
    """The template context of ``_scored_report.html`` for a transcription report: the error
    rates and the errors per word (all systems, then each) as ``page_tables`` tables, the
    headings and the warnings. The site's report page adds its downloads; the standalone page
    (:func:`transcription_html`) is drawn from it alone."""
    return {
        "title": title,
        "report": report,
        "heading": _("Transcription report"),
        "standalone_heading": _("transcription report"),
        "rates_table": page_tables.transcription_rates_table(report["systems"]),
        "word_errors_table": page_tables.word_errors_table(report["word_errors"], _("All systems")),
        "word_errors_by_system": [
            (
                _("Errors per word: %(system)s") % {"system": system},
                page_tables.word_errors_table(words, system),
            )
            for system, words in report.get("word_errors_by_system", {}).items()
        ],
        "warnings": report.get("warnings", []),
    }


def transcription_html(report: dict, *, title: str) -> str:
    """The standalone HTML page: the site page's report (:func:`transcription_context`) in a
    file of its own (``report_scored.html``). Django's settings must be configured."""
    return render_to_string(
        "listening/analysis/report_scored.html", transcription_context(report, title=title)
    )
