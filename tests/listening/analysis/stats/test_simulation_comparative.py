"""The simulation harness extended to CCR and AB: simulated crowds with known preferences.

CCR: a reference and three systems, two of them identical in distribution to the reference
(exact nulls: CMOS 0) and one 0.6 points worse. Each clip's quality is its system's plus a
system x sentence term; each listener has their own slope (scale use), a listener x system
term (legitimate disagreement), an order bias (second clip rated better, 0.3 on average) and
noise; answers are rounded and clipped to -3..+3; 5 % of the listeners click at random.
Every listener hears every sentence once, in one comparison, the order counterbalanced.

AB: four systems A = B < C < D (latent 0, 0, 0.4, 0.8 on the log-odds scale), listeners with
their own slope, position bias (favouring the first clip), tie threshold ("no preference"
when the perceived difference is small) and logistic noise; 5 % random clickers. Every
listener hears every sentence once, in one of the six pairs, both orders equally often.

The truth is the population value under the design's 50/50 orders, spammers included, by
Monte Carlo over fresh listeners and sentences: CMOS = E[corrected score]; preference_a =
P(a wins) / (P(a wins) + P(b wins)); the ties-split share P(a wins) + P(tie) / 2.
Measured: coverage of the clustered 95 % intervals (CMOS; both AB shares), which must lie in
93-97 %, and the family-wise false-positive rate of the Holm-corrected tests over the true
nulls (CCR: the two null systems; AB: the A-B pair), which must stay at 5 % or below (with the
Monte-Carlo allowance of the ACR harness). The point estimates are cross-checked in
test_ccr.py, test_preference.py and test_bradley_terry.py; here only their intervals.

``pytest -m slow`` runs the full harness (well under a minute of CPU on top of the ACR one);
``test_comparative_harness_fast_subset`` runs a few studies in every test run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from listening.analysis.stats.ccr import ccr_comparisons
from listening.analysis.stats.preference import ab_analysis
from tests.listening.analysis.stats import harness

CCR_SYSTEMS = ("ref", "N1", "N2", "S")
CCR_LATENT = np.array([0.0, 0.0, 0.0, -0.6])
AB_SYSTEMS = ("A", "B", "C", "D")
AB_LATENT = np.array([0.0, 0.0, 0.4, 0.8])
AB_PAIRS = [(i, j) for i in range(4) for j in range(i + 1, 4)]
SPAM = 0.05


@dataclass
class Tally(harness.Tally):
    covered_split: int = 0
    intervals_split: int = 0


def crossed(n_l: int, n_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Listener and sentence codes of every answer: each listener hears each sentence once."""
    listener, sentence = np.meshgrid(np.arange(n_l), np.arange(n_s), indexing="ij")
    return listener.ravel(), sentence.ravel()


def answer_table(systems, listener, sentence, first, second, **answer) -> pd.DataFrame:
    """A study's answers as its CSV has them: listener, sentence, the systems played as a and
    as b (codes into ``systems``), then the answer column."""
    names = np.array(systems)
    return pd.DataFrame(
        {
            "listener": [f"L{i}" for i in listener],
            "sentence": [f"s{i}" for i in sentence],
            "a": names[first],
            "b": names[second],
            **answer,
        }
    )


#: Each listener's own traits: name -> (the ``numpy.random.Generator`` distribution, its two
#: parameters), drawn in this order. CCR: slope (scale use), order bias (second clip rated
#: better), noise; AB: slope, position bias (favouring the first clip), tie threshold.
CCR_TRAITS = {
    "slope": ("uniform", 0.7, 1.3),
    "order": ("normal", 0.3, 0.3),
    "noise": ("uniform", 0.6, 1.0),
}
AB_TRAITS = {
    "slope": ("uniform", 0.6, 1.4),
    "position": ("normal", 0.2, 0.2),
    "tie": ("uniform", 0.0, 0.6),
}


