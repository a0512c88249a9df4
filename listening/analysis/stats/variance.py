"""Two-way cluster-robust variance (listeners x sentences) of a linear contrast of system means.

One machinery serves the per-system interval (the contrast "MOS of system a") and the pairwise
tests (the contrast "MOS_a - MOS_b"): :func:`contrast_variance` takes the contrast's
coefficients per system, so ratings by the same listener, or of the same sentence, in both
systems of a pair covary exactly as they should. The per-system sufficient statistics
(:class:`SystemParts`) are computed once per table and shared by both.

The estimator, per clustering dimension (listeners, sentences, listener x sentence cells), is
CR2 (Bell & McCaffrey 2002): a cluster's residual sum is scaled by (1 - h)^(-1/2), with h the
cluster's leverage in the regression of the scores on system indicators (h = n_gs / n_s for
the cluster's n_gs ratings of system s). Summed over clusters it is the one-way variance of
that dimension; the two-way variance combines them as Cameron, Gelbach & Miller (2011):
V = V_listener + V_sentence - V_cell, with CGM's fallback to the larger one-way term when
V <= 0. In a balanced design CR2's factor equals CGM's G/(G-1), so the intervals there are
unchanged; with unbalanced crowds (a listener rating 60 clips beside others rating 5) the
heavy clusters get the larger correction they need.

Degrees of freedom: Bell & McCaffrey's (2002) Satterthwaite approximation for each one-way CR2
term under an independent-errors working model, df_G = (tr M)^2 / tr(M^2) (see
:func:`_dimension`). In a balanced design df_G equals G - 1 exactly; it falls below it when a
few clusters carry most of the weight, which is where min(G) - 1 over-rejects. The contrast's
df of a *difference* of systems combines them (Satterthwaite 1946, :func:`combined_df`) over
its three variance components: listener (V_listener - V_cell), sentence (V_sentence - V_cell)
and cell (V_cell), never below the smallest df of a component that carries variance. The
former rule, the smaller of the listener and sentence df, gave 9 df to every difference in a
10-listener study even though the listeners' bias cancels in a difference, and lost power
there. A single system's mean keeps that smaller df: its listener part rarely cancels, and
with the combination the per-system coverage fell to 92-93 % on three designs of the harness
(the estimated components are noisy, and a df that grows when the listener part is
under-estimated narrows the interval just when it should not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .table import Coded

CI_LEVEL = 0.95


def t_quantile(df: np.ndarray | float, level: float = CI_LEVEL) -> np.ndarray:
    # scipy.special.stdtrit is the ufunc behind sps.t.ppf without its argument checks: the
    # planning of "ratings still needed" evaluates it a few hundred times per report.
    return special.stdtrit(df, 0.5 + level / 2)


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
    cell_count: list[np.ndarray]  # per system: ratings in those cells
    ss: np.ndarray  # (K,) sum of squared residuals


def system_parts(t: Coded, *, histogram: bool = True) -> SystemParts:
    """The per-group sums of ``t``. ``histogram=False`` for scores that are not the 1-5 ACR
    scale (CMOS scores, preference indicators): ``hist`` is then an empty (K, 0) array."""
    k, n_l, n_s = t.n_systems, t.n_listeners, t.n_sentences
    n = np.bincount(t.system, minlength=k).astype(np.float64)
    total = np.bincount(t.system, weights=t.score, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    resid = t.score - mean[t.system]
    if histogram:
        hist = np.bincount(t.system * 5 + (t.score.astype(np.int64) - 1), minlength=5 * k)
    else:
        hist = np.zeros(0, dtype=np.int64)
    key_l = t.system * n_l + t.listener
    key_s = t.system * n_s + t.sentence
    cell = t.listener * n_s + t.sentence
    key_c = t.system * (n_l * n_s) + cell
    unique_c, inverse = np.unique(key_c, return_inverse=True)
    resid_c = np.bincount(inverse, weights=resid, minlength=len(unique_c))
    count_c = np.bincount(inverse, minlength=len(unique_c)).astype(np.float64)
    bounds = np.searchsorted(unique_c // max(n_l * n_s, 1), np.arange(k + 1))
    return SystemParts(
        n=n,
        mean=mean,
        hist=hist.reshape(k, 5 if histogram else 0),
        resid_l=np.bincount(key_l, weights=resid, minlength=k * n_l).reshape(k, n_l),
        count_l=np.bincount(key_l, minlength=k * n_l).reshape(k, n_l),
        resid_s=np.bincount(key_s, weights=resid, minlength=k * n_s).reshape(k, n_s),
        count_s=np.bincount(key_s, minlength=k * n_s).reshape(k, n_s),
        sum_s=np.bincount(key_s, weights=t.score, minlength=k * n_s).reshape(k, n_s),
        cell_ids=[unique_c[bounds[i] : bounds[i + 1]] % max(n_l * n_s, 1) for i in range(k)],
        cell_resid=[resid_c[bounds[i] : bounds[i + 1]] for i in range(k)],
        cell_count=[count_c[bounds[i] : bounds[i + 1]] for i in range(k)],
        ss=np.bincount(t.system, weights=resid**2, minlength=k),
    )


@dataclass(frozen=True)
class Dimension:
    """One clustering dimension's CR2 variance of a contrast, its BM df and its cluster count."""

    variance: float
    df: float
    clusters: int


