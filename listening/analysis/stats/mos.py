"""Per-system MOS (ACR, ITU-T P.800) with the naive t-interval and the two-way clustered one.

Both intervals are computed on the logit of the position on the scale, p = (m - 1) / 4, with
the delta method (se_logit = se / (4 p (1 - p))), and transformed back, so they stay inside
1–5 however close a system is to the floor or the ceiling; the point estimate is the plain
mean. For MOS between 2 and 4 they lie within a few hundredths of the symmetric intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .table import SCORES, Coded, code_test_rows, num, pair, validate_ratings
from .variance import ContrastVariance, SystemParts, contrast_variance, system_parts, t_quantile

SCALE = (1.0, 5.0)  # the ACR scale of ITU-T P.800


def bounded_interval(
    mean: float, se: float, quantile: float, scale: tuple[float, float] = SCALE
) -> tuple[float, float]:
    """mean +/- quantile * se computed on the logit of the scale position and mapped back.

    A mean on a bound (every rating 1, or every rating 5) has se = 0 and gives [mean, mean].
    NaN in gives NaN out."""
    low, high = scale
    if not (math.isfinite(mean) and math.isfinite(se) and math.isfinite(quantile)):
        return math.nan, math.nan
    if se == 0:
        return mean, mean
    p = (mean - low) / (high - low)
    if not 0 < p < 1:  # cannot happen with se > 0 on data inside the scale
        return mean, mean
    centre = math.log(p / (1 - p))
    spread = quantile * se / ((high - low) * p * (1 - p))
    width = high - low
    return (
        low + width / (1 + math.exp(-(centre - spread))),
        low + width / (1 + math.exp(-(centre + spread))),
    )


def _median_from_hist(hist: np.ndarray) -> float | None:
    n = int(hist.sum())
    if n == 0:
        return None
    cumulative = np.cumsum(hist)
    lower = int(np.searchsorted(cumulative, (n - 1) // 2 + 1)) + 1
    upper = int(np.searchsorted(cumulative, n // 2 + 1)) + 1
    return (lower + upper) / 2


def missing_reasons(n: int, n_listeners: int, n_sentences: int, clustered: bool) -> dict:
    """Why a system's numbers are n/a: {field: reason} for each field that is None."""
    if n == 0:
        reason = "no ratings"
        return {f: reason for f in ("mos", "sd", "median", "ci95", "ci95_clustered")}
    out = {}
    if n == 1:
        out["sd"] = out["ci95"] = "one rating: no spread to measure"
    if not clustered:
        if n_listeners < 2 or n_sentences < 2:
            out["ci95_clustered"] = (
                f"needs ratings from at least two listeners and two sentences (has "
                f"{n_listeners} and {n_sentences})"
            )
        else:
            out["ci95_clustered"] = (
                "one listener or one sentence holds all the ratings of the system"
            )
    return out


def summaries(t: Coded, parts: SystemParts) -> tuple[list[dict], list[ContrastVariance]]:
    """The per-system rows and each system's variance parts (for ratings still needed)."""
    n = parts.n
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(parts.ss / (n - 1))
        se_t = sd / np.sqrt(n)
        q_t = t_quantile(n - 1)
    out, variances = [], []
    for i in range(t.n_systems):
        m = float(parts.mean[i])
        cv = contrast_variance(parts, {i: 1.0})
        variances.append(cv)
        var, df = cv.variance, cv.df
        clustered = bool(np.isfinite(var))
        if clustered and var == 0:
            q_c, df_out = 0.0, None
        else:
            q_c, df_out = float(t_quantile(df)), num(df)
        ci_t = bounded_interval(m, float(se_t[i]), float(q_t[i]))
        ci_c = bounded_interval(m, math.sqrt(var) if clustered else math.nan, q_c)
        with np.errstate(invalid="ignore", divide="ignore"):
            design_effect = var / se_t[i] ** 2 if se_t[i] > 0 else math.nan
        g_l, g_s = cv.listener.clusters, cv.sentence.clusters
        entry = {
            "system": t.system_names[i],
            "kind": t.system_kinds[i] or None,
            "n": int(n[i]),
            "n_listeners": g_l,
            "n_sentences": g_s,
            "mos": num(m),
            "sd": num(sd[i]),
            "median": _median_from_hist(parts.hist[i]),
            "ci95": pair(*ci_t),
            "ci95_clustered": pair(*ci_c),
            "ci95_half_width": num((ci_t[1] - ci_t[0]) / 2),
            "ci95_clustered_half_width": num((ci_c[1] - ci_c[0]) / 2),
            "se_clustered": num(math.sqrt(var)) if clustered else None,
            "df_clustered": df_out,
            "design_effect": num(design_effect),
            "clustered_fallback": bool(cv.fell_back),
            "histogram": {str(s): int(parts.hist[i, s - 1]) for s in SCORES},
            "interval_scale": "logit of (MOS - 1) / 4, back-transformed",
        }
        entry["missing_reasons"] = missing_reasons(int(n[i]), g_l, g_s, clustered)
        out.append(entry)
    return out, variances


def mos_summary(ratings: pd.DataFrame, *, seed: int = 0) -> list[dict]:
    """Per-system MOS with a t-interval and a two-way clustered interval (test rows only).

    Returns one dict per system in order of first appearance: system, kind, n, n_listeners,
    n_sentences, mos, sd, median, ci95 (Student t over ratings), ci95_clustered (two-way
    cluster-robust CR2, listeners x sentences), both on the bounded logit scale, their
    half-widths ((high - low) / 2), se_clustered, df_clustered (Bell–McCaffrey), design_effect
    (clustered / naive variance), histogram {"1": n, ..., "5": n} and missing_reasons
    {field: why it is None}. Nothing here is random: ``seed`` is accepted so callers can pass
    one uniformly; the result does not depend on it.
    """
    del seed  # analytic intervals: no resampling
    t = code_test_rows(validate_ratings(ratings))
    return summaries(t, system_parts(t))[0]
