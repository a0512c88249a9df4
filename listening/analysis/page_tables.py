"""The MUSHRA and transcription reports' tables as data: a caption, the column heads and
rows of a header cell and value cells, drawn by the one include
``templates/listening/analysis/_data_table.html``.

Where it sits: ``render_mushra.mushra_context`` and
``render_transcription.transcription_context`` build these from a built report's dict for
``_scored_report.html``, the report body that the site page (``report_scored_page.html``) and
the standalone file (``report_scored.html``) share. Why data and not markup: the conditions,
the pairs, the post-screening, the error rates and the errors per word were each a copy of the
same table markup (scroll box, caption, heads, numeric cells); now the markup is written once,
and what differs (which numbers, how they are formatted) is said here, where it can be tested.
Numbers are formatted in the page's locale (``django.utils.formats.number_format``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

NUM = "num"
WRAP = "wrap"


def column(label: str, kind: str = "") -> dict[str, str]:
    """A column head; ``kind`` (:data:`NUM`, :data:`WRAP`) styles the head and its cells."""
    return {"label": label, "kind": kind}


def data_table(
    *,
    caption: str,
    columns: Sequence[dict[str, str]],
    rows: Iterable[tuple[Any, Sequence[Any], str]],
    empty: str = "",
    caption_hidden: bool = False,
    id: str = "",
) -> dict[str, Any]:
    """A table for ``_data_table.html``: ``columns[0]`` heads the row headers, each row is
    (header, the values of the other columns, the row's class or ""); ``id`` is the table
    element's, for a page's links and scripts."""
    values_columns = columns[1:]
    return {
        "caption": caption,
        "caption_hidden": caption_hidden,
        "id": id,
        "columns": list(columns),
        "rows": [
            {
                "header": header,
                "kind": kind,
                "cells": [
                    {"text": value, "kind": c["kind"]}
                    for value, c in zip(values, values_columns, strict=True)
                ],
            }
            for header, values, kind in rows
        ],
        "empty": empty,
    }


def number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else number_format(round(float(value), digits), digits)


def interval(ci: Sequence[float | None] | None, digits: int = 1) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"{number(ci[0], digits)} – {number(ci[1], digits)}"


def p_value(value: float | None) -> str:
    """A p value to four places; below 0.0001 it says so rather than print a zero."""
    if value is None:
        return "n/a"
    return "< " + number(0.0001, 4) if value < 1e-4 else number(value, 4)


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{number(100 * value, 1)} %"


def percent_interval(ci: Sequence[float | None] | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"{percent(ci[0])} – {percent(ci[1])}"


# --- MUSHRA ----------------------------------------------------------------------------------


def role_text(role: str) -> str:
    return {
        "hidden_reference": _("hidden reference"),
        "anchor35": _("low anchor (3.5 kHz)"),
        "anchor70": _("mid anchor (7 kHz)"),
    }.get(role, _("under test"))


def mushra_conditions_table(systems: list[dict], caption: str) -> dict[str, Any]:
    """Per condition: role, n, mean, median, the naive and the clustered 95 % interval."""
    return data_table(
        caption=caption,
        columns=[
            column(_("Condition")),
            column(_("Role")),
            column("n", NUM),
            column(_("Mean"), NUM),
            column(_("Median"), NUM),
            column(_("95 % t"), NUM),
            column(_("95 % clustered"), NUM),
        ],
        rows=(
            (
                s["system"],
                [
                    role_text(s["role"]),
                    s["n"],
                    number(s["mean"]),
                    number(s["median"]),
                    interval(s.get("ci95")),
                    interval(s.get("ci95_clustered")),
                ],
                "",
            )
            for s in systems
        ),
        empty=_("No scores after the exclusions."),
    )


def mushra_pairs_table(pairs: list[dict]) -> dict[str, Any]:
    """Every pair of conditions: paired trials, the mean difference and its clustered interval,
    both Holm-corrected p values and which is higher."""
    return data_table(
        caption=_("Differences between pairs of conditions"),
        caption_hidden=True,
        columns=[
            column(_("Pair")),
            column(_("Paired trials"), NUM),
            column(_("Mean difference"), NUM),
            column(_("95 % clustered"), NUM),
            column(_("p (clustered, Holm)"), NUM),
            column(_("p (Wilcoxon, Holm)"), NUM),
            column(_("Higher")),
        ],
        rows=(
            (
                f"{e['system_a']} − {e['system_b']}",
                [
                    e["n_pairs"],
                    number(e["mean_difference"]),
                    interval(e.get("mean_difference_ci95_clustered")),
                    p_value(e.get("clustered_p_holm")),
                    p_value(e.get("wilcoxon_p_holm")),
                    e.get("better") or "—",
                ],
                "",
            )
            for e in pairs
        ),
        empty=_("No pairs."),
    )


def mushra_rules_table(rules: list[dict]) -> dict[str, Any]:
    """The post-screening rules with the listeners each flagged and could judge."""
    return data_table(
        caption=_("Rules and the listeners each flagged"),
        columns=[column(_("Rule")), column(_("Flagged"), NUM), column(_("Listeners judged"), NUM)],
        rows=((r["label"], [r["fired"], r["evaluated"]], "") for r in rules),
    )


def mushra_excluded_table(excluded: list[dict], rules: list[dict]) -> dict[str, Any]:
    """The excluded listeners with the rules (by their labels) and the reason."""
    labels = {r["name"]: r["label"] for r in rules} | {"manual": _("Excluded by hand")}
    return data_table(
        caption=_("Excluded listeners"),
        columns=[column(_("Listener")), column(_("Rules")), column(_("Reason"), WRAP)],
        rows=(
            (
                e["listener"],
                [", ".join(str(labels.get(name, name)) for name in e["rules"]), e["reason"]],
                "excluded",
            )
            for e in excluded
        ),
    )


# --- Transcription ---------------------------------------------------------------------------


def transcription_rates_table(systems: list[dict]) -> dict[str, Any]:
    """Per system: answers, WER and CER with their clustered intervals, sentences all right."""
    return data_table(
        caption=_("Word and character error rates per system"),
        caption_hidden=True,
        columns=[
            column(_("System")),
            column(_("Answers"), NUM),
            column("WER", NUM),
            column(_("95 % clustered"), NUM),
            column("CER", NUM),
            column(_("95 % clustered"), NUM),
            column(_("Sentences all right"), NUM),
        ],
        rows=(
            (
                s["system"],
                [
                    s["n"],
                    percent(s["wer"]),
                    percent_interval(s["ci95_clustered"]),
                    percent(s["cer"]),
                    percent_interval(s["cer_ci95_clustered"]),
                    percent(s["sentences_correct"]),
                ],
                "",
            )
            for s in systems
        ),
    )


def word_errors_table(words: list[dict], caption: str) -> dict[str, Any]:
    """Per reference word: heard, right, substituted, missed, its error rate, what was typed."""
    return data_table(
        caption=caption,
        columns=[
            column(_("Word")),
            column(_("Heard"), NUM),
            column(_("Right"), NUM),
            column(_("Other word"), NUM),
            column(_("Missed"), NUM),
            column(_("Error rate"), NUM),
            column(_("Typed instead"), WRAP),
        ],
        rows=(
            (
                e["word"],
                [
                    e["n"],
                    e["correct"],
                    e["substituted"],
                    e["deleted"],
                    number(e["error_rate"], 2),
                    ", ".join(f"{typed} ({n})" for typed, n in e["typed_instead"]),
                ],
                "",
            )
            for e in words
        ),
        empty=_("No words."),
    )


# --- Objective metrics (MOS report) ----------------------------------------------------------


def objective_metric_header(row: dict) -> str:
    """A metric's row header: its label, and under it its unit and which way is better."""
    notes = [row["unit"]] if row["unit"] else []
    if row["better"]:
        notes.append(_("%(better)s is better") % {"better": row["better"]})
    if not notes:
        return row["label"]
    return format_html('{}<br><small class="hint">{}</small>', row["label"], " · ".join(notes))


def objective_metrics_table(objective: dict) -> dict[str, Any]:
    """The objective section's metrics (rows of ``render.objective_context``): the listeners'
    MOS, then a row per metric with each system's mean ± half-width (its title says over how
    many clips) and the metric's correlation with MOS across systems and across clips."""
    table = data_table(
        caption=_("Objective metrics per system"),
        caption_hidden=True,
        id="objective-metrics",
        columns=[
            column(_("Metric"), WRAP),
            *(column(name, NUM) for name in objective["systems"]),
            column(_("r with MOS, systems"), NUM),
            column(_("r with MOS, clips"), NUM),
        ],
        rows=[
            ("MOS", [*objective["mos"], "", ""], ""),
            *(
                (
                    objective_metric_header(row),
                    [*(c["text"] for c in row["cells"]), row["r_systems"], row["r_clips"]],
                    "",
                )
                for row in objective["rows"]
            ),
        ],
    )
    for drawn, row in zip(table["rows"][1:], objective["rows"], strict=True):
        for cell, source in zip(drawn["cells"], row["cells"], strict=False):
            cell["title"] = source["title"]  # the two correlation cells have none
    return table


def objective_estimates_table(estimates: list[dict]) -> dict[str, Any]:
    """The automatic MOS estimates against the listeners (P.1401 agreement), across systems
    and across clips: n, Pearson r, Spearman ρ, RMSE, RMSE* and the mean error."""
    return data_table(
        caption=_("Automatic MOS estimates against the listeners"),
        caption_hidden=True,
        id="objective-estimates",
        columns=[
            column(_("Estimate"), WRAP),
            column(_("Across")),
            column("n", NUM),
            column("r", NUM),
            column("ρ", NUM),
            column("RMSE", NUM),
            column("RMSE*", NUM),
            column(_("Mean error"), NUM),
        ],
        rows=(
            (
                e["label"],
                [
                    _("systems") if e["scope"] == "systems" else _("clips"),
                    e["n"],
                    e["pearson"],
                    e["spearman"],
                    e["rmse"],
                    e["rmse_star"],
                    e["mean_error"],
                ],
                "",
            )
            for e in estimates
        ),
    )
