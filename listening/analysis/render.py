"""Render a MOS report (the dict of ``listening.analysis.stats.build_report``) as JSON, CSV or HTML.

Where this sits: ``stats.build_report`` makes the numbers; the ``mos_report`` command and the
researcher's download views call one of the functions here to turn them into a file. JSON and
CSV need no Django settings. The HTML report is one standalone page (inline CSS,
charts drawn on the server as inline SVG, no JavaScript, no external assets) rendered from
``templates/listening/analysis/report_standalone.html``, which draws the same report body
(``_mos_body.html``) as the site's report page; only that function needs Django configured.
The SVG builders are pure functions and escape every name they draw.
"""

from __future__ import annotations

import io
import json
from html import escape
from pathlib import Path
from typing import Any

from listening.analysis import page_tables
from listening.screening import ACR_SCREENING
from mos_site.spreadsheet import csv_writer

SCORE_LABELS = {1: "Bad", 2: "Poor", 3: "Fair", 4: "Good", 5: "Excellent"}  # ITU-T P.800 ACR
# ColorBrewer RdYlBu (5 classes): readable for the common colour-vision deficiencies.
SCORE_COLOURS = {1: "#d7191c", 2: "#fdae61", 3: "#ffffbf", 4: "#abd9e9", 5: "#2c7bb6"}
T_COLOUR = "#222222"
CLUSTERED_COLOUR = "#c2410c"
BAR_COLOUR = "#cbd5e1"
# The accompanying section's styles: linked by the report page, inlined into the standalone file.
ACCOMPANYING_CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "accompanying.css"


def report_json(report: dict) -> str:
    """The report as pretty-printed JSON (UTF-8 text, no NaN: the report already uses null)."""
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


SUMMARY_COLUMNS = [
    "system",
    "kind",
    "n",
    "n_listeners",
    "n_sentences",
    "mos",
    "sd",
    "median",
    "ci95_low",
    "ci95_high",
    "ci95_clustered_low",
    "ci95_clustered_high",
    "design_effect",
    "n_after_exclusion",
    "n_listeners_after_exclusion",
    "mos_after_exclusion",
    "sd_after_exclusion",
    "ci95_low_after_exclusion",
    "ci95_high_after_exclusion",
    "ci95_clustered_low_after_exclusion",
    "ci95_clustered_high_after_exclusion",
    "notes",
]


