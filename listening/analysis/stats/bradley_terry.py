"""A Bradley-Terry ranking of all systems from paired preferences (Bradley & Terry 1952).

P(i preferred to j) = 1 / (1 + exp(-(theta_i - theta_j))): one score per system on the log-odds
scale, identified by sum(theta) = 0. A tie ("no preference") counts half a win for each side
(the Rao-Kupper and Davidson tie models add a parameter; half a win keeps the scores on the
scale of the ties-split preference share). Fitted by Newton's method on the concave
log-likelihood in the sum-zero subspace (Hunter 2004 shows the MM iteration converges to the
same maximum; Newton is faster here and gives the Hessian the intervals need).

Intervals: a cluster-robust sandwich by listener (a listener's answers are not independent):
V = H^-1 (G/(G-1) sum_g u_g u_g') H^-1, H the Hessian and u_g listener g's score vector at the
fit, with a t quantile on G - 1 df; deterministic, no bootstrap.

Separation: when some set of systems never loses to the others (a system that always wins,
say), the maximum-likelihood scores are infinite (Ford 1957: they exist exactly when the
"has beaten" graph is strongly connected). Then, and only then, a small prior is added: every
system plays one virtual tied game against a system of score 0, which keeps every score
finite; the ranking's ``prior`` says so.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .table import num, pair
from .variance import t_quantile

PRIOR_TEXT = (
    "separation (some systems never lose to the others): each system was given one virtual "
    "tied game against a system of score 0, so that every score is finite"
)


def _basis(k: int) -> np.ndarray:
    """An orthonormal basis (k x k-1) of the vectors summing to 0."""
    u, _, _ = np.linalg.svd(np.eye(k) - 1.0 / k)
    return u[:, : k - 1]


def separated(i: np.ndarray, j: np.ndarray, y: np.ndarray, k: int) -> bool:
    """True when the maximum-likelihood scores do not exist (Ford's condition fails)."""
    if k < 2:
        return False
    beat = np.zeros((k, k))
    np.add.at(beat, (i, j), y)
    np.add.at(beat, (j, i), 1 - y)
    n, _ = connected_components(csr_matrix(beat > 0), directed=True, connection="strong")
    return n > 1


def fit(i: np.ndarray, j: np.ndarray, y: np.ndarray, k: int, prior: bool) -> np.ndarray:
    """Sum-zero scores maximising sum y log s(t_i - t_j) + (1 - y) log s(t_j - t_i) (+ the
    prior's log s(t) + log s(-t) halves per system)."""
    z = _basis(k)
    beta = np.zeros(k - 1)

    def objective(theta: np.ndarray) -> float:
        d = theta[i] - theta[j]
        value = float((y * -np.logaddexp(0, -d) + (1 - y) * -np.logaddexp(0, d)).sum())
        if prior:
            value += float((0.5 * -np.logaddexp(0, -theta) + 0.5 * -np.logaddexp(0, theta)).sum())
        return value

    for _ in range(200):
        theta = z @ beta
        grad, hess = gradient_hessian(theta, i, j, y, k, prior)
        step = np.linalg.solve(-(z.T @ hess @ z), z.T @ grad)
        current = objective(theta)
        scale = 1.0
        while scale > 1e-10 and objective(z @ (beta + scale * step)) < current - 1e-12:
            scale /= 2
        beta = beta + scale * step
        if np.max(np.abs(scale * step)) < 1e-11:
            break
    return z @ beta


def gradient_hessian(theta, i, j, y, k, prior: bool) -> tuple[np.ndarray, np.ndarray]:
    d = theta[i] - theta[j]
    p = 1 / (1 + np.exp(-d))
    r = y - p
    grad = np.bincount(i, r, k) - np.bincount(j, r, k)
    w = p * (1 - p)
    hess = np.zeros((k, k))
    np.add.at(hess, (i, i), -w)
    np.add.at(hess, (j, j), -w)
    np.add.at(hess, (i, j), w)
    np.add.at(hess, (j, i), w)
    if prior:
        q = 1 / (1 + np.exp(-theta))
        grad = grad + (0.5 - q)
        hess = hess - np.diag(q * (1 - q))
    return grad, hess


def bradley_terry(
    i: np.ndarray,
    j: np.ndarray,
    y: np.ndarray,
    listener: np.ndarray,
    systems: list[str],
    *,
    reference: str | None = None,
) -> dict:
    """The ranking: ``i``/``j`` system codes of each trial, ``y`` the outcome for ``i`` (1 win,
    0.5 tie, 0 loss), ``listener`` codes for the sandwich. Returns {"ranking": [{system, score,
    ci95, se, rank, n, wins, losses, ties, score_vs_reference, ci95_vs_reference}] best first,
    "identification", "prior", "n_listeners", "note"}."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    y = np.asarray(y, dtype=np.float64)
    _, listener = np.unique(np.asarray(listener), return_inverse=True)
    k = len(systems)
    out = {
        "ranking": [],
        "identification": "scores on the log-odds scale, summing to 0",
        "prior": None,
        "n_listeners": int(listener.max(initial=-1)) + 1,
        "note": None,
    }
    if k < 2 or len(y) == 0:
        out["note"] = "n/a: a ranking needs answers on at least two systems"
        return out
    prior = separated(i, j, y, k)
    out["prior"] = PRIOR_TEXT if prior else None
    theta = fit(i, j, y, k, prior)
    cov = _sandwich(theta, i, j, y, listener, k, prior)
    g = out["n_listeners"]
    q = float(t_quantile(g - 1)) if g > 1 else math.nan
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if cov is not None else np.full(k, np.nan)
    if cov is None:
        out["note"] = "intervals n/a: the listener-clustered sandwich needs at least two listeners"
    ref = systems.index(reference) if reference in systems else None
    if ref is not None:
        out["identification"] = (
            f"scores on the log-odds scale, summing to 0; also against {reference}"
        )
    wins = np.bincount(i, y == 1, k) + np.bincount(j, y == 0, k)
    losses = np.bincount(i, y == 0, k) + np.bincount(j, y == 1, k)
    ties = np.bincount(i, y == 0.5, k) + np.bincount(j, y == 0.5, k)
    rows = []
    for s in range(k):
        row = {
            "system": systems[s],
            "score": num(theta[s]),
            "ci95": pair(theta[s] - q * se[s], theta[s] + q * se[s]),
            "se": num(se[s]),
            "n": int(wins[s] + losses[s] + ties[s]),
            "wins": int(wins[s]),
            "losses": int(losses[s]),
            "ties": int(ties[s]),
        }
        if ref is not None:
            diff = theta[s] - theta[ref]
            v = cov[s, s] + cov[ref, ref] - 2 * cov[s, ref] if cov is not None else math.nan
            half = q * math.sqrt(max(v, 0.0)) if s != ref else 0.0
            row["score_vs_reference"] = num(diff)
            row["ci95_vs_reference"] = pair(diff - half, diff + half)
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], systems.index(r["system"])))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    out["ranking"] = rows
    return out


def _sandwich(theta, i, j, y, listener, k, prior) -> np.ndarray | None:
    g = int(listener.max(initial=-1)) + 1
    if g < 2:
        return None
    z = _basis(k)
    _, hess = gradient_hessian(theta, i, j, y, k, prior)
    p = 1 / (1 + np.exp(-(theta[i] - theta[j])))
    r = y - p
    u = np.zeros((g, k))
    np.add.at(u, (listener, i), r)
    np.add.at(u, (listener, j), -r)
    meat = (u.T @ u) * g / (g - 1)
    bread = np.linalg.inv(-(z.T @ hess @ z))
    return z @ bread @ (z.T @ meat @ z) @ bread @ z.T


METHOD_BT = (
    "Bradley-Terry (Bradley & Terry 1952) ranking over all systems from every AB answer: "
    "P(i preferred to j) = logistic(theta_i - theta_j), scores on the log-odds scale summing "
    "to 0 (with a reference, score_vs_reference = theta - theta_reference); a tie counts half "
    "a win for each. Maximum likelihood by Newton's method; 95 % intervals from the "
    "listener-clustered sandwich (G/(G-1) small-sample factor, t on G-1 df). If some systems "
    "never lose to the others the maximum-likelihood scores are infinite (Ford 1957); then "
    "each system gets one virtual tied game against a score-0 system (ranking 'prior')."
)
