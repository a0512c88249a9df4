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


def estimate_agreement(
    pairs: Sequence[tuple[float | None, float | None]],
    mos_ci95_half: Sequence[float | None] | None = None,
) -> dict[str, Any]:
    """How far an automatic MOS estimate agrees with the listeners' MOS, in the manner of
    ITU-T P.1401 (statistical evaluation of objective quality models).

    ``pairs``: (listeners' MOS, estimate) per system or per clip; pairs with a missing or
    non-finite side are left out. ``mos_ci95_half``: the half-width of each MOS's 95 % interval
    (same order), for P.1401's epsilon-insensitive RMSE.

    Returns ``{"n", "pearson", "pearson_p", "spearman", "spearman_p", "rmse", "rmse_star",
    "mean_error"}``:

    - Pearson's r (linearity) and Spearman's rho (monotonicity), None when n < 3 or a side is
      constant (``_correlation``);
    - ``rmse``: sqrt(sum((MOS - estimate)^2) / (n - d)), the estimate taken as it is, with no
      mapping fitted to the listeners' scores; d = 1 (P.1401's N - d with the fewest degrees
      of freedom), so None when n < 2. The estimate and the MOS share the 1-5 scale, which is
      what makes an unmapped RMSE meaningful;
    - ``rmse_star``: the same with each error shrunk by the MOS's 95 % half-width,
      max(0, |MOS - estimate| - ci95), so an estimate inside the listeners' own uncertainty
      counts as no error; None without intervals;
    - ``mean_error``: mean(estimate - MOS), the estimate's offset (positive: it rates higher).

    An estimate, never a substitute: a good agreement on one study says little about another.
    """
    halves = list(mos_ci95_half) if mos_ci95_half is not None else [None] * len(pairs)
    kept = [
        (float(mos), float(est), half)
        for (mos, est), half in zip(pairs, halves, strict=True)
        if _is_number(mos) and _is_number(est) and math.isfinite(mos) and math.isfinite(est)
    ]
    result = _correlation([(mos, est) for mos, est, _ in kept])
    result.update(rmse=None, rmse_star=None, mean_error=None)
    n = len(kept)
    if n == 0:
        return result
    errors = np.array([est - mos for mos, est, _ in kept])
    result["mean_error"] = float(errors.mean())
    if n < 2:
        return result
    result["rmse"] = float(math.sqrt(np.sum(errors**2) / (n - 1)))
    if all(_is_number(h) and math.isfinite(h) for _, _, h in kept):
        shrunk = np.maximum(0.0, np.abs(errors) - np.array([h for _, _, h in kept]))
        result["rmse_star"] = float(math.sqrt(np.sum(shrunk**2) / (n - 1)))
    return result