def listeners(rng, n: int, traits: dict, systems: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``n`` simulated listeners: their own ``traits``, then what both designs' listeners have,
    a listener x system taste term (legitimate disagreement) and whether they click at random
    (``SPAM``)."""
    who = {name: getattr(rng, law)(a, b, n) for name, (law, a, b) in traits.items()}
    who["taste"] = rng.normal(0, 0.15, (n, len(systems)))
    who["spam"] = rng.random(n) < SPAM
    return who


def ccr_answers(rng, who, listener, first, second, w_first, w_second):
    """Raw -3..+3 answers rating ``second`` against ``first`` (system codes per answer)."""
    diff = (CCR_LATENT[second] + w_second + who["taste"][listener, second]) - (
        CCR_LATENT[first] + w_first + who["taste"][listener, first]
    )
    raw = who["slope"][listener] * diff + who["order"][listener]
    raw = raw + rng.normal(0, 1, len(listener)) * who["noise"][listener]
    score = np.clip(np.round(raw), -3, 3)
    spam = who["spam"][listener]
    return np.where(spam, rng.integers(-3, 4, len(listener)), score)


@lru_cache(maxsize=4)  # the fast subset and the full harness share one Monte-Carlo truth
def ccr_truth(draws: int = 400_000, seed: int = 2024) -> np.ndarray:
    rng = np.random.default_rng(seed)
    who = listeners(rng, draws, CCR_TRAITS, CCR_SYSTEMS)
    listener = np.arange(draws)
    out = np.zeros(len(CCR_SYSTEMS))
    for s in range(1, len(CCR_SYSTEMS)):
        system = np.full(draws, s)
        ref = np.zeros(draws, dtype=np.int64)
        w_sys, w_ref = rng.normal(0, 0.3, draws), rng.normal(0, 0.3, draws)
        ref_first = ccr_answers(rng, who, listener, ref, system, w_ref, w_sys)
        sys_first = -ccr_answers(rng, who, listener, system, ref, w_sys, w_ref)
        out[s] = (ref_first.mean() + sys_first.mean()) / 2
    return out


def ccr_study(rng, n_l: int = 24, n_s: int = 12) -> pd.DataFrame:
    who = listeners(rng, n_l, CCR_TRAITS, CCR_SYSTEMS)
    w = rng.normal(0, 0.3, (len(CCR_SYSTEMS), n_s))
    listener, sentence = crossed(n_l, n_s)
    system = 1 + (listener + sentence) % 3
    ref_first = (listener // 3 + sentence) % 2 == 0
    first = np.where(ref_first, 0, system)
    second = np.where(ref_first, system, 0)
    score = ccr_answers(rng, who, listener, first, second, w[first, sentence], w[second, sentence])
    return answer_table(
        CCR_SYSTEMS, listener, sentence, first, second, score=score.astype(np.int64)
    )


def run_ccr(reps: int, seed: int) -> Tally:
    truth = ccr_truth()
    rng = np.random.default_rng(seed)
    tally = Tally()
    for _ in range(reps):
        entries, _ = ccr_comparisons(ccr_study(rng), "reference", "ref", list(CCR_SYSTEMS), 0.05)
        harness.coverage_count(
            tally, ((e["ci95_clustered"], truth[CCR_SYSTEMS.index(e["system"])]) for e in entries)
        )
        tally.studies += 1
        tally.false_any += any(e["significant"] for e in entries if e["system"] in ("N1", "N2"))
    return tally


def ab_choices(rng, who, listener, first, second, w_first, w_second) -> np.ndarray:
    """ "a", "b" or "tie" for clips of ``first`` (played first) and ``second``."""
    diff = (AB_LATENT[first] + w_first + who["taste"][listener, first]) - (
        AB_LATENT[second] + w_second + who["taste"][listener, second]
    )
    perceived = who["slope"][listener] * diff + who["position"][listener]
    perceived = perceived + rng.logistic(0, 1, len(listener))
    choice = np.where(perceived > 0, "a", "b")
    choice = np.where(np.abs(perceived) < who["tie"][listener], "tie", choice)
    spam = who["spam"][listener]
    return np.where(spam, np.array(["a", "b", "tie"])[rng.integers(0, 3, len(listener))], choice)


@lru_cache(maxsize=4)
def ab_truth(draws: int = 400_000, seed: int = 2025) -> dict:
    rng = np.random.default_rng(seed)
    who = listeners(rng, draws, AB_TRAITS, AB_SYSTEMS)
    listener = np.arange(draws)
    out = {}
    for i, j in AB_PAIRS:
        wins = ties = 0.0
        for first, second in ((i, j), (j, i)):
            w_f, w_s = rng.normal(0, 0.3, draws), rng.normal(0, 0.3, draws)
            choice = ab_choices(
                rng, who, listener, np.full(draws, first), np.full(draws, second), w_f, w_s
            )
            i_won = (choice == "a") if first == i else (choice == "b")
            wins += i_won.mean() / 2
            ties += (choice == "tie").mean() / 2
        out[(AB_SYSTEMS[i], AB_SYSTEMS[j])] = (wins / (1 - ties), wins + ties / 2)
    return out


def ab_study(rng, n_l: int = 30, n_s: int = 12) -> pd.DataFrame:
    who = listeners(rng, n_l, AB_TRAITS, AB_SYSTEMS)
    w = rng.normal(0, 0.3, (len(AB_SYSTEMS), n_s))
    listener, sentence = crossed(n_l, n_s)
    pair = np.array(AB_PAIRS)[(listener + sentence) % len(AB_PAIRS)]
    swap = (listener // len(AB_PAIRS) + sentence) % 2 == 1
    first = np.where(swap, pair[:, 1], pair[:, 0])
    second = np.where(swap, pair[:, 0], pair[:, 1])
    choice = ab_choices(rng, who, listener, first, second, w[first, sentence], w[second, sentence])
    return answer_table(AB_SYSTEMS, listener, sentence, first, second, choice=choice)


def run_ab(reps: int, seed: int) -> Tally:
    truth = ab_truth()
    rng = np.random.default_rng(seed)
    tally = Tally()
    for _ in range(reps):
        pairs = ab_analysis(ab_study(rng), list(AB_SYSTEMS), 0.05)["pairs"]
        harness.coverage_count(
            tally, ((p["ci95_clustered"], truth[(p["a"], p["b"])][0]) for p in pairs)
        )
        for p in pairs:
            lo, hi = p["ci95_clustered_ties_split"]
            if lo is not None:
                tally.covered_split += lo <= truth[(p["a"], p["b"])][1] <= hi
                tally.intervals_split += 1
        tally.studies += 1
        tally.false_any += any(p["significant"] for p in pairs if (p["a"], p["b"]) == ("A", "B"))
    return tally


def report_line(name: str, r: Tally) -> str:
    line = (
        f"| {name} | {r.studies} | {r.covered / r.intervals:.1%} "
        f"(±{harness.coverage_mc_error(r):.1%}) "
        f"| {r.false_any / r.studies:.1%} (±{harness.mc_error(0.05, r.studies):.1%})"
    )
    if r.intervals_split:
        line += f" | ties split {r.covered_split / r.intervals_split:.1%}"
    return line + " |"


def check(name: str, r: Tally, slack: float = 0.0) -> None:
    se = harness.coverage_mc_error(r)
    harness.assert_coverage_in_band(name, r.covered / r.intervals, se, slack=slack)
    if r.intervals_split:
        harness.assert_coverage_in_band(name, r.covered_split / r.intervals_split, se, slack=slack)
    harness.assert_fwer_at_most_5_percent(name, r, slack=slack)


def test_null_systems_have_a_true_cmos_and_preference_of_exactly_no_difference():
    truth = ccr_truth(draws=100_000)
    assert abs(truth[1]) < 0.02 and abs(truth[2]) < 0.02 and truth[3] < -0.3
    share, split = ab_truth(draws=100_000)[("A", "B")]
    assert abs(share - 0.5) < 0.01 and abs(split - 0.5) < 0.01


@pytest.mark.slow
def test_comparative_harness_meets_the_targets():
    results = [("CCR, 24 listeners x 12 sentences", run_ccr(500, seed=11))]
    results.append(("AB, 30 listeners x 12 sentences", run_ab(500, seed=12)))
    print("\n| design | studies | coverage (MC SE) | FWER (MC SE) | |")
    print("\n".join(report_line(name, r) for name, r in results))
    for name, r in results:
        check(name, r)


def test_comparative_harness_fast_subset():
    for name, r in (("CCR", run_ccr(25, seed=5)), ("AB", run_ab(25, seed=6))):
        check(name, r, slack=0.06)
