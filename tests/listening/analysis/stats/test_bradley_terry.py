"""The Bradley-Terry ranking against an independent likelihood maximisation (scipy), the
two-system closed form of its sandwich interval, and separation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

from listening.analysis.stats.bradley_terry import bradley_terry, separated


def simulated(seed: int, k: int = 5, listeners: int = 12, per: int = 40):
    rng = np.random.default_rng(seed)
    truth = np.linspace(-1, 1, k)
    i = rng.integers(0, k, listeners * per)
    j = (i + rng.integers(1, k, listeners * per)) % k
    p = 1 / (1 + np.exp(-(truth[i] - truth[j])))
    u = rng.random(len(i))
    y = np.where(u < 0.1, 0.5, (rng.random(len(i)) < p).astype(float))
    listener = np.repeat(np.arange(listeners), per)
    return i, j, y, listener


def scipy_fit(i, j, y, k):
    """Maximum likelihood with theta_0 fixed at 0, by L-BFGS, then centred."""

    def nll(free):
        theta = np.concatenate([[0.0], free])
        d = theta[i] - theta[j]
        value = float((y * np.logaddexp(0, -d) + (1 - y) * np.logaddexp(0, d)).sum())
        resid = y - 1 / (1 + np.exp(-d))  # d(-loglik)/d theta_i = -resid, theta_j = +resid
        grad = np.zeros(k)
        for a, b, r in zip(i, j, resid):
            grad[a] -= r
            grad[b] += r
        return value, grad[1:]

    found = optimize.minimize(
        nll, np.zeros(k - 1), jac=True, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10}
    )
    theta = np.concatenate([[0.0], found.x])
    return theta - theta.mean()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scores_match_an_independent_likelihood_maximisation(seed):
    i, j, y, listener = simulated(seed)
    names = [f"S{s}" for s in range(5)]
    result = bradley_terry(i, j, y, listener, names)
    assert result["prior"] is None
    ours = {r["system"]: r["score"] for r in result["ranking"]}
    theirs = scipy_fit(i, j, y, 5)
    assert [ours[n] for n in names] == pytest.approx(theirs, abs=1e-5)
    assert sum(ours.values()) == pytest.approx(0, abs=1e-9)
    ranks = [r["rank"] for r in result["ranking"]]
    assert ranks == [1, 2, 3, 4, 5]
    for r in result["ranking"]:
        assert r["ci95"][0] < r["score"] < r["ci95"][1]


def test_two_systems_closed_form_score_and_clustered_interval():
    i, j, y, listener = simulated(7, k=2, listeners=9, per=30)
    result = bradley_terry(i, j, y, listener, ["A", "B"], reference="A")
    rows = {r["system"]: r for r in result["ranking"]}
    # Share of B's (half-)wins: theta_B - theta_A is its logit.
    b_outcome = np.where(i == 1, y, 1 - y)
    share = b_outcome.mean()
    assert rows["B"]["score_vs_reference"] == pytest.approx(math.log(share / (1 - share)))
    # Delta method on the listener-clustered (CR1) variance of the share.
    g = 9
    sums = np.bincount(listener, b_outcome - share)
    var_share = g / (g - 1) * (sums**2).sum() / len(b_outcome) ** 2
    se = math.sqrt(var_share) / (share * (1 - share))
    half = sps.t.ppf(0.975, g - 1) * se
    low, high = rows["B"]["ci95_vs_reference"]
    assert (high - low) / 2 == pytest.approx(half, rel=1e-6)
    assert rows["A"]["ci95_vs_reference"] == pytest.approx([0.0, 0.0])


def test_separation_is_detected_and_the_prior_keeps_scores_finite():
    # A beats everyone always; B and C trade wins.
    i = np.array([0, 0, 0, 0, 1, 2, 1, 2])
    j = np.array([1, 2, 1, 2, 2, 1, 2, 1])
    y = np.array([1, 1, 1, 1, 1, 1, 0, 0], dtype=float)
    listener = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    assert separated(i, j, y, 3)
    result = bradley_terry(i, j, y, listener, ["A", "B", "C"])
    assert "virtual tied game" in result["prior"]
    assert result["ranking"][0]["system"] == "A"
    assert all(math.isfinite(r["score"]) and None not in r["ci95"] for r in result["ranking"])
    # Without separation no prior is used.
    assert not separated(np.array([0, 1]), np.array([1, 0]), np.array([1.0, 1.0]), 2)


def test_one_listener_has_scores_but_no_intervals():
    result = bradley_terry([0, 1, 0], [1, 0, 1], [1.0, 1.0, 0.5], [0, 0, 0], ["A", "B"])
    assert result["ranking"][0]["ci95"] == [None, None]
    assert "two listeners" in result["note"]
