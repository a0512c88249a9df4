"""Numbers for the report's objective section: a metric's mean over a system's clips with its
interval, and how far each metric tracks the listeners' MOS.

Where it sits: ``listening.analysis.objective_section`` hands the per-clip values (measured by
``listening.objective.measure``, cached on the clips) to these functions. Pure: lists of numbers
in, dicts of numbers out; no Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def system_metric_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean of one metric over a system's clips with a 95% Student-t interval.

    None and NaN values (metrics that could not be computed for a clip) are left out; ``n``
    counts the values used. Returns ``{"n", "mean", "sd", "ci95": [lo, hi]}``; sd and ci95 are
    None when n < 2, every field but n is None when n == 0. The interval is
    mean +- t(0.975, n-1) * sd / sqrt(n), as for MOS (ITU-T P.800.2).
    """
    v = np.array([float(x) for x in values if x is not None and math.isfinite(float(x))])
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci95": None}
    mean = float(v.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": None, "ci95": None}
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci95": [mean - half, mean + half]}


def metric_correlations(
    per_system: Sequence[dict[str, Any]],
    per_clip: Sequence[dict[str, Any]],
    *,
    mos_key: str = "mos",
    metrics: Sequence[str] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Pearson and Spearman correlation of each metric with MOS, across systems and clips.

    Each row is a dict holding ``mos_key`` and metric values (e.g. ``{"system": "A",
    "mos": 3.9, "mcd_db": 6.1, "pesq_wb": 2.8}``). ``metrics`` defaults to every key with a
    numeric (not boolean) value in some row, except ``mos_key`` and bookkeeping counts
    (``n``, ``voiced_pairs``, ``path_frames``, ``stoi_lag_s``). Rows where the metric or MOS
    is missing, None or NaN are skipped for that metric.

    Returns ``{"systems": {metric: stats}, "clips": {metric: stats}}`` where stats is
    ``{"n", "pearson", "pearson_p", "spearman", "spearman_p"}``; the correlations and p-values
    are None when n < 3 or either side is constant (a correlation is undefined there).
    """
    return {
        "systems": _correlate_rows(per_system, mos_key, metrics),
        "clips": _correlate_rows(per_clip, mos_key, metrics),
    }


# Numbers in the metric dicts that describe the computation, not the clip.
_BOOKKEEPING_KEYS = ("n", "voiced_pairs", "path_frames", "stoi_lag_s")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _correlate_rows(
    rows: Sequence[dict[str, Any]], mos_key: str, metrics: Sequence[str] | None
) -> dict[str, dict[str, Any]]:
    if metrics is None:
        skip = {mos_key, *_BOOKKEEPING_KEYS}
        names: list[str] = []
        for row in rows:
            for key, value in row.items():
                if key not in skip and key not in names and _is_number(value):
                    names.append(key)
    else:
        names = list(metrics)
    out = {}
    for name in names:
        pairs = [
            (float(row[mos_key]), float(row[name]))
            for row in rows
            if _is_number(row.get(mos_key))
            and _is_number(row.get(name))
            and math.isfinite(float(row[mos_key]))
            and math.isfinite(float(row[name]))
        ]
        out[name] = _correlation(pairs)
    return out


def _correlation(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "n": len(pairs),
        "pearson": None,
        "pearson_p": None,
        "spearman": None,
        "spearman_p": None,
    }
    if len(pairs) < 3:
        return result
    mos, metric = np.array(pairs).T
    if np.ptp(mos) == 0 or np.ptp(metric) == 0:
        return result
    pearson = stats.pearsonr(mos, metric)
    spearman = stats.spearmanr(mos, metric)
    result.update(
        pearson=float(pearson.statistic),
        pearson_p=float(pearson.pvalue),
        spearman=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
    )
    return result