def csv_cell(value: Any) -> Any:
    """One value as the CSV downloads write it: empty for missing, floats to 6 decimals."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 6) + 0.0  # + 0.0: a rounded -0.0 is written as 0.0
    return value


def report_summary_csv(report: dict) -> str:
    """One row per system: n, MOS, SD, median, the t-interval and the clustered interval, for
    all listeners and after the screening's exclusions (columns ``*_after_exclusion``).
    Missing numbers are "n/a" and the ``notes`` column says why."""
    after = {s["system"]: s for s in report.get("systems_after_exclusion", [])}
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(SUMMARY_COLUMNS)
    for s in report["systems"]:
        a = after.get(s["system"], {})
        a_ci = a.get("ci95", [None, None])
        a_cc = a.get("ci95_clustered", [None, None])
        notes = [f"{k}: {v}" for k, v in (s.get("missing_reasons") or {}).items()]
        notes += [f"{k} after exclusion: {v}" for k, v in (a.get("missing_reasons") or {}).items()]
        row = [
            s["system"],
            s.get("kind"),
            s["n"],
            s["n_listeners"],
            s["n_sentences"],
            s["mos"],
            s["sd"],
            s["median"],
            s["ci95"][0],
            s["ci95"][1],
            s["ci95_clustered"][0],
            s["ci95_clustered"][1],
            s.get("design_effect"),
            a.get("n"),
            a.get("n_listeners"),
            a.get("mos"),
            a.get("sd"),
            a_ci[0],
            a_ci[1],
            a_cc[0],
            a_cc[1],
        ]
        writer.writerow(summary_cells(row, "; ".join(notes)))
    return out.getvalue()


def summary_cells(row: list[Any], notes: str) -> list[Any]:
    """A summary CSV's row: its two name columns, then the numbers, a missing one "n/a" (why in
    the notes column, last), never an empty or "-0" cell."""
    cells = [v if v is not None or i < 2 else "n/a" for i, v in enumerate(row)]
    return [csv_cell(v) for v in cells] + [notes]


# --------------------------------------------------------------------------------------------
# SVG charts
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.{digits}f}"
    # A tiny negative number (round-off of an exact zero) must not print as "-0.00".
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _na(text: str, reason: str | None) -> str:
    """A formatted number, or "n/a (why)" when the report says why it is missing."""
    return f"n/a ({reason})" if text == "n/a" and reason else text


def _interval_text(ci: list[float | None] | None, digits: int = 2) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"[{_fmt(ci[0], digits)}, {_fmt(ci[1], digits)}]"


def _short(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


# Chart geometry in px, (label_w, plot_w, right, top, row_h, bottom), for a phone (True, 320 px
# wide) and for a wide screen (False).
_CI_LAYOUT = {True: (12, 250, 58, 62, 44, 36), False: (170, 460, 70, 58, 30, 36)}
_HISTOGRAM_LAYOUT = {True: (0, 320, 0, 52, 42, 6), False: (170, 460, 70, 40, 26, 10)}


def _layout(table: dict, compact: bool, rows: int) -> tuple[int, ...]:
    """``table``'s geometry for ``compact``, followed by the whole chart's width and height
    for ``rows`` rows (at least one, so an empty chart still has room for its message)."""
    label_w, plot_w, right, top, row_h, bottom = table[compact]
    width = label_w + plot_w + right
    height = top + row_h * max(rows, 1) + bottom
    return label_w, plot_w, right, top, row_h, bottom, width, height


def svg_mos_chart(systems: list[dict], *, compact: bool = False, chart_id: str = "mos") -> str:
    """Horizontal bar chart of MOS per system on the 1–5 scale with both 95 % intervals.

    The t-interval over ratings is a thin dark line just above the bar's centre, the clustered
    interval a thick orange line just below it: told apart by position, width and colour, and
    named in the legend. ``systems`` is the report's ``systems`` list.

    ``compact=True`` draws it 320 px wide for a phone: each system's name on its own line
    above its bar (shortened with "…" past 44 characters; the full name is in the tooltip and
    the description) and the legend in rows. ``chart_id`` prefixes the ids of the title and
    description, so several charts on one page each keep their own accessible name.
    """
    label_w, plot_w, right, top, row_h, bottom, width, height = _layout(
        _CI_LAYOUT, compact, len(systems)
    )
    # Compact rows hold the name on top and the bar below it; wide rows centre both.
    bar_dy = 8 if compact else 0

    def x(value: float) -> float:
        return label_w + (min(max(value, 1.0), 5.0) - 1.0) / 4.0 * plot_w

    desc = "; ".join(
        f"{s['system']}: MOS {_fmt(s['mos'])}, t-interval {_interval_text(s['ci95'])}, "
        f"clustered interval {_interval_text(s['ci95_clustered'])}, n = {s['n']}"
        for s in systems
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{chart_id}-title">Mean opinion score per system with 95 % confidence '
        "intervals</title>",
        f'<desc id="{chart_id}-desc">{escape(desc or "No systems.")}</desc>',
    ]
    # Legend: in one block beside the plot's start, or in three rows on a phone.
    if compact:
        lx, rows = 0, (13, 31, 49)
        t_text, c_text = "95 % t-interval (ignores clustering)", "95 % clustered interval"
        parts.append(
            f'<rect x="{lx}" y="{rows[0] - 5}" width="18" height="10" fill="{BAR_COLOUR}"/>'
            f'<text x="{lx + 24}" y="{rows[0] + 4}">MOS</text>'
        )
        legend_lines = ((rows[1], T_COLOUR, 1.5, t_text), (rows[2], CLUSTERED_COLOUR, 4, c_text))
        line_x = lx
    else:
        parts.append(
            f'<rect x="{label_w}" y="8" width="18" height="10" fill="{BAR_COLOUR}"/>'
            f'<text x="{label_w + 24}" y="17">MOS</text>'
        )
        legend_lines = (
            (13, T_COLOUR, 1.5, "95 % t-interval over ratings (ignores clustering)"),
            (33, CLUSTERED_COLOUR, 4, "95 % clustered interval (listeners × sentences)"),
        )
        line_x = label_w + 70
    for y, colour, stroke, text in legend_lines:
        parts.append(
            f'<line x1="{line_x}" y1="{y}" x2="{line_x + 30}" y2="{y}" stroke="{colour}" '
            f'stroke-width="{stroke}"/><text x="{line_x + 36}" y="{y + 4}">{text}</text>'
        )
    # Axis and grid.
    axis_y = top + row_h * max(len(systems), 1)
    for tick in range(1, 6):
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{axis_y}" stroke="#e2e8f0"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{axis_y + 14}" text-anchor="middle">{tick}</text>'
            f'<text x="{tx:.1f}" y="{axis_y + 27}" text-anchor="middle" fill="#555" '
            f'font-size="10">{SCORE_LABELS[tick]}</text>'
        )
    for i, s in enumerate(systems):
        cy = top + row_h * i + row_h / 2 + bar_dy
        name = str(s["system"])
        tip = escape(
            f"{s['system']}: MOS {_fmt(s['mos'], 3)} (n = {s['n']}); t-interval "
            f"{_interval_text(s['ci95'])}; clustered {_interval_text(s['ci95_clustered'])}"
        )
        parts.append(f"<g><title>{tip}</title>")
        if compact:
            parts.append(
                f'<text x="{label_w}" y="{cy - 13:.1f}" font-weight="600">'
                f"{escape(_short(name, 44))}</text>"
            )
        else:
            parts.append(
                f'<text x="{label_w - 8}" y="{cy + 4:.1f}" text-anchor="end">{escape(name)}</text>'
            )
        if s["mos"] is None:
            parts.append(f'<text x="{label_w + 4}" y="{cy + 4:.1f}" fill="#555">no ratings</text>')
            parts.append("</g>")
            continue
        parts.append(
            f'<rect x="{label_w}" y="{cy - 7:.1f}" width="{x(s["mos"]) - label_w:.1f}" '
            f'height="14" fill="{BAR_COLOUR}"/>'
        )
        ends = [s["mos"]]
        for ci, dy, colour, stroke in (
            (s["ci95"], -4, T_COLOUR, 1.5),
            (s["ci95_clustered"], 4, CLUSTERED_COLOUR, 4),
        ):
            if ci[0] is None or ci[1] is None:
                continue
            x1, x2, y = x(ci[0]), x(ci[1]), cy + dy
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="{stroke}"/>'
                f'<line x1="{x1:.1f}" y1="{y - 4:.1f}" x2="{x1:.1f}" y2="{y + 4:.1f}" '
                f'stroke="{colour}" stroke-width="1.5"/>'
                f'<line x1="{x2:.1f}" y1="{y - 4:.1f}" x2="{x2:.1f}" y2="{y + 4:.1f}" '
                f'stroke="{colour}" stroke-width="1.5"/>'
            )
            ends.append(ci[1])
        parts.append(f'<text x="{x(max(ends)) + 6:.1f}" y="{cy + 4:.1f}">{_fmt(s["mos"])}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def svg_histograms(systems: list[dict], *, compact: bool = False, chart_id: str = "hist") -> str:
    """Rating distribution per system: one 100 % stacked bar per system, segments for scores
    1–5 (a diverging palette with a legend), each segment titled with its count and share.

    ``compact=True``: 320 px wide for a phone, the legend in two rows and each system's name
    above its bar. ``chart_id`` prefixes the ids of the title and description."""
    label_w, plot_w, right, top, row_h, bottom, width, height = _layout(
        _HISTOGRAM_LAYOUT, compact, len(systems)
    )

    def shares(s: dict) -> list[tuple[int, int, float]]:
        counts = [int(s["histogram"].get(str(score), 0)) for score in SCORE_LABELS]
        total = sum(counts)
        return [(score, c, c / total if total else 0.0) for score, c in zip(SCORE_LABELS, counts)]

    desc = "; ".join(
        f"{s['system']}: " + ", ".join(f"{score}: {share:.0%}" for score, _, share in shares(s))
        for s in systems
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{chart_id}-title">Distribution of ratings 1–5 per system</title>',
        f'<desc id="{chart_id}-desc">{escape(desc or "No systems.")}</desc>',
    ]
    for j, (score, label) in enumerate(SCORE_LABELS.items()):
        if compact:
            lx, ly = (j % 3) * 106, 4 + (j // 3) * 20
        else:
            lx, ly = label_w + j * 92, 10
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="14" height="14" fill="{SCORE_COLOURS[score]}" '
            'stroke="#555" stroke-width="0.5"/>'
            f'<text x="{lx + 19}" y="{ly + 11}">{score} {label}</text>'
        )
    for i, s in enumerate(systems):
        y = top + row_h * i
        if compact:
            parts.append(
                f'<text x="0" y="{y + 2}" font-weight="600">{escape(_short(str(s["system"]), 36))}'
                f'</text><text x="{plot_w}" y="{y + 2}" text-anchor="end" fill="#555">'
                f"n = {s['n']}</text>"
            )
            y += 8
        else:
            parts.append(
                f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
                f"{escape(str(s['system']))}</text>"
            )
        offset = float(label_w)
        for score, count, share in shares(s):
            if count == 0:
                continue
            w = share * plot_w
            tip = escape(f"{s['system']}, score {score}: {count} ratings ({share:.1%})")
            parts.append(
                f'<rect x="{offset:.1f}" y="{y + 3}" width="{w:.1f}" height="18" '
                f'fill="{SCORE_COLOURS[score]}" stroke="#fff" stroke-width="0.5">'
                f"<title>{tip}</title></rect>"
            )
            offset += w
        if not compact:
            parts.append(
                f'<text x="{label_w + plot_w + 6}" y="{y + 15}" fill="#555">n = {s["n"]}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

MATRIX_TEXT = {">": "higher", "<": "lower", "=": "n.s."}
TEST_TEXT = {
    "clustered_t": "t on the clustered difference",
    # Reports cached before the clustered t test still name these.
    "wilcoxon_signed_rank": "Wilcoxon signed-rank",
    "mann_whitney_u": "Mann–Whitney U",
}


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _system_rows(systems: list[dict]) -> list[dict]:
    rows = []
    for s in systems:
        why = s.get("missing_reasons") or {}
        rows.append(
            {
                "system": s["system"],
                "kind": s.get("kind") or "",
                "n": s["n"],
                "n_listeners": s["n_listeners"],
                "n_sentences": s["n_sentences"],
                "mos": _na(_fmt(s["mos"], 3), why.get("mos")),
                "sd": _na(_fmt(s["sd"]), why.get("sd")),
                "median": _na(_fmt(s["median"], 1), why.get("median")),
                "ci95": _na(_interval_text(s["ci95"]), why.get("ci95")),
                "ci95_clustered": _na(
                    _interval_text(s["ci95_clustered"]), why.get("ci95_clustered")
                ),
                "design_effect": _fmt(s.get("design_effect")),
            }
        )
    return rows


def _pair_rows(pairs: list[dict]) -> list[dict]:
    return [
        {
            "a": p["system_a"],
            "b": p["system_b"],
            "test": TEST_TEXT.get(p["test"], "not testable"),
            "test_reason": p.get("test_reason") or "",
            "untestable": p["test"] is None,
            "n_pairs": "" if p["n_pairs"] is None else p["n_pairs"],
            "df": _fmt(p.get("df"), 1),
            "difference": _fmt(p["mean_difference"], 3),
            "difference_ci": _interval_text(p["mean_difference_ci95_clustered"]),
            "difference_ci_holm": _interval_text(p.get("mean_difference_ci_holm")),
            "p": _p(p["p_value"]),
            "p_holm": _p(p["p_holm"]),
            "significant": p["significant"],
            "better": p["better"] or "",
            "rank_biserial": _fmt(p["rank_biserial"]),
            "cliffs_delta": _fmt(p["cliffs_delta"]),
        }
        for p in pairs
    ]


def _matrix_rows(matrix: dict) -> list[dict]:
    rows = []
    for i, name in enumerate(matrix["systems"]):
        cells = []
        for j, symbol in enumerate(matrix["cells"][i]):
            if i == j:
                cells.append({"text": "—", "title": "", "css": "diag"})
            elif symbol is None:
                cells.append({"text": "n/a", "title": "not testable", "css": ""})
            else:
                css = {">": "higher", "<": "lower", "=": "ns"}[symbol]
                cells.append(
                    {
                        "text": MATRIX_TEXT[symbol],
                        "title": f"Holm-adjusted p = {_p(matrix['p_holm'][i][j])}",
                        "css": css,
                    }
                )
        rows.append({"system": name, "cells": cells})
    return rows


def _effect_text(effect: dict | None) -> str:
    """How each system's MOS moves without the listeners one rule flagged ("A +0.05, B -0.02")."""
    if not effect or not effect.get("flagged"):
        return ""
    shifts = effect.get("mos_shift") or {}
    return ", ".join(f"{name} {_signed(shift)}" for name, shift in shifts.items())


