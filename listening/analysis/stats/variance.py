"""Two-way cluster-robust variance (listeners x sentences) of means and of differences.

The per-system sufficient statistics (:class:`SystemParts`) are computed once per table and
shared by the per-system intervals and the pairwise comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .table import Coded

CI_LEVEL = 0.95


def twoway_variance(
    v_l: np.ndarray,
    g_l: np.ndarray,
    v_s: np.ndarray,
    g_s: np.ndarray,
    v_c: np.ndarray,
    g_c: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cameron–Gelbach–Miller two-way cluster-robust variance of a mean (or a difference).

    Inputs are per estimate: ``v_*`` = sum over clusters of the squared cluster sums of the
    influence values (residual / n), for clusters by listener, by sentence and by their
    intersection (listener x sentence cell); ``g_*`` = number of such clusters. Each term gets
    the usual G/(G-1) small-sample factor; V = V_listener + V_sentence - V_cell (the cell term
    is counted in both one-way terms). When V comes out non-positive (possible in small
    samples) we fall back to max(V_listener, V_sentence), as CGM (2011, sec. 2.3) suggest.

    Degrees of freedom: min(G_listener, G_sentence) - 1, CGM's (2011) recommendation for the t
    critical value. A Satterthwaite df from the two one-way terms looked attractive but the
    terms are not independent in incomplete designs (each sentence is heard by a subset of
    listeners, so the sentence term also carries listener variance); in simulation it gave
    93-94 % coverage where min(G)-1 gives 94-95.5 % (tests/listening/analysis/stats/test_simulation.py).

    Returns (variance, df, fell_back), arrays; NaN where fewer than two listeners or sentences.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        a_l = np.where(g_l > 1, v_l * g_l / (g_l - 1), np.nan)
        a_s = np.where(g_s > 1, v_s * g_s / (g_s - 1), np.nan)
        a_c = np.where(g_c > 1, v_c * g_c / (g_c - 1), 0.0)
        var = a_l + a_s - a_c
        # All ratings equal (both one-way terms 0) is a genuine zero, not a fallback.
        fell_back = ~(var > 0) & (np.maximum(a_l, a_s) > 0)
        var = np.where(fell_back, np.maximum(a_l, a_s), np.maximum(var, 0.0))
        df = np.where((g_l > 1) & (g_s > 1), np.minimum(g_l, g_s) - 1.0, np.nan)
    return var, df, fell_back


def t_quantile(df: np.ndarray | float) -> np.ndarray:
    return sps.t.ppf(0.5 + CI_LEVEL / 2, df)


@dataclass
class SystemParts:
    """Per-system sufficient statistics shared by the summaries and the pairwise tests."""

    n: np.ndarray  # (K,)
    mean: np.ndarray  # (K,)
    hist: np.ndarray  # (K, 5) counts of scores 1..5
    resid_l: np.ndarray  # (K, L) sum of residuals per listener
    count_l: np.ndarray  # (K, L) ratings per listener
    resid_s: np.ndarray  # (K, S)
    count_s: np.ndarray  # (K, S)
    sum_s: np.ndarray  # (K, S) sum of scores per sentence
    cell_ids: list[np.ndarray]  # per system: sorted listener*S + sentence cell ids
    cell_resid: list[np.ndarray]  # per system: residual sums in those cells
    ss: np.ndarray  # (K,) sum of squared residuals


def system_parts(t: Coded) -> SystemParts:
    k, n_l, n_s = t.n_systems, t.n_listeners, t.n_sentences
    n = np.bincount(t.system, minlength=k).astype(np.float64)
    total = np.bincount(t.system, weights=t.score, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    resid = t.score - mean[t.system]
    hist = np.bincount(t.system * 5 + (t.score.astype(np.int64) - 1), minlength=5 * k)
    key_l = t.system * n_l + t.listener
    key_s = t.system * n_s + t.sentence
    cell = t.listener * n_s + t.sentence
    key_c = t.system * (n_l * n_s) + cell
    unique_c, inverse = np.unique(key_c, return_inverse=True)
    resid_c = np.bincount(inverse, weights=resid, minlength=len(unique_c))
    bounds = np.searchsorted(unique_c // (n_l * n_s), np.arange(k + 1))
    return SystemParts(
        n=n,
        mean=mean,
        hist=hist.reshape(k, 5),
        resid_l=np.bincount(key_l, weights=resid, minlength=k * n_l).reshape(k, n_l),
        count_l=np.bincount(key_l, minlength=k * n_l).reshape(k, n_l),
        resid_s=np.bincount(key_s, weights=resid, minlength=k * n_s).reshape(k, n_s),
        count_s=np.bincount(key_s, minlength=k * n_s).reshape(k, n_s),
        sum_s=np.bincount(key_s, weights=t.score, minlength=k * n_s).reshape(k, n_s),
        cell_ids=[unique_c[bounds[i] : bounds[i + 1]] % (n_l * n_s) for i in range(k)],
        cell_resid=[resid_c[bounds[i] : bounds[i + 1]] for i in range(k)],
        ss=np.bincount(t.system, weights=resid**2, minlength=k),
    )


def difference_variance(parts: SystemParts, a: int, b: int) -> tuple[float, float, bool]:
    """Two-way clustered variance of MOS_a - MOS_b.

    The influence value of a rating is residual/n_a in system a and -residual/n_b in system b;
    cluster sums over listeners, sentences and listener x sentence cells therefore combine
    the per-system sums, and ratings by the same listener (or of the same sentence) in both
    systems correlate the two means exactly as they should.
    """
    n_a, n_b = parts.n[a], parts.n[b]
    u_l = parts.resid_l[a] / n_a - parts.resid_l[b] / n_b
    u_s = parts.resid_s[a] / n_a - parts.resid_s[b] / n_b
    g_l = np.count_nonzero((parts.count_l[a] > 0) | (parts.count_l[b] > 0))
    g_s = np.count_nonzero((parts.count_s[a] > 0) | (parts.count_s[b] > 0))
    ids_a, ids_b = parts.cell_ids[a], parts.cell_ids[b]
    ra, rb = parts.cell_resid[a], parts.cell_resid[b]
    _, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    v_c = (
        (ra**2).sum() / n_a**2 + (rb**2).sum() / n_b**2 - 2 * (ra[ia] * rb[ib]).sum() / (n_a * n_b)
    )
    g_c = len(ids_a) + len(ids_b) - len(ia)
    var, df, fell_back = twoway_variance(
        np.array([(u_l**2).sum()]),
        np.array([g_l]),
        np.array([(u_s**2).sum()]),
        np.array([g_s]),
        np.array([v_c]),
        np.array([g_c]),
    )
    return float(var[0]), float(df[0]), bool(fell_back[0])