def _dimension(coef: np.ndarray, n: np.ndarray, resid: np.ndarray, count: np.ndarray) -> Dimension:
    """CR2 variance and Bell–McCaffrey df of sum_s coef_s * mean_s for one clustering.

    ``resid``/``count`` are (m, G): residual sums and ratings per system of the contrast and
    cluster. With a_s = coef_s / n_s and adj_gs = (1 - count_gs / n_s)^(-1/2) (the cluster's
    leverage block of the system-indicator regression is count_gs/n_s times an all-ones
    matrix), the CR2 cluster score is u_g = sum_s a_s adj_gs resid_gs and V = sum_g u_g^2.

    df: with errors i.i.d. (BM's working model) V is a quadratic form in the errors whose
    matrix has the eigenvalues of M = P'(I - H)P, P's column g being the CR2 weights of
    cluster g. Because H is block-constant per system, M = diag(d) - sum_s s_s s_s' / n_s with
    d_g = sum_s count_gs (a_s adj_gs)^2 and s_gs = count_gs a_s adj_gs, so tr M and tr M^2 need
    no G x G matrix: df = (tr M)^2 / tr M^2 (Satterthwaite).
    """
    used = (count > 0).any(axis=0)
    resid, count = resid[:, used], count[:, used]
    clusters = int(used.sum())
    if clusters < 2:
        return Dimension(np.nan, np.nan, clusters)
    with np.errstate(divide="ignore", invalid="ignore"):
        leverage = count / n[:, None]
        if np.any(leverage >= 1 - 1e-12):
            # One cluster holds all of a system's ratings: nothing varies between clusters.
            return Dimension(np.nan, np.nan, clusters)
        weight = (coef / n)[:, None] / np.sqrt(1 - leverage)
    u = (weight * resid).sum(axis=0)
    d = (count * weight**2).sum(axis=0)
    s = count * weight  # (m, G)
    s_norm = (s**2).sum(axis=1)  # (m,)
    trace = d.sum() - (s_norm / n).sum()
    cross = s @ s.T  # (m, m)
    trace2 = (
        (d**2).sum() - 2 * ((d * s**2).sum(axis=1) / n).sum() + (cross**2 / np.outer(n, n)).sum()
    )
    df = trace**2 / trace2 if trace2 > 0 else np.nan
    return Dimension(float((u**2).sum()), float(df), clusters)


@dataclass(frozen=True)
class ContrastVariance:
    """The two-way variance of a contrast with its parts, for the intervals and the planning."""

    variance: float  # NaN when fewer than two listeners or sentences
    df: float
    fell_back: bool
    listener: Dimension
    sentence: Dimension
    cell: Dimension


def contrast_variance(parts: SystemParts, coef: dict[int, float]) -> ContrastVariance:
    """Two-way CR2 variance of sum_s coef[s] * MOS_s ({a: 1} for one system, {a: 1, b: -1}
    for a difference), with the Bell–McCaffrey df; see the module docstring."""
    systems = np.array(list(coef), dtype=np.int64)
    c = np.array([coef[s] for s in systems], dtype=np.float64)
    n = parts.n[systems]
    listener = _dimension(c, n, parts.resid_l[systems], parts.count_l[systems])
    sentence = _dimension(c, n, parts.resid_s[systems], parts.count_s[systems])
    ids = np.unique(np.concatenate([parts.cell_ids[s] for s in systems]))
    resid_c = np.zeros((len(systems), len(ids)))
    count_c = np.zeros((len(systems), len(ids)))
    for row, s in enumerate(systems):
        where = np.searchsorted(ids, parts.cell_ids[s])
        resid_c[row, where] = parts.cell_resid[s]
        count_c[row, where] = parts.cell_count[s]
    cell = _dimension(c, n, resid_c, count_c)
    var = listener.variance + sentence.variance - (cell.variance if cell.clusters > 1 else 0.0)
    fell_back = False
    if np.isfinite(var) and not var > 0:
        biggest = max(listener.variance, sentence.variance)
        # All ratings equal (both one-way terms 0) is a genuine zero, not a fallback.
        fell_back = biggest > 0
        var = biggest if fell_back else 0.0
    # A difference (coefficients summing to 0) combines the components' df; a single system's
    # mean keeps the smaller of the listener and sentence df (see the module docstring).
    if fell_back or cell.clusters < 2 or abs(c.sum()) > 1e-12:
        df = min(listener.df, sentence.df)
    else:
        noise = max(cell.variance, 0.0)
        df = combined_df(
            [
                (max(listener.variance - noise, 0.0), listener.df),
                (max(sentence.variance - noise, 0.0), sentence.df),
                (noise, cell.df),
            ]
        )
    return ContrastVariance(float(var), float(df), fell_back, listener, sentence, cell)


def combined_df(components: list[tuple[float, float]]) -> float:
    """Satterthwaite (1946) df of a sum of variance components, each (variance, df).

    df = (sum v)^2 / sum(v^2 / df), floored at the smallest df of a component that carries
    variance (the Welch-Satterthwaite df of a sum lies between its smallest component df and
    the sum of them; the floor keeps round-off from going below the former "smaller df" rule).
    The components are the listener part (V_listener - V_cell), the sentence part
    (V_sentence - V_cell) and the cell part (V_cell), each clipped at 0: with a listener part
    that dominates, df is about the listener df (G_L - 1 when balanced), and when the listener
    part nearly cancels (a difference of systems rated by the same listeners) the sentence and
    cell parts, with their larger df, take over."""
    used = [(v, d) for v, d in components if v > 0 and np.isfinite(d) and d > 0]
    if not used:
        finite = [d for _, d in components if np.isfinite(d)]
        return min(finite) if finite else np.nan
    total = sum(v for v, _ in used)
    spread = sum(v * v / d for v, d in used)
    return max(total * total / spread, min(d for _, d in used))