def _signed(value: float | None) -> str:
    text = _fmt(value)
    return text if text == "n/a" or text.startswith("-") else f"+{text}"


def _r(stats: dict | None) -> str:
    if not stats or stats.get("pearson") is None:
        return "n/a"
    return f"{stats['pearson']:+.2f} (n = {stats['n']})"


def objective_context(section: dict | None) -> dict[str, Any] | None:
    """Rows for the objective-metrics tables (``listening.analysis.objective_section``):
    one row per metric that has a value for some system, with each system's mean and 95 %
    t-interval over its clips and the metric's Pearson correlation with MOS across systems and
    across clips, and the site page's two tables of them (``metrics_table``,
    ``estimates_table``). None when the report has no such section; ``error`` when it failed."""
    if not section:
        return None
    if "error" in section:
        return {"error": section["error"], "rows": [], "systems": [], "notes": []}
    systems = [s["system"] for s in section.get("systems", [])]
    rows = []
    # The automatic MOS estimates first, right under the listeners' MOS they estimate.
    metrics = sorted(section.get("metrics", []), key=lambda m: m.get("group") != "estimate")
    for metric in metrics:
        key = metric["key"]
        cells = []
        for s in section["systems"]:
            summary = s["metrics"].get(key) or {}
            if not summary.get("n"):
                cells.append({"text": "–", "title": "not computed"})
                continue
            ci = summary.get("ci95")
            text = _fmt(summary["mean"], 3 if abs(summary["mean"]) < 10 else 1)
            if ci and ci[0] is not None:
                text += f" ± {(ci[1] - ci[0]) / 2:.{3 if abs(summary['mean']) < 10 else 1}f}"
            cells.append({"text": text, "title": f"{s['system']}: n = {summary['n']} clips"})
        if all(c["text"] == "–" for c in cells):
            continue
        correlations = section.get("correlations", {})
        rows.append(
            {
                "key": key,
                "label": metric["label"],
                "unit": metric.get("unit") or "",
                "better": metric.get("better") or "",
                "cells": cells,
                "r_systems": _r(correlations.get("systems", {}).get(key)),
                "r_clips": _r(correlations.get("clips", {}).get(key)),
            }
        )
    labels = {m["key"]: m["label"] for m in metrics}
    estimates = []
    for key, scopes in (section.get("agreement") or {}).items():
        for scope in ("systems", "clips"):
            stats = scopes.get(scope) or {}
            if not stats.get("n"):
                continue
            estimates.append(
                {
                    "key": key,
                    "label": labels.get(key, key),
                    "scope": scope,
                    "n": stats["n"],
                    "pearson": _fmt(stats.get("pearson"), 2),
                    "spearman": _fmt(stats.get("spearman"), 2),
                    "rmse": _fmt(stats.get("rmse"), 3),
                    "rmse_star": _fmt(stats.get("rmse_star"), 3) if scope == "systems" else "",
                    "mean_error": _fmt(stats.get("mean_error"), 3),
                }
            )
    context = {
        "error": "",
        "systems": systems,
        "mos": [_fmt(s.get("mos"), 3) for s in section.get("systems", [])],
        "rows": rows,
        "estimates": estimates,
        "reference_system": section.get("reference_system"),
        "n_clips": section.get("n_clips"),
        "n_computed": section.get("n_computed"),
        "pending": section.get("pending", 0),
        "notes": section.get("notes", []),
    }
    # The same rows as the site page's tables (``_data_table.html``).
    context["metrics_table"] = page_tables.objective_metrics_table(context)
    context["estimates_table"] = page_tables.objective_estimates_table(estimates)
    return context


