"""Render the report of a comparative test (CCR, AB, ABX, SMOS) as JSON, CSV or HTML.

The dicts come from ``listening.analysis.stats.build_test_report``. JSON is ``render.report_json``;
the CSV summary has one row per comparison (CCR: system against its reference; AB: pair, then
the Bradley-Terry ranking; ABX: pair; SMOS: system) for all listeners and after the screening's
exclusions. The HTML page (``templates/listening/analysis/report_comparative.html``) is tables
and server-drawn SVG only: no script, no style element or attribute, so it passes the site's
Content-Security-Policy and opens as a standalone file. The SVG builder escapes every name.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from mos_site.spreadsheet import csv_writer

from .render import _fmt, _interval_text, _short, csv_cell, report_summary_csv

POINT_COLOUR = "#1f2937"
INTERVAL_COLOUR = "#c2410c"
NULL_COLOUR = "#64748b"


def svg_interval_chart(
    rows: list[tuple[str, float | None, list[float | None]]],
    *,
    scale: tuple[float, float],
    null: float | None,
    title: str,
    chart_id: str,
) -> str:
    """One row per (label, estimate, [low, high]): the label on its own line, below it a point
    with its interval on ``scale``, a dashed line at ``null``. 340 px wide, so it fits a 360-px
    phone at full size with no CSS (the page has none: CSP). Missing numbers draw "n/a";
    names are escaped."""
    left, plot_w, right, top, row_h, bottom = 8, 280, 52, 30, 40, 28
    width = left + plot_w + right
    height = top + row_h * max(len(rows), 1) + bottom
    low, high = scale
    span = high - low or 1.0

    def x(value: float) -> float:
        return left + (min(max(value, low), high) - low) / span * plot_w

    font = 'font-family="sans-serif"'
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<text x="{left}" y="16" font-size="12" {font}>{escape(_short(title, 56))}</text>',
    ]
    axis_y = top + row_h * max(len(rows), 1)
    out.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#94a3b8"/>'
    )
    for k in range(5):
        tick = low + span * k / 4
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        out.append(
            f'<text x="{x(tick):.1f}" y="{axis_y + 16}" font-size="11" text-anchor="{anchor}" '
            f"{font}>{_fmt(tick)}</text>"
        )
    if null is not None:
        out.append(
            f'<line x1="{x(null):.1f}" y1="{top}" x2="{x(null):.1f}" y2="{axis_y}" '
            f'stroke="{NULL_COLOUR}" stroke-dasharray="4 3"/>'
        )
    if not rows:
        out.append(f'<text x="{left}" y="{top + 18}" font-size="12" {font}>No results.</text>')
    for n, (label, value, ci) in enumerate(rows):
        base = top + row_h * n
        out.append(
            f'<text x="{left}" y="{base + 13}" font-size="12" {font}>'
            f"{escape(_short(label, 44))}</text>"
        )
        cy = base + 27
        if value is None:
            out.append(f'<text x="{left}" y="{cy + 4}" font-size="12" {font}>n/a</text>')
            continue
        if ci and ci[0] is not None and ci[1] is not None:
            out.append(
                f'<line x1="{x(ci[0]):.1f}" y1="{cy}" x2="{x(ci[1]):.1f}" y2="{cy}" '
                f'stroke="{INTERVAL_COLOUR}" stroke-width="3"/>'
            )
        out.append(f'<circle cx="{x(value):.1f}" cy="{cy}" r="4.5" fill="{POINT_COLOUR}"/>')
        out.append(
            f'<text x="{left + plot_w + 8}" y="{cy + 4}" font-size="12" {font}>{_fmt(value)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# --- CSV --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a comparison's table, stated once for the CSV and the page: ``key`` in
    the report's entries (and the CSV column's name), ``header`` on the page, ``cell`` the
    page's text of the value."""

    key: str
    header: str
    cell: Callable[[Any], str] = str


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


