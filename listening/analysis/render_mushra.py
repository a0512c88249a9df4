"""Render a MUSHRA report (``listening.analysis.stats.mushra.mushra_report``) as CSV, HTML and SVG.

Where this sits: beside ``render`` (the MOS report's renderers); ``mos_report --test mushra``
and the site's report page and downloads call these. The report has one body for the site and
the standalone file, as the MOS and comparative reports have: :func:`mushra_context` builds
what ``templates/listening/analysis/_scored_report.html`` draws (tables as data from
``page_tables``), the site page (``report_scored_page.html``) wraps it with its downloads, and
:func:`mushra_html` renders it into ``report_scored.html``, a standalone file (one stylesheet
in its head, no script, no external asset). The box plot is SVG with presentation attributes
only (no ``style`` attribute), so the site can embed it under its Content Security Policy.
Every name drawn or printed is escaped.
"""

from __future__ import annotations

import io
import math
from html import escape
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from mos_site.spreadsheet import csv_writer

from . import page_tables
from .render import _fmt as _fmt_number
from .render import _interval_text, report_json, summary_cells
from .stats.mushra import screening_counts

__all__ = [
    "mushra_context",
    "mushra_html",
    "mushra_json",
    "mushra_summary_csv",
    "svg_mushra_boxplot",
]

# BS.1534-3's five bands of the continuous quality scale, bottom to top.
BANDS = ((0, "Bad"), (20, "Poor"), (40, "Fair"), (60, "Good"), (80, "Excellent"))
BOX_FILL = "#cbd5e1"
ROLE_FILL = {"hidden_reference": "#abd9e9", "anchor35": "#fdae61", "anchor70": "#fee090"}
LINE = "#222222"
CLUSTERED = "#c2410c"
# The conditions' names under the boxes: slanted by this many degrees, cut at this many
# characters, about this many pixels a character at the chart's 12 px.
LABEL_ANGLE = 40
LABEL_CHARS = 34
CHAR_PX = 6.6
ROLE_TEXT = {
    "hidden_reference": "hidden ref.",
    "reference": "reference",
    "anchor35": "low anchor",
    "anchor70": "mid anchor",
}

SUMMARY_COLUMNS = [
    "system",
    "role",
    "n",
    "n_listeners",
    "n_sentences",
    "mean",
    "median",
    "sd",
    "ci95_low",
    "ci95_high",
    "ci95_clustered_low",
    "ci95_clustered_high",
    "n_all_listeners",
    "mean_all_listeners",
    "ci95_clustered_low_all_listeners",
    "ci95_clustered_high_all_listeners",
    "notes",
]


def mushra_json(report: dict) -> str:
    return report_json(report)


def mushra_summary_csv(report: dict) -> str:
    """One row per condition: after the exclusions, and for all listeners (``*_all_listeners``)."""
    everyone = {s["system"]: s for s in report["without_exclusions"]["systems"]}
    after = {s["system"]: s for s in report["systems"]}
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(SUMMARY_COLUMNS)
    for name, e in everyone.items():
        s = after.get(name, {})
        ci, cc = s.get("ci95", [None, None]), s.get("ci95_clustered", [None, None])
        row = [
            name,
            e["role"],
            s.get("n"),
            s.get("n_listeners"),
            s.get("n_sentences"),
            s.get("mean"),
            s.get("median"),
            s.get("sd"),
            ci[0],
            ci[1],
            cc[0],
            cc[1],
            e["n"],
            e["mean"],
            e["ci95_clustered"][0],
            e["ci95_clustered"][1],
        ]
        notes = "; ".join(s.get("notes", []) + [f"all listeners: {n}" for n in e["notes"]])
        writer.writerow(summary_cells(row, notes))
    return out.getvalue()


def _fmt(value: float | None, digits: int = 1) -> str:
    """A 0-100 score: one decimal unless told otherwise."""
    return _fmt_number(value, digits)


def _interval(ci: list[float | None]) -> str:
    return _interval_text(ci, 1)