def _threshold_rows(rules: dict[str, Any]) -> list[dict[str, Any]]:
    """The screening settings the report was built with: the settings form's label (none for
    a tuning knob the form does not show), the name as the JSON and the API spell it, and the
    value ("on" or "off" for a switch, "off" for a threshold that is switched off)."""
    known = ACR_SCREENING.settings_by_name
    # In the form's order (a report stored as jsonb comes back with its keys reordered),
    # settings this set does not know last.
    order = {name: i for i, name in enumerate(known)}
    return [
        {
            "name": name,
            "label": known[name].label if name in known else "",
            # "is", not "in (None, False)": a threshold of 0 is a number, not "off".
            "value": "on" if value is True else "off" if value is None or value is False else value,
        }
        for name, value in sorted(rules.items(), key=lambda item: order.get(item[0], len(order)))
    ]


def report_html(report: dict, *, title: str) -> str:
    """A standalone HTML page: the site's report body (``_mos_body.html``: summary tables for
    all listeners and after exclusion, inline SVG charts, the significance matrix, pairwise
    tests, screening, follow-ups, objective metrics, accompanying information, ratings needed
    and the method) without the site's downloads, funnel and links. Rendered with Django's
    template engine (settings must be configured)."""
    from django.template.loader import render_to_string
    from django.utils.safestring import mark_safe

    # One size of each chart: a file has no phone layout to switch to.
    context = report_context(report, title=title, compact_charts=False)
    # The one source of these rules, which the site's report page links instead.
    context["accompanying_css"] = mark_safe(ACCOMPANYING_CSS.read_text(encoding="utf-8"))
    return render_to_string("listening/analysis/report_standalone.html", context)


