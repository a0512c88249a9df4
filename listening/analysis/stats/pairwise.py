"""Pairwise comparisons of systems: a t test on the two-way clustered difference of MOS, with
Holm's correction across pairs and intervals that agree with the tests."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from .table import Coded, code_test_rows, num, pair, validate_ratings
from .variance import CI_LEVEL, SystemParts, contrast_variance, system_parts, t_quantile


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


TEST_REASON = (
    "t test on the difference of MOS with its two-way (listeners x sentences) cluster-robust "
    "CR2 variance and Bell-McCaffrey degrees of freedom: valid whether the two systems share "
    "listeners and sentences or not, and however many clips each listener rated. Rank tests "
    "(Wilcoxon on sentence means, Mann-Whitney on ratings) are not used: each treats listeners "
    "or sentences as independent and over-rejects in crowds and designs where they are not."
)


@dataclass(frozen=True, kw_only=True)
class _PairTest:
    """A pair's test fields, in the order the report writes them: one record for a tested pair
    and for one that could not be tested, which has its reason and None in the rest (or what
    could still be measured, such as the difference of MOS)."""

    test: str | None = None
    test_reason: str
    paired_on: str | None = None
    n_pairs: int | None = None
    statistic: float | None = None
    se: float | None = None
    df: float | None = None
    p_value: float | None = None
    mean_difference: float | None = None
    mean_difference_ci95_clustered: list[float | None] = field(default_factory=lambda: [None, None])
    rank_biserial: float | None = None
    cliffs_delta: float | None = None


def _difference_test(parts: SystemParts, a: int, b: int) -> tuple[float, float, float, float]:
    """(difference, se, df, two-sided p) of MOS_a - MOS_b; se NaN when not estimable."""
    diff = float(parts.mean[a] - parts.mean[b])
    cv = contrast_variance(parts, {a: 1.0, b: -1.0})
    if not np.isfinite(cv.variance):
        return diff, math.nan, math.nan, math.nan
    se = math.sqrt(cv.variance)
    if se == 0:
        # Every rating of both systems equals its system's MOS: the difference is exact.
        return diff, 0.0, math.nan, 1.0 if diff == 0 else 0.0
    p = float(2 * sps.t.sf(abs(diff) / se, cv.df))
    return diff, se, cv.df, p


def _interval(diff: float, se: float, df: float, level: float) -> list[float | None]:
    if not math.isfinite(se):
        return [None, None]
    half = 0.0 if se == 0 else float(t_quantile(df, level)) * se
    return pair(diff - half, diff + half)


def pairs_of(t: Coded, parts: SystemParts, alpha: float) -> list[dict]:
    k = t.n_systems
    rated_l, rated_s = parts.count_l > 0, parts.count_s > 0
    pairs: list[dict] = []
    tests: list[tuple[float, float, float]] = []
    for a in range(k):
        for b in range(a + 1, k):
            entry: dict[str, Any] = {
                "system_a": t.system_names[a],
                "system_b": t.system_names[b],
                "n_a": int(parts.n[a]),
                "n_b": int(parts.n[b]),
                "mos_a": num(parts.mean[a]),
                "mos_b": num(parts.mean[b]),
                "shared_listeners": int((rated_l[a] & rated_l[b]).sum()),
                "shared_sentences": int((rated_s[a] & rated_s[b]).sum()),
            }
            pairs.append(entry)
            tests.append((math.nan, math.nan, math.nan))
            if parts.n[a] == 0 or parts.n[b] == 0:
                entry.update(asdict(_PairTest(test_reason="a system of the pair has no ratings")))
                continue
            diff, se, df, p = _difference_test(parts, a, b)
            _, _, delta = _mann_whitney_from_hist(parts.hist[a], parts.hist[b])
            if not math.isfinite(se):
                untested = _PairTest(
                    test_reason="the clustered variance needs ratings of the pair from at least "
                    "two listeners and two sentences, none holding all of a system's ratings",
                    mean_difference=num(diff),
                    cliffs_delta=num(delta),
                )
                entry.update(asdict(untested))
                continue
            tests[-1] = (diff, se, df)
            tested = _PairTest(
                test="clustered_t",
                test_reason=TEST_REASON,
                paired_on="listener and sentence clusters",
                statistic=num(diff / se) if se > 0 else None,
                se=num(se),
                df=num(df),
                p_value=num(p),
                mean_difference=num(diff),
                mean_difference_ci95_clustered=_interval(diff, se, df, CI_LEVEL),
                # Descriptive effect sizes over ratings (no test rests on them).
                rank_biserial=num(delta),
                cliffs_delta=num(delta),
            )
            entry.update(asdict(tested))
    testable = [i for i, e in enumerate(pairs) if e["p_value"] is not None]
    adjusted = holm_adjust([pairs[i]["p_value"] for i in testable])
    rejected = adjusted < alpha
    # Holm-compatible intervals: at level 1 - alpha / m0, m0 = the pairs Holm does not reject,
    # an interval excludes 0 exactly when Holm rejects the pair (see METHOD["pairwise"]).
    m0 = max(int((~rejected).sum()), 1)
    holm_level = 1 - alpha / m0
    for entry in pairs:
        entry.update(
            p_holm=None,
            significant=False,
            significant_unadjusted=False,
            better=None,
            mean_difference_ci_holm=[None, None],
            ci_holm_level=None,
        )
    for i, p_holm, significant in zip(testable, adjusted, rejected):
        entry = pairs[i]
        diff, se, df = tests[i]
        better = None
        if significant and diff:
            better = entry["system_a"] if diff > 0 else entry["system_b"]
        entry.update(
            p_holm=num(p_holm),
            significant=bool(significant),
            significant_unadjusted=bool(entry["p_value"] < 1 - CI_LEVEL),
            better=better,
            mean_difference_ci_holm=_interval(diff, se, df, holm_level),
            ci_holm_level=holm_level,
        )
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

    Per pair: ``test`` ("clustered_t", or None when untestable) and ``test_reason`` (why this
    test, or why none), statistic (t), se, df (Bell–McCaffrey), p_value, p_holm (Holm across
    all pairs), significant (p_holm < alpha), significant_unadjusted (p_value < 0.05),
    better (the significantly higher system or None), mean_difference (mos_a - mos_b) with
    mean_difference_ci95_clustered (excludes 0 exactly when significant_unadjusted) and
    mean_difference_ci_holm at ci_holm_level (excludes 0 exactly when significant),
    shared_listeners, shared_sentences, and the descriptive effect size cliffs_delta over
    ratings (also under its old name rank_biserial, which equals it for two samples).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}.")
    t = code_test_rows(validate_ratings(ratings))
    return pairs_of(t, system_parts(t), alpha)