_N = Column("n", "n")
_CLUSTERED = Column("ci95_clustered", "95 % clustered interval", _interval_text)
_P_HOLM = Column("p_holm", "p (Holm)", _p)
#: The columns of each test's comparisons; the page adds a last column, the entry's note.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "ccr": (
        Column("system", "System"),
        Column("reference", "Reference"),
        _N,
        Column("cmos", "CMOS", _fmt),
        _CLUSTERED,
        Column("p_value", "p", _p),
        _P_HOLM,
        Column("significant", "Significant", _yes_no),
    ),
    "ab": (
        Column("a", "A"),
        Column("b", "B"),
        _N,
        Column("wins_a", "Wins A"),
        Column("wins_b", "Wins B"),
        Column("ties", "Ties"),
        Column("preference_a", "Preference for A (ties excluded)", _fmt),
        _CLUSTERED,
        Column("p_value", "p", _p),
        _P_HOLM,
        Column("preference_a_ties_split", "Preference for A (ties split)", _fmt),
        Column("ci95_clustered_ties_split", "95 % clustered interval", _interval_text),
        Column("p_holm_ties_split", "p (Holm)", _p),
    ),
    "abx": (
        Column("a", "A"),
        Column("b", "B"),
        _N,
        Column("n_correct", "Correct"),
        Column("proportion_correct", "Proportion correct", _fmt),
        _CLUSTERED,
        Column("p_value", "p (one-sided)", _p),
        _P_HOLM,
    ),
    # SMOS is in the CSV as an ACR report is (render.report_summary_csv).
    "smos": (
        Column("system", "System"),
        _N,
        Column("mos", "SMOS", _fmt),
        Column("ci95", "95 % t-interval", _interval_text),
        _CLUSTERED,
    ),
}
#: AB's Bradley-Terry ranking (the page's template writes its own headings).
RANKING: tuple[Column, ...] = (
    Column("rank", "Rank"),
    Column("system", "System"),
    Column("score", "Score", _fmt),
    Column("ci95", "95 % interval", _interval_text),
    Column("wins", "Wins"),
    Column("losses", "Losses"),
    Column("ties", "Ties"),
)
RANKING_COLUMNS = [c.key for c in RANKING]


def _page_rows(entries: list[dict], columns: tuple[Column, ...]) -> list[list[str]]:
    return [[c.cell(e[c.key]) for c in columns] + [e.get("note") or ""] for e in entries]


def _flat(columns: list[str]) -> list[str]:
    out = []
    for c in columns:
        out += [f"{c}_low", f"{c}_high"] if c.startswith("ci95") else [c]
    return out


def _cells(entry: dict | None, columns: list[str]) -> list[Any]:
    out: list[Any] = []
    for c in columns:
        value = (entry or {}).get(c)
        if c.startswith("ci95"):
            low, high = value if isinstance(value, list) else (None, None)
            out += [csv_cell(low), csv_cell(high)]
        else:
            out.append(csv_cell(value))
    return out


def comparison_summary_csv(report: dict) -> str:
    """The summary CSV of a comparative report: one row per comparison with its numbers for
    all listeners and ``*_after_exclusion``; AB adds the ranking rows (``section`` ranking)."""
    test = report["test"]
    if test == "smos":
        return report_summary_csv(report)
    columns = [c.key for c in COLUMNS[test]]
    key = "systems" if test == "ccr" else "pairs"
    name_columns = columns[:2]
    out = io.StringIO()
    writer = csv_writer(out)
    header = ["test", "section", *name_columns]
    numbers = columns[2:]
    header += _flat(numbers) + [f"{c}_after_exclusion" for c in _flat(numbers)] + ["note"]
    if test == "ab":
        header += _flat(RANKING_COLUMNS[2:]) + ["rank"]
    writer.writerow(header)
    after = {tuple(e[c] for c in name_columns): e for e in report[f"{key}_after_exclusion"]}
    tail = [""] * (len(_flat(RANKING_COLUMNS[2:])) + 1) if test == "ab" else []
    for entry in report[key]:
        names = [entry[c] for c in name_columns]
        writer.writerow(
            [
                test,
                "comparison",
                *names,
                *_cells(entry, numbers),
                *_cells(after.get(tuple(names)), numbers),
                entry.get("note") or "",
                *tail,
            ]
        )
    if test == "ab":
        blank = [""] * (2 * len(_flat(numbers)))
        for row in report["ranking_after_exclusion"]:
            writer.writerow(
                [
                    test,
                    "ranking_after_exclusion",
                    row["system"],
                    "",
                    *blank,
                    "",
                    *_cells(row, RANKING_COLUMNS[2:]),
                    row["rank"],
                ]
            )
    return out.getvalue()


# --- HTML -------------------------------------------------------------------------------------


