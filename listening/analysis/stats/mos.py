"""Per-system MOS (ACR, ITU-T P.800) with the naive t-interval and the two-way clustered one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .table import SCORES, Coded, code_test_rows, num, pair, validate_ratings
from .variance import SystemParts, system_parts, t_quantile, twoway_variance


def _median_from_hist(hist: np.ndarray) -> float | None:
    n = int(hist.sum())
    if n == 0:
        return None
    cumulative = np.cumsum(hist)
    lower = int(np.searchsorted(cumulative, (n - 1) // 2 + 1)) + 1
    upper = int(np.searchsorted(cumulative, n // 2 + 1)) + 1
    return (lower + upper) / 2


def summaries(t: Coded, parts: SystemParts) -> list[dict]:
    k = t.n_systems
    n = parts.n
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(parts.ss / (n - 1))
        se_t = sd / np.sqrt(n)
        half_t = t_quantile(n - 1) * se_t
        g_l = (parts.count_l > 0).sum(axis=1)
        g_s = (parts.count_s > 0).sum(axis=1)
        g_c = np.array([len(ids) for ids in parts.cell_ids])
        v_l = (parts.resid_l**2).sum(axis=1) / n**2
        v_s = (parts.resid_s**2).sum(axis=1) / n**2
        v_c = np.array([(r**2).sum() for r in parts.cell_resid]) / n**2
        var, df, fell_back = twoway_variance(v_l, g_l, v_s, g_s, v_c, g_c)
        half_c = np.where(var > 0, t_quantile(df) * np.sqrt(var), 0.0)
        half_c = np.where(np.isfinite(var), half_c, np.nan)
        design_effect = var / se_t**2
    out = []
    for i in range(k):
        m = parts.mean[i]
        out.append(
            {
                "system": t.system_names[i],
                "kind": t.system_kinds[i] or None,
                "n": int(n[i]),
                "n_listeners": int(g_l[i]),
                "n_sentences": int(g_s[i]),
                "mos": num(m),
                "sd": num(sd[i]),
                "median": _median_from_hist(parts.hist[i]),
                "ci95": pair(m - half_t[i], m + half_t[i]),
                "ci95_clustered": pair(m - half_c[i], m + half_c[i]),
                "ci95_half_width": num(half_t[i]),
                "ci95_clustered_half_width": num(half_c[i]),
                "df_clustered": num(df[i]) if var[i] > 0 else None,
                "design_effect": num(design_effect[i]),
                "clustered_fallback": bool(fell_back[i]),
                "histogram": {str(s): int(parts.hist[i, s - 1]) for s in SCORES},
            }
        )
    return out


def mos_summary(ratings: pd.DataFrame, *, seed: int = 0) -> list[dict]:
    """Per-system MOS with a t-interval and a two-way clustered interval (test rows only).

    Returns one dict per system in order of first appearance: system, kind, n, n_listeners,
    n_sentences, mos, sd, median, ci95 (Student t over ratings), ci95_clustered (two-way
    cluster-robust, listeners x sentences), their half-widths, df_clustered, design_effect
    (clustered / naive variance) and histogram {"1": n, ..., "5": n}. Nothing here is random:
    ``seed`` is accepted so callers can pass one uniformly; the result does not depend on it.
    """
    del seed  # analytic intervals: no resampling
    t = code_test_rows(validate_ratings(ratings))
    return summaries(t, system_parts(t))
