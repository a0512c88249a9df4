"""Render a transcription report (``stats.transcription.transcription_report``) and its answers.

Where this sits: beside ``render`` and ``render_mushra``; ``mos_report --test transcription``
calls these. Standard library and pandas only; every CSV goes through the formula-safe writer
(``mos_site.spreadsheet``), because the answers are text that listeners typed. The HTML page
is standalone (one stylesheet in its head, no script) and escapes every name and answer.
"""

from __future__ import annotations

import io
from html import escape

import pandas as pd

from mos_site.spreadsheet import csv_writer

from .render import csv_cell

__all__ = [
    "ANSWER_COLUMNS",
    "answers_csv",
    "followups_csv",
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


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1rem;max-width:72rem}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
    "th,td{border:1px solid #cbd5e1;padding:.25rem .5rem;text-align:left}"
)


def percent_text(value: float | None) -> str:
    """A rate in plain text, as the offline report and the accompanying information write it."""
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _ci(ci: list) -> str:
    return "n/a" if ci[0] is None else f"[{percent_text(ci[0])}, {percent_text(ci[1])}]"


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = ["<table><thead><tr>", *(f'<th scope="col">{escape(h)}</th>' for h in head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def transcription_html(report: dict, *, title: str) -> str:
    """A standalone page: WER and CER per system, the most-missed words, follow-ups, method."""
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}: transcription report</title><style>{_CSS}</style>",
        f"</head><body><h1>{escape(title)}: transcription report</h1>",
        f"<p>{report['n_answers']} answers from {report['n_listeners']} listeners on "
        f"{report['n_sentences']} sentences.</p><h2>Error rates per system</h2>",
        _table(
            ["System", "Answers", "WER", "95 % clustered", "CER", "95 % clustered"],
            [
                [
                    s["system"],
                    s["n"],
                    percent_text(s["wer"]),
                    _ci(s["ci95_clustered"]),
                    percent_text(s["cer"]),
                    _ci(s["cer_ci95_clustered"]),
                ]
                for s in report["systems"]
            ],
        ),
        "<h2>Words missed most (all systems)</h2>",
        _table(
            ["Word", "Heard", "Correct", "Substituted", "Missed", "Typed instead"],
            [
                [
                    e["word"],
                    e["n"],
                    e["correct"],
                    e["substituted"],
                    e["deleted"],
                    ", ".join(f"{w} ({k})" for w, k in e["typed_instead"]),
                ]
                for e in report["word_errors"]
            ],
        ),
    ]
    for name, section in (report.get("followups") or {}).items():
        body.append(f"<h2>Follow-up: {escape(name)}</h2>")
        body.append(
            _table(
                ["System", "Asked", "Yes", "Share", "95 % clustered"],
                [
                    [
                        s["system"],
                        s["n"],
                        s["yes"],
                        percent_text(s["proportion"]),
                        _ci(s["ci95_clustered"]),
                    ]
                    for s in section["systems"]
                ],
            )
        )
    body.append("<h2>Method</h2><dl>")
    for key, text in report["method"].items():
        body.append(f"<dt>{escape(key)}</dt><dd>{escape(text)}</dd>")
    body.append("</dl></body></html>\n")
    return "".join(body)
