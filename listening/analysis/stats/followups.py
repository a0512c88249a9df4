"""Per-clip yes/no follow-up questions ("Did you hear any mispronounced word?") as proportions.

Where it sits: any test type's table (ACR, MUSHRA, transcription, ...) may carry one column
``followup_<name>`` per question, one answer per row: yes/no (also y/n, true/false, 1/0; blank
when the question was not asked for that clip). :func:`add_followups` adds a ``followups``
section to that test's report: per question and system the share of "yes" with a 95 % interval
that respects the two-way (listeners x sentences) clustering (:func:`proportion_interval`).
Rows need ``listener``, ``sentence`` and ``system``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .clustered import GroupMean, clustered_group_means
from .table import jsonable, num, where
from .variance import t_quantile

PREFIX = "followup_"
_YES = {"yes", "y", "true", "t", "1"}
_NO = {"no", "n", "false", "f", "0"}


def followup_columns(frame: pd.DataFrame) -> list[str]:
    return [
        str(c) for c in frame.columns if str(c).startswith(PREFIX) and len(str(c)) > len(PREFIX)
    ]


def _answers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """1.0 for yes, 0.0 for no, NaN for blank; anything else is an error naming the rows."""
    text = frame[column].astype("string").str.strip().str.lower().fillna("")
    bad = ~(text.isin(_YES) | text.isin(_NO) | text.eq("")).to_numpy()
    if bad.any():
        raise ValueError(
            f"Column {column!r} must be yes or no (or blank when not asked); it is "
            f"{str(frame[column][bad].iloc[0])!r} at {where(frame, bad)}."
        )
    out = np.full(len(frame), np.nan)
    out[text.isin(_YES).to_numpy()] = 1.0
    out[text.isin(_NO).to_numpy()] = 0.0
    return out


def proportion_interval(entry: GroupMean, n_listeners: int) -> list:
    """The 95 % interval of a share of "yes" (``entry``: its clustered mean, SE and df).

    A Wald interval (share +/- t SE, cut to 0-1) is too short near 0 and 1 and has no width at
    all when every answer is the same. So this is Wilson's score interval (Wilson 1927) at the
    effective sample size that the two-way clustered SE implies, n_eff = p(1-p) / SE^2 (never
    more than the answers; Korn & Graubard 1998 do the same for survey proportions), with the
    t quantile of the clustered df in place of z. When every answer is the same the SE is 0
    and says nothing about the clustering; n_eff is then the number of listeners who answered
    (each gave at least one independent answer) and df one less: 15 "yes" of 15 from 5
    listeners gives [0.39, 1], not [1, 1]. [None, None] when one listener answered, or the SE
    cannot be estimated."""
    p = entry.mean
    if entry.n == 0 or not math.isfinite(p):
        return [None, None]
    if entry.se > 0 and math.isfinite(entry.se) and 0 < p < 1:
        if not math.isfinite(entry.df):
            return [None, None]
        n_eff, z = min(float(entry.n), p * (1 - p) / entry.se**2), float(t_quantile(entry.df))
    elif entry.se == 0 or p in (0.0, 1.0):
        if n_listeners < 2:
            return [None, None]
        n_eff, z = float(n_listeners), float(t_quantile(n_listeners - 1))
    else:
        return [None, None]
    z2n = z * z / n_eff
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n_eff + z2n / (4 * n_eff))
    return [max(0.0, centre - half) + 0.0, min(1.0, centre + half) + 0.0]


def per_system(frame: pd.DataFrame) -> pd.DataFrame:
    """A comparison table (CCR, AB, ABX: systems in ``a`` and ``b``, no ``system``) as one row
    per system of each trial: the listener answered about the trial as a whole, so the answer
    counts for both systems it presents (once when a trial pits a system against itself).
    Any other table is returned as it is."""
    if "system" in frame.columns or not {"a", "b"} <= set(frame.columns):
        return frame
    first = frame.drop(columns=["a", "b"]).assign(system=frame["a"].astype(str).to_numpy())
    second = frame.drop(columns=["a", "b"]).assign(system=frame["b"].astype(str).to_numpy())
    second = second[(frame["a"].astype(str) != frame["b"].astype(str)).to_numpy()]
    return pd.concat([first, second], ignore_index=True)


def followup_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """{question name: {"column", "systems": [{"system", "n", "yes", "proportion",
    "ci95_clustered"}]}} for every ``followup_<name>`` column of ``frame`` (a comparison
    table's rows count for both of their systems: :func:`per_system`)."""
    frame = per_system(frame)
    missing = [c for c in ("listener", "sentence", "system") if c not in frame.columns]
    if missing and followup_columns(frame):
        raise ValueError(f"Follow-up answers need column(s) {', '.join(missing)}.")
    out: dict[str, Any] = {}
    for column in followup_columns(frame):
        answers = _answers(frame, column)
        asked = ~np.isnan(answers)
        rows = frame[asked]
        systems = [str(s) for s in pd.unique(frame["system"].astype(str))]
        means = clustered_group_means(
            rows["listener"].astype(str),
            rows["sentence"].astype(str),
            rows["system"].astype(str),
            answers[asked],
            systems,
        )
        entries = []
        for entry in means:
            mine = rows["system"].astype(str).to_numpy() == entry.group
            yes = int(answers[asked][mine].sum())
            n_listeners = int(rows["listener"][mine].nunique())
            entries.append(
                {
                    "system": entry.group,
                    "n": entry.n,
                    "yes": yes,
                    "proportion": num(entry.mean) if entry.n else None,
                    "ci95_clustered": proportion_interval(entry, n_listeners),
                }
            )
        out[column[len(PREFIX) :]] = {"column": column, "systems": entries}
    return out


def add_followups(report: dict, frame: pd.DataFrame) -> dict:
    """``report`` with a ``followups`` section from ``frame``'s follow-up columns (an empty
    section when there are none). Returns the same dict, changed in place."""
    report["followups"] = jsonable(followup_summary(frame))
    return report


def add_counted_followups(
    report: dict, frame: pd.DataFrame, questions: list[dict] | None = None
) -> dict:
    """:func:`add_followups` over the rows the report counts: test rows only (no gold, repeat
    or practice answers, when ``frame`` has a ``purpose``) of the listeners the report kept
    (none of its ``excluded_listeners``), so a proportion rests on the same listeners as the
    scores beside it. ``questions`` (``[{"key", "text"}]``) add each question's ``question``
    text to its section."""
    kept = frame
    if "purpose" in kept:
        purpose = kept["purpose"].astype("string").str.strip().str.lower().fillna("")
        kept = kept[purpose.isin(["test", ""]).to_numpy()]
    # A screening that is switched off still lists whom it would exclude; those are counted.
    applied = bool((report.get("screening") or {}).get("applied", True))
    excluded = {
        str(row["listener"])
        for row in report.get("excluded_listeners") or []
        if applied or "manual" in (row.get("rules") or [])
    }
    if excluded and "listener" in kept:
        kept = kept[~kept["listener"].astype(str).isin(excluded).to_numpy()]
    add_followups(report, kept)
    # In the report's own order of systems (MUSHRA's reference, systems, anchors), not the
    # order the rows came in, which differs between the site's table and its download.
    listed = [s for s in report.get("systems") or [] if isinstance(s, dict) and "system" in s]
    order = {str(s["system"]): i for i, s in enumerate(listed)}
    for section in report["followups"].values():
        section["systems"].sort(key=lambda e: order.get(str(e["system"]), len(order)))
    for question in questions or []:
        if question["key"] in report["followups"]:
            report["followups"][question["key"]]["question"] = question["text"]
    return report