TITLES = {
    "ccr": "CMOS (ITU-T P.800 Annex E comparison category rating, -3 … +3)",
    "ab": "AB preference",
    "abx": "ABX discrimination",
    "smos": "Speaker similarity MOS (1 Not at all similar … 5 Extremely similar)",
}


def _chart(report: dict, suffix: str, chart_id: str) -> str:
    test = report["test"]
    if test == "ccr":
        rows = [
            (f"{e['system']} vs {e['reference']}", e["cmos"], e["ci95_clustered"])
            for e in report["systems" + suffix]
        ]
        return svg_interval_chart(
            rows,
            scale=(-3, 3),
            null=0.0,
            chart_id=chart_id,
            title="CMOS, 95 % clustered intervals",
        )
    if test == "smos":
        rows = [(e["system"], e["mos"], e["ci95_clustered"]) for e in report["systems" + suffix]]
        return svg_interval_chart(
            rows,
            scale=(1, 5),
            null=None,
            chart_id=chart_id,
            title="SMOS, 95 % clustered intervals",
        )
    value = "preference_a" if test == "ab" else "proportion_correct"
    rows = [
        (
            f"{e['a']} over {e['b']}" if test == "ab" else f"{e['a']} / {e['b']}",
            e[value],
            e["ci95_clustered"],
        )
        for e in report["pairs" + suffix]
    ]
    title = "Share preferring the first system" if test == "ab" else "Proportion correct"
    return svg_interval_chart(
        rows, scale=(0, 1), null=0.5, chart_id=chart_id, title=f"{title}, 95 % clustered"
    )


def comparison_context(report: dict, *, title: str) -> dict[str, Any]:
    """The template context: headed tables and charts, for all listeners and after exclusion."""
    from django.utils.safestring import mark_safe  # Django only where HTML is rendered

    test = report["test"]
    key = "pairs" if test in ("ab", "abx") else "systems"
    sections = []
    for suffix, label in (("_after_exclusion", "after exclusions"), ("", "all listeners")):
        sections.append(
            {
                "label": label,
                "chart": mark_safe(_chart(report, suffix, f"chart{suffix or '-all'}")),
                "headers": [c.header for c in COLUMNS[test]] + ["Note"],
                "rows": _page_rows(report[key + suffix], COLUMNS[test]),
            }
        )
    ranking = [
        [c.cell(r[c.key]) for c in RANKING] for r in report.get("ranking_after_exclusion", [])
    ]
    order = report.get("order_effect_after_exclusion") or report.get(
        "position_effect_after_exclusion"
    )
    return {
        "title": title,
        "test": test,
        "heading": TITLES[test],
        "report": report,
        "sections": sections,
        "n_answers": report.get("n_answers", report.get("n_ratings")),
        "ranking": ranking,
        "ranking_prior": (report.get("bradley_terry_after_exclusion") or {}).get("prior"),
        "ranking_chart": mark_safe(
            svg_interval_chart(
                [
                    (r["system"], r["score"], r["ci95"])
                    for r in report.get("ranking_after_exclusion", [])
                ],
                scale=_ranking_scale(report.get("ranking_after_exclusion", [])),
                null=0.0,
                title="Bradley-Terry scores (log-odds), 95 % CI",
                chart_id="ranking",
            )
        )
        if ranking
        else "",
        "order": order,
        "order_interval": _interval_text(order["ci95_clustered"]) if order else "",
        "order_value": _fmt(
            order.get("mean_score_as_presented")
            if test == "ccr"
            else order.get("share_first_chosen")
        )
        if order
        else "",
        "order_p": _p(order.get("p_value")) if order else "",
        "excluded": report.get("excluded_listeners", []),
        "method": list(report.get("method", {}).items()),
        "warnings": report.get("warnings", []),
    }


def _ranking_scale(rows: list[dict]) -> tuple[float, float]:
    values = [v for r in rows for v in (r["ci95"] or []) + [r["score"]] if v is not None]
    bound = max([abs(v) for v in values] + [1.0])
    return (-bound, bound)


def comparison_html(report: dict, *, title: str) -> str:
    """A standalone HTML page of the report (Django settings must be configured)."""
    from django.template.loader import render_to_string  # Django only where HTML is rendered

    return render_to_string(
        "listening/analysis/report_comparative.html", comparison_context(report, title=title)
    )
