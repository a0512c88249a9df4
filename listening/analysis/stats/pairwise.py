"""Pairwise comparisons of systems with Holm's correction across pairs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .table import Coded, code_test_rows, num, pair, validate_ratings
from .variance import SystemParts, difference_variance, system_parts, t_quantile

# Pairwise tests pair on sentences only when enough sentences are shared: with fewer than 6
# non-zero pairs an exact two-sided Wilcoxon test cannot reach p < 0.05 at all, and pairing on a
# small part of each system's sentences would throw most of the ratings away.

MIN_PAIRED_SENTENCES = 6


MIN_PAIRED_SHARE = 0.5


def holm_adjust(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values: controls the family-wise error rate across all
    pairs without assuming independence. adjusted p_(i) = max_{j<=i} min(1, (m-j+1) p_(j))."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def _mann_whitney_from_hist(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mann–Whitney U for two samples on the 1–5 scale, from their score counts.

    Same statistic as scipy.stats.mannwhitneyu(method="asymptotic", use_continuity=True):
    normal approximation with tie correction and continuity correction, but O(1) instead of a
    sort of every rating. Returns (U of a, two-sided p, Cliff's delta = P(a>b) - P(a<b)).
    """
    n_a, n_b = a.sum(), b.sum()
    below_b = np.concatenate([[0], np.cumsum(b)[:-1]])  # count of b strictly below each score
    u_a = float((a * (below_b + 0.5 * b)).sum())
    n = n_a + n_b
    ties = a + b
    mu = n_a * n_b / 2
    var = n_a * n_b / 12 * ((n + 1) - (ties**3 - ties).sum() / (n * (n - 1)))
    delta = 2 * u_a / (n_a * n_b) - 1
    if var <= 0:
        return u_a, 1.0, float(delta)
    u_big = max(u_a, n_a * n_b - u_a)
    z = (u_big - mu - 0.5) / math.sqrt(var)
    return u_a, float(min(1.0, 2 * sps.norm.sf(z))), float(delta)


def _wilcoxon(d: np.ndarray) -> tuple[float, float, float]:
    """Wilcoxon signed-rank on paired differences (zeros dropped, Wilcoxon's convention).

    The p-value follows scipy.stats.wilcoxon(method="auto"): the exact null distribution when
    there are no ties or zeros and at most 50 pairs; with ties or zeros, an exact enumeration of
    all 2^n sign flips for n <= 13 pairs (scipy runs this as a permutation test, which is
    slow enough to matter with 190 pairs, so it is done here as one matrix product), and the
    normal approximation with tie correction beyond. Returns (statistic = min(R+, R-),
    two-sided p, matched-pairs rank-biserial correlation (R+ - R-)/(R+ + R-)).
    """
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return 0.0, 1.0, 0.0
    ranks = sps.rankdata(np.abs(nonzero))
    r_plus, r_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    rank_biserial = (r_plus - r_minus) / (r_plus + r_minus)
    ties = len(np.unique(ranks)) < len(ranks)
    if (ties or len(nonzero) < len(d)) and len(d) <= 13:
        signs = (np.arange(2 ** len(ranks))[:, None] >> np.arange(len(ranks))) & 1
        null = signs @ ranks  # R+ under every assignment of signs
        tolerance = 1e-14 * max(abs(r_plus), 1.0)
        p_high = np.mean(null >= r_plus - tolerance)
        p_low = np.mean(null <= r_plus + tolerance)
        p = min(1.0, 2 * min(p_high, p_low))
        return float(min(r_plus, r_minus)), float(p), float(rank_biserial)
    method = "exact" if not ties and len(nonzero) == len(d) and len(d) <= 50 else "asymptotic"
    result = sps.wilcoxon(d, zero_method="wilcox", correction=False, method=method)
    return float(result.statistic), float(result.pvalue), float(rank_biserial)


