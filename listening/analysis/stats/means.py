"""Means of answers per group with the two-way clustered interval and a t test against a null.

The comparative tests all reduce to means: a CMOS is the mean of sign-corrected CCR scores of
one system against its reference, an AB preference share the mean of a win indicator over a
pair's decided trials, an ABX score the mean of a correct-answer indicator. Each group's mean
gets the listener x sentence cluster-robust CR2 variance and Bell-McCaffrey df of
:mod:`.variance` (the group plays the part of the "system" there), so the comparative tests
share the machinery, and the simulation checks, of the MOS intervals.

CCR only (``one_way_floor=True``): the two-way variance V_L + V_S - V_C is never taken below
the larger one-way term (which then brings its df). With the order counterbalanced, a
listener's order bias enters their sign-corrected scores with alternating signs and cancels
within the listener: the within-listener correlation is negative, V_C exceeds V_L, and the
subtraction leaves a small, noisy variance. In the harness
(tests/listening/analysis/stats/test_simulation_comparative.py) the plain two-way CMOS
interval covered a null CMOS 92.8-93.7 % of the time and the family-wise error over two null
systems reached 5.4-6.7 %; with the floor, 95 % and under 5 %. For AB the position bias acts
through a binary choice and is much weaker: the plain two-way interval covers 95.9 % there
and the floor would make it over-cover (97.2 %), so AB, ABX and ACR keep the plain estimator.

When every answer of a group is the same the variance is exactly 0 and a t test cannot be
made. The mean is then reported with a *sign test over listeners* (each listener one
independent unit, all on the same side of the null: p = 2 * 0.5^G, G listeners), and a
proportion at 0 or 1 gets the Clopper-Pearson interval with the listeners as the sample
(lower bound (alpha/2)^(1/G) for a share of 1): a listener's answers are not independent, so
the listeners are the honest count; any other constant (a CMOS of +1 from every answer) has no
interval. The entry's ``note`` says so.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from .mos import bounded_interval
from .table import Coded, num, pair
from .variance import CI_LEVEL, contrast_variance, system_parts, t_quantile

NOTE_CONSTANT = (
    "every answer is the same: no spread to measure (a share of 0 or 1 has the listener-level "
    "Clopper-Pearson interval, another value none); p is a sign test over listeners "
    "(p = 2 * 0.5^listeners)"
)


def clustered_means(
    listener: np.ndarray,
    sentence: np.ndarray,
    group: np.ndarray,
    values: np.ndarray,
    n_groups: int,
    *,
    null: float,
    bounds: tuple[float, float] | None = None,
    alternative: str = "two-sided",
    one_way_floor: bool = False,
) -> list[dict]:
    """Per group g in 0..n_groups-1 (integer codes): n, mean, the clustered interval, a t test
    of mean = ``null`` and a naive t-interval over answers.

    ``listener``/``sentence`` are integer codes (any range); ``bounds`` (e.g. (0, 1) for a
    share) computes both intervals on the logit of the position between the bounds, as the
    MOS intervals are, and gives a share at a bound its listener-level Clopper-Pearson interval.
    Keys: n, n_listeners, n_sentences, mean, se_clustered, df_clustered, ci95_clustered,
    statistic, p_value, ci95 (naive), clustered_fallback, note (why a number is missing or how
    a degenerate case was handled; None otherwise). ``alternative`` "greater" makes the test
    one-sided (mean > null), as for ABX against chance; ``one_way_floor`` keeps the variance
    at or above the larger one-way term (CCR, see the module docstring)."""
    listener = np.asarray(listener, dtype=np.int64)
    sentence = np.asarray(sentence, dtype=np.int64)
    group = np.asarray(group, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    _, listener = np.unique(listener, return_inverse=True)
    _, sentence = np.unique(sentence, return_inverse=True)
    n_l = int(listener.max(initial=-1)) + 1
    n_s = int(sentence.max(initial=-1)) + 1
    t = Coded(
        listener=listener,
        sentence=sentence,
        system=group,
        score=values,
        listener_names=[str(i) for i in range(n_l)],
        sentence_names=[str(i) for i in range(n_s)],
        system_names=[str(i) for i in range(n_groups)],
        system_kinds=[""] * n_groups,
    )
    parts = system_parts(t, histogram=False)
    out = []
    for g in range(n_groups):
        out.append(_one(parts, g, null, bounds, alternative == "greater", one_way_floor))
    return out


def _one(
    parts, g: int, null: float, bounds: tuple[float, float] | None, greater: bool, floor: bool
) -> dict:
    n = int(parts.n[g])
    g_l = int((parts.count_l[g] > 0).sum())
    g_s = int((parts.count_s[g] > 0).sum())
    entry = {
        "n": n,
        "n_listeners": g_l,
        "n_sentences": g_s,
        "mean": None,
        "se_clustered": None,
        "df_clustered": None,
        "ci95_clustered": [None, None],
        "statistic": None,
        "p_value": None,
        "ci95": [None, None],
        "clustered_fallback": False,
        "note": None,
    }
    if n == 0:
        entry["note"] = "no answers"
        return entry
    mean = float(parts.mean[g])
    entry["mean"] = num(mean)
    sd = math.sqrt(parts.ss[g] / (n - 1)) if n > 1 else math.nan
    if n > 1:
        q = float(t_quantile(n - 1))
        entry["ci95"] = _interval(mean, sd / math.sqrt(n), q, bounds)
    cv = contrast_variance(parts, {g: 1.0})
    if not math.isfinite(cv.variance):
        entry["note"] = (
            "the clustered interval needs answers from at least two listeners and two "
            f"sentences, none holding all of them (has {g_l} and {g_s})"
        )
        return entry
    variance, df = cv.variance, cv.df
    # CCR: never below the larger one-way term (see the module docstring): a listener's order
    # bias cancels within the listener in a counterbalanced design, and then V_L + V_S - V_C
    # rests on a noisy subtraction that under-covered in the harness.
    for one_way in (cv.listener, cv.sentence) if floor else ():
        if math.isfinite(one_way.variance) and one_way.variance > variance:
            variance, df = one_way.variance, one_way.df
    se = math.sqrt(variance)
    entry["clustered_fallback"] = bool(cv.fell_back) or variance != cv.variance
    if se == 0:
        entry["se_clustered"] = 0.0
        entry["note"] = NOTE_CONSTANT
        if greater:
            entry["p_value"] = 0.5**g_l if mean > null else 1.0
        else:
            entry["p_value"] = 1.0 if mean == null else min(1.0, 2 * 0.5**g_l)
        entry["ci95_clustered"] = _at_bound(mean, g_l, bounds)
        return entry
    stat = (mean - null) / se
    entry.update(
        se_clustered=num(se),
        df_clustered=num(df),
        statistic=num(stat),
        p_value=num(sps.t.sf(stat, df) if greater else 2 * sps.t.sf(abs(stat), df)),
        ci95_clustered=_interval(mean, se, float(t_quantile(df)), bounds),
    )
    return entry


def _interval(mean: float, se: float, q: float, bounds) -> list[float | None]:
    if bounds is None:
        return pair(mean - q * se, mean + q * se)
    if se == 0 and mean in bounds:
        return pair(mean, mean)
    return pair(*bounded_interval(mean, se, q, scale=bounds))


def _at_bound(mean: float, listeners: int, bounds) -> list[float | None]:
    """A share of exactly 0 or 1: Clopper-Pearson with the listeners as the sample."""
    if bounds is None or mean not in bounds:
        return [None, None]  # a constant inside the scale: no interval to give
    low, high = bounds
    reach = (1 - CI_LEVEL) / 2
    edge = reach ** (1 / max(listeners, 1))
    share = edge if mean == high else 1 - edge
    width = high - low
    if mean == high:
        return pair(low + width * share, high)
    return pair(low, low + width * share)