def _condition_label(system: dict) -> str:
    """A condition's name under its box, with its role unless the name says it already; cut
    at :data:`LABEL_CHARS` (the tooltip and the description have the whole name)."""
    name = str(system["system"])
    role = ROLE_TEXT.get(system["role"])
    label = name if role is None or name == system["role"] else f"{name} ({role})"
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def svg_mushra_boxplot(systems: list[dict], *, chart_id: str = "mushra-box") -> str:
    """Vertical Tukey box plot per condition on the 0-100 scale, BS.1534's bands labelled,
    with the mean as a diamond and the clustered 95 % interval as an orange bar beside the box.

    ``systems`` is the report's ``systems`` list (each with ``box``). The chart scales to its
    container (``viewBox``); every condition's numbers are in its tooltip and the description.
    """
    labels = [_condition_label(s) for s in systems]
    # Names are drawn slanted, so a long one (a checkpoint's name) stays readable: its drop
    # below the axis and its reach left of the first column come from its length.
    longest = max((len(label) for label in labels), default=0) * CHAR_PX
    drop = longest * math.sin(math.radians(LABEL_ANGLE))
    reach = longest * math.cos(math.radians(LABEL_ANGLE))
    top, plot_h, slot = 24, 300, 64
    left = max(80, math.ceil(reach - slot / 2 + 8))
    bottom = math.ceil(drop) + 72
    # At least wide enough for the legend, however few the conditions.
    width = max(left + slot * max(len(systems), 1) + 16, 400)
    height = top + plot_h + bottom

    def y(score: float) -> float:
        return top + (100.0 - min(max(score, 0.0), 100.0)) / 100.0 * plot_h

    desc = "; ".join(
        f"{s['system']} ({s['role']}): mean {_fmt(s['mean'])}, median {_fmt(s['median'])}, "
        f"clustered 95 % interval {_interval(s['ci95_clustered'])}, n = {s['n']}"
        for s in systems
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{chart_id}-title">MUSHRA scores per condition (box plot, 0-100)</title>',
        f'<desc id="{chart_id}-desc">{escape(desc or "No conditions.")}</desc>',
    ]
    right = left + slot * max(len(systems), 1)
    for low, label in BANDS:
        parts.append(
            f'<line x1="{left}" y1="{y(low):.1f}" x2="{right}" y2="{y(low):.1f}" '
            'stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y(low) + 4:.1f}" text-anchor="end">{low}</text>'
            f'<text x="4" y="{y(low + 10) + 4:.1f}" fill="#555">{label}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{y(100):.1f}" x2="{right}" y2="{y(100):.1f}" stroke="#e2e8f0"/>'
        f'<text x="{left - 6}" y="{y(100) + 4:.1f}" text-anchor="end">100</text>'
    )
    for i, s in enumerate(systems):
        cx = left + slot * i + slot / 2
        tip = escape(
            f"{s['system']} ({s['role']}): mean {_fmt(s['mean'], 2)}, median "
            f"{_fmt(s['median'], 2)}, clustered 95 % {_interval(s['ci95_clustered'])}, "
            f"n = {s['n']}"
        )
        parts.append(f"<g><title>{tip}</title>")
        ly = top + plot_h + 14
        parts.append(
            f'<text x="{cx:.1f}" y="{ly}" text-anchor="end" '
            f'transform="rotate(-{LABEL_ANGLE} {cx:.1f} {ly})">{escape(labels[i])}</text>'
        )
        box = s.get("box")
        if not box:
            parts.append(
                f'<text x="{cx:.1f}" y="{y(50):.1f}" text-anchor="middle" fill="#555">'
                "no ratings</text></g>"
            )
            continue
        half = 16
        fill = ROLE_FILL.get(s["role"], BOX_FILL)
        parts.append(
            f'<line x1="{cx:.1f}" y1="{y(box["whisker_low"]):.1f}" x2="{cx:.1f}" '
            f'y2="{y(box["whisker_high"]):.1f}" stroke="{LINE}"/>'
        )
        for end in (box["whisker_low"], box["whisker_high"]):
            parts.append(
                f'<line x1="{cx - 8:.1f}" y1="{y(end):.1f}" x2="{cx + 8:.1f}" y2="{y(end):.1f}" '
                f'stroke="{LINE}"/>'
            )
        top_q, low_q = y(box["q3"]), y(box["q1"])
        parts.append(
            f'<rect x="{cx - half:.1f}" y="{top_q:.1f}" width="{2 * half}" '
            f'height="{max(low_q - top_q, 1):.1f}" fill="{fill}" stroke="{LINE}"/>'
            f'<line x1="{cx - half:.1f}" y1="{y(box["median"]):.1f}" x2="{cx + half:.1f}" '
            f'y2="{y(box["median"]):.1f}" stroke="{LINE}" stroke-width="2.5"/>'
        )
        for value in box["outliers"]:
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{y(value):.1f}" r="2.5" fill="none" stroke="{LINE}"/>'
            )
        if s["mean"] is not None:
            my = y(s["mean"])
            parts.append(
                f'<path d="M{cx:.1f} {my - 5:.1f} L{cx + 5:.1f} {my:.1f} L{cx:.1f} {my + 5:.1f} '
                f'L{cx - 5:.1f} {my:.1f} Z" fill="#ffffff" stroke="{LINE}"/>'
            )
        lo, hi = s["ci95_clustered"]
        if lo is not None and hi is not None:
            bx = cx + half + 6
            parts.append(
                f'<line x1="{bx:.1f}" y1="{y(lo):.1f}" x2="{bx:.1f}" y2="{y(hi):.1f}" '
                f'stroke="{CLUSTERED}" stroke-width="4"/>'
            )
        parts.append("</g>")
    legend_y = top + plot_h + math.ceil(drop) + 36
    parts.append(
        f'<path d="M{left + 5} {legend_y - 5} L{left + 10} {legend_y} L{left + 5} {legend_y + 5} '
        f'L{left} {legend_y} Z" fill="#ffffff" stroke="{LINE}"/>'
        f'<text x="{left + 16}" y="{legend_y + 4}">mean (box: quartiles and median)</text>'
        f'<line x1="{left + 5}" y1="{legend_y + 14}" x2="{left + 5}" y2="{legend_y + 26}" '
        f'stroke="{CLUSTERED}" stroke-width="4"/>'
        f'<text x="{left + 16}" y="{legend_y + 24}">95 % clustered interval '
        "(listeners × sentences)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def mushra_context(report: dict, *, title: str) -> dict[str, Any]:
    """The template context of ``_scored_report.html`` for a MUSHRA report: the box plot
    (server-side SVG, marked safe: it escapes every name), the tables (``page_tables``), the
    headings and the warnings. The site's report page adds its downloads to it; the standalone
    page (:func:`mushra_html`) is drawn from it alone. A report without the site's screening
    counts (``mos_report --test mushra`` on a CSV) gets them from its screening here."""
    screening = {**screening_counts(report["screening"]), **report["screening"]}
    report = {**report, "screening": screening}
    rules = [
        {
            "name": name,
            "label": label,
            "fired": screening["fired"].get(name, 0),
            "evaluated": screening["evaluated"].get(name, 0),
        }
        for name, label in screening["rule_labels"].items()
    ]
    everyone = report.get("without_exclusions", {}).get("systems", [])
    return {
        "title": title,
        "report": report,
        "heading": _("MUSHRA report"),
        "standalone_heading": _("MUSHRA report"),
        "boxplot": mark_safe(svg_mushra_boxplot(report["systems"])),  # noqa: S308
        "conditions_table": page_tables.mushra_conditions_table(
            report["systems"], _("Scores per condition after exclusions")
        ),
        "conditions_all_table": page_tables.mushra_conditions_table(
            everyone, _("Scores per condition, all listeners")
        ),
        "pairs_table": page_tables.mushra_pairs_table(report["pairs"]),
        "rules_table": page_tables.mushra_rules_table(rules),
        "excluded_table": page_tables.mushra_excluded_table(report["excluded_listeners"], rules),
        "warnings": report.get("warnings", []),
    }


def mushra_html(report: dict, *, title: str) -> str:
    """The standalone HTML page: the site page's report (:func:`mushra_context`) in a file of
    its own (``report_scored.html``). Django's settings must be configured."""
    return render_to_string(
        "listening/analysis/report_scored.html", mushra_context(report, title=title)
    )