def report_context(report: dict, *, title: str, compact_charts: bool = True) -> dict[str, Any]:
    """The template context of a report's body (``_mos_body.html``): rows of formatted numbers
    and the SVG charts (marked safe: the builders escape every name), and with
    ``compact_charts`` a phone-width copy of each chart. Shared by the standalone report and
    the site's report page (``templates/listening/analysis/report.html``)."""
    from django.utils.safestring import mark_safe

    screening = report["screening"]
    listeners = {row["listener"]: row for row in report.get("listeners", [])}
    excluded = []
    for entry in report["excluded_listeners"]:
        row = listeners.get(entry["listener"], {})
        excluded.append(
            {
                "listener": entry["listener"],
                # Listeners excluded by hand are not in the listener table (see
                # listening.analysis.reports): their entry carries its own count.
                "n": row.get("n", entry.get("n_ratings", "")),
                "reasons": entry["reasons"],
            }
        )
    context = {
        "title": title,
        "report": report,
        "screening_enabled": screening["enabled"],
        "systems_all": _system_rows(report["systems"]),
        "systems_after": _system_rows(report["systems_after_exclusion"]),
        "mos_chart_after": mark_safe(
            svg_mos_chart(report["systems_after_exclusion"], chart_id="mos-after")
        ),
        "mos_chart_all": mark_safe(svg_mos_chart(report["systems"], chart_id="mos-all")),
        "histograms_after": mark_safe(
            svg_histograms(report["systems_after_exclusion"], chart_id="hist-after")
        ),
        "pairs_after": _pair_rows(report["pairs_after_exclusion"]),
        "pairs_all": _pair_rows(report["pairs"]),
        "matrix_systems": report["significance_matrix_after_exclusion"]["systems"],
        "matrix_rows": _matrix_rows(report["significance_matrix_after_exclusion"]),
        "rules": _threshold_rows(screening["rules"]),
        "rule_counts": [
            {
                "name": name,
                "text": screening["rule_descriptions"].get(name, ""),
                "fired": fired,
                "evaluated": screening["evaluated"].get(name, 0),
                "applied": name not in screening.get("suspended", []),
                "effect": _effect_text((screening.get("effects") or {}).get(name)),
            }
            for name, fired in screening["fired"].items()
        ],
        "excluded": excluded,
        "ratings_needed": [
            {
                "system": r["system"],
                "n": r["n"],
                "half_width": _fmt(r["ci95_clustered_half_width"], 3),
                "target": _fmt(r["target_half_width"], 3),
                "additional": "n/a" if r["additional_ratings"] is None else r["additional_ratings"],
                "additional_upper": (
                    "n/a"
                    if r.get("additional_ratings_upper80") is None
                    else r["additional_ratings_upper80"]
                ),
                "sentences_upper": r.get("total_sentences_upper80") or "n/a",
                "note": r.get("note") or "",
            }
            for r in report["ratings_needed"]
        ],
        "pair_test_reasons": sorted(
            {p.get("test_reason") for p in report["pairs_after_exclusion"] if p.get("test")}
            - {None}
        ),
        "method": list(report["method"].items()),
        "objective": objective_context(report.get("objective")),
        "listener_rows": _listener_rows(report),
        "warnings": report.get("warnings", []),
    }
    if compact_charts:
        # Phone-width versions of the same charts (the site's page shows one or the other).
        after, everyone = report["systems_after_exclusion"], report["systems"]
        context["mos_chart_after_compact"] = mark_safe(
            svg_mos_chart(after, compact=True, chart_id="mos-after-compact")
        )
        context["mos_chart_all_compact"] = mark_safe(
            svg_mos_chart(everyone, compact=True, chart_id="mos-all-compact")
        )
        context["histograms_after_compact"] = mark_safe(
            svg_histograms(after, compact=True, chart_id="hist-after-compact")
        )
    return context


def _listener_rows(report: dict) -> list[dict]:
    """The per-listener screening table, listeners who broke a rule first."""

    def num(value: float | None, digits: int = 2) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    rows = [
        {
            "listener": row["listener"],
            "n": row["n"],
            "mos": num(row["mos"]),
            "gold": f"{row['gold_failures']}/{row['n_gold']}" if row["n_gold"] else "",
            "repeats": (
                f"{row['inconsistent_repeats']}/{row['n_repeats']}" if row["n_repeats"] else ""
            ),
            "reference": num(row["reference_mean"]),
            "anchor": num(row["anchor_mean"]),
            "seconds": num(row["median_response_seconds"], 1),
            "correlation": num(row["correlation"]),
            "rules": ", ".join(row["rules_fired"]),
            "excluded": row["excluded"],
        }
        for row in report.get("listeners", [])
    ]
    rows.sort(key=lambda r: (not r["rules"], not r["excluded"]))
    return rows