def pairs_of(t: Coded, parts: SystemParts, alpha: float) -> list[dict]:
    k = t.n_systems
    with np.errstate(invalid="ignore", divide="ignore"):
        sentence_means = parts.sum_s / parts.count_s  # (K, S), NaN where not rated
    rated = parts.count_s > 0
    pairs: list[dict] = []
    for a in range(k):
        for b in range(a + 1, k):
            entry: dict[str, Any] = {
                "system_a": t.system_names[a],
                "system_b": t.system_names[b],
                "n_a": int(parts.n[a]),
                "n_b": int(parts.n[b]),
                "mos_a": num(parts.mean[a]),
                "mos_b": num(parts.mean[b]),
            }
            if parts.n[a] == 0 or parts.n[b] == 0:
                entry.update(
                    test=None,
                    paired_on=None,
                    n_pairs=None,
                    statistic=None,
                    p_value=None,
                    mean_difference=None,
                    mean_difference_ci95_clustered=[None, None],
                    rank_biserial=None,
                    cliffs_delta=None,
                )
                pairs.append(entry)
                continue
            shared = rated[a] & rated[b]
            n_shared = int(shared.sum())
            smaller = min(int(rated[a].sum()), int(rated[b].sum()))
            u_a, p_mw, delta = _mann_whitney_from_hist(parts.hist[a], parts.hist[b])
            if n_shared >= MIN_PAIRED_SENTENCES and n_shared >= MIN_PAIRED_SHARE * smaller:
                d = sentence_means[a, shared] - sentence_means[b, shared]
                statistic, p, rank_biserial = _wilcoxon(d)
                entry.update(test="wilcoxon_signed_rank", paired_on="sentence", n_pairs=n_shared)
            else:
                statistic, p, rank_biserial = u_a, p_mw, delta
                entry.update(test="mann_whitney_u", paired_on=None, n_pairs=None)
            diff = parts.mean[a] - parts.mean[b]
            var, df, _ = difference_variance(parts, a, b)
            half = t_quantile(df) * math.sqrt(var) if var > 0 else (0.0 if var == 0 else math.nan)
            entry.update(
                statistic=num(statistic),
                p_value=num(p),
                mean_difference=num(diff),
                mean_difference_ci95_clustered=pair(diff - half, diff + half),
                rank_biserial=num(rank_biserial),
                cliffs_delta=num(delta),
            )
            pairs.append(entry)
    testable = [i for i, e in enumerate(pairs) if e["p_value"] is not None]
    adjusted = holm_adjust([pairs[i]["p_value"] for i in testable])
    for entry in pairs:
        entry.update(p_holm=None, significant=False, better=None)
    for i, p_holm in zip(testable, adjusted):
        entry = pairs[i]
        significant = bool(p_holm < alpha)
        better, diff = None, entry["mean_difference"]
        if significant and diff:
            better = entry["system_a"] if diff > 0 else entry["system_b"]
        entry.update(p_holm=num(p_holm), significant=significant, better=better)
    return pairs


def significance_matrix(systems: list[str], pairs: list[dict]) -> dict:
    """Square view of the pairwise results: ``cells[i][j]`` is ">" when system i is rated
    significantly higher than system j (Holm-adjusted), "<" when lower, "=" when not
    significant, None on the diagonal or when untestable; ``p_holm[i][j]`` the adjusted p."""
    index = {name: i for i, name in enumerate(systems)}
    k = len(systems)
    cells: list[list[str | None]] = [[None] * k for _ in range(k)]
    p_holm: list[list[float | None]] = [[None] * k for _ in range(k)]
    for entry in pairs:
        i, j = index[entry["system_a"]], index[entry["system_b"]]
        p_holm[i][j] = p_holm[j][i] = entry["p_holm"]
        if entry["p_holm"] is None:
            continue
        if entry["better"] is None:
            cells[i][j] = cells[j][i] = "="
        elif entry["better"] == entry["system_a"]:
            cells[i][j], cells[j][i] = ">", "<"
        else:
            cells[i][j], cells[j][i] = "<", ">"
    return {"systems": list(systems), "cells": cells, "p_holm": p_holm}


def pairwise_tests(ratings: pd.DataFrame, *, alpha: float = 0.05) -> list[dict]:
    """Compare every pair of systems (test rows only, no screening).

    Per pair: ``test`` ("wilcoxon_signed_rank" on per-sentence means when the two systems share
    at least 6 sentences and at least half of the smaller system's sentences, else
    "mann_whitney_u" on ratings), statistic, p_value, p_holm (Holm across all pairs),
    significant (p_holm < alpha), better (the significantly higher system or None),
    mean_difference (mos_a - mos_b) with mean_difference_ci95_clustered, rank_biserial (for the
    test used) and cliffs_delta (over ratings).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}.")
    t = code_test_rows(validate_ratings(ratings))
    return pairs_of(t, system_parts(t), alpha)
