"""Simulated MUSHRA studies: the clustered interval of a condition's mean covers the truth, the
Holm-corrected clustered test keeps its error rate on a tied pair, and the BS.1534-3
post-screening removes careless listeners, as the MOS harness (test_simulation.py) checks for
ACR.

Each study draws sentences and listeners from a known population: conditions with known latent
quality on the 0-100 scale (a hidden reference near the top, two tied systems A = B, a system
10 points lower, the mid and low anchors), per-sentence difficulty, condition x sentence and
condition x listener interactions, listeners with their own bias, scale use (slope around 50)
and noise, clipping to 0-100, and a share of careless listeners who rate every condition
uniformly at random (they cannot find the hidden reference). The true mean of a condition is
the expected rating over the population, careless listeners included (Monte Carlo).

Designs: the BS.1534 lab design (every listener rates every condition of every sentence), a
crowd in which each listener does 8 of 30 sentences, and one with strong interactions and a
ceiling. Coverage is measured on all listeners' ratings (the estimand includes the careless
ones), on the full reports and on further coverage-only studies; the screening's recall and
false alarms, the tied pair's false-positive rate and the power for a 10-point gap on the full
reports.

``pytest -m slow`` runs the full table (under a minute of CPU) and prints it; the unmarked
``test_mushra_harness_fast_subset`` runs one design briefly in every test run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from listening.analysis.stats.mushra import (
    _coded,
    _condition_order,
    condition_summaries,
    mushra_report,
    validate_mushra,
)
from listening.analysis.stats.variance import system_parts
from tests.listening.analysis.stats import harness

CONDITIONS = ("ref", "A", "B", "C", "lp70", "lp35")
ROLES = {"reference": "ref", "anchor70": "lp70", "anchor35": "lp35"}


@dataclass(frozen=True)
class Design:
    name: str
    n_listeners: int
    n_sentences: int
    per_listener: int  # sentences (trials) each listener does
    latent: tuple[float, ...] = (96.0, 68.0, 68.0, 58.0, 45.0, 18.0)
    sd_sentence: float = 6.0
    sd_cond_sentence: float = 4.0
    sd_bias: float = 8.0
    sd_cond_listener: float = 4.0
    slope: tuple[float, float] = (0.7, 1.3)
    noise: tuple[float, float] = (6.0, 14.0)
    careless_share: float = 0.1
    reps: int = 25  # full reports: screening, pairs and coverage
    coverage_reps: int = 100  # further studies that only measure coverage (much faster)


DESIGNS = (
    Design("lab, 12 listeners x 10 sentences", 12, 10, 10, careless_share=0.0),
    Design("crowd, 40 listeners x 8 of 30 sentences", 40, 30, 8),
    Design(
        "interactions and ceiling",
        30,
        20,
        10,
        latent=(99.0, 88.0, 88.0, 78.0, 50.0, 15.0),
        sd_cond_sentence=8.0,
        sd_cond_listener=8.0,
    ),
)


def honest(latent: np.ndarray, slope, bias, noise, rng) -> np.ndarray:
    value = 50 + slope * (latent - 50) + bias + rng.normal(0, 1, np.shape(latent)) * noise
    return np.clip(value, 0, 100)


def true_means(d: Design, *, draws: int = 400_000, seed: int = 99) -> np.ndarray:
    rng = np.random.default_rng(seed)
    slope = rng.uniform(*d.slope, draws)
    bias = rng.normal(0, d.sd_bias, draws)
    noise = rng.uniform(*d.noise, draws)
    careless = rng.random(draws) < d.careless_share
    out = []
    for k, mean in enumerate(d.latent):
        latent = mean + rng.normal(0, 1, draws) * math.hypot(
            d.sd_sentence, d.sd_cond_sentence, d.sd_cond_listener
        )
        scores = honest(latent, slope, bias, noise, rng)
        if k == 0:
            # Attentive listeners find the hidden reference (BS.1534: it should get 100).
            scores = np.maximum(scores, rng.uniform(90, 100, draws))
        scores = np.where(careless, rng.uniform(0, 100, draws), scores)
        out.append(scores.mean())
    return np.array(out)


def simulate(d: Design, rng: np.random.Generator) -> tuple[pd.DataFrame, set[str]]:
    k = len(d.latent)
    sentence = rng.normal(0, d.sd_sentence, d.n_sentences)
    cond_sentence = rng.normal(0, d.sd_cond_sentence, (k, d.n_sentences))
    cond_listener = rng.normal(0, d.sd_cond_listener, (k, d.n_listeners))
    slope = rng.uniform(*d.slope, d.n_listeners)
    bias = rng.normal(0, d.sd_bias, d.n_listeners)
    noise = rng.uniform(*d.noise, d.n_listeners)
    careless = rng.random(d.n_listeners) < d.careless_share
    lis = np.repeat(np.arange(d.n_listeners), d.per_listener)
    sen = np.concatenate(
        [rng.choice(d.n_sentences, d.per_listener, replace=False) for _ in range(d.n_listeners)]
    )
    # Every trial shows every condition (MUSHRA): one row per trial and condition.
    lis, sen = np.repeat(lis, k), np.repeat(sen, k)
    cond = np.tile(np.arange(k), len(lis) // k)
    latent = (
        np.asarray(d.latent)[cond]
        + sentence[sen]
        + cond_sentence[cond, sen]
        + cond_listener[cond, lis]
    )
    score = honest(latent, slope[lis], bias[lis], noise[lis], rng)
    found = cond == 0
    score[found] = np.maximum(score[found], rng.uniform(90, 100, int(found.sum())))
    score = np.where(careless[lis], rng.uniform(0, 100, len(score)), score)
    names = np.array([f"L{j}" for j in range(d.n_listeners)])
    table = pd.DataFrame(
        {
            "listener": names[lis],
            "sentence": sen.astype(str),
            "system": np.array(CONDITIONS)[cond],
            "score": score,
        }
    )
    return table, set(names[careless])


@dataclass
class Tally(harness.Tally):
    naive_covered: int = 0
    found_gap: int = 0
    careless: int = 0
    caught: int = 0
    attentive: int = 0
    wrongly: int = 0
    seconds: float = 0.0


def count_coverage(tally: Tally, systems: list[dict], truth: np.ndarray) -> None:
    true = [truth[CONDITIONS.index(entry["system"])] for entry in systems]
    harness.coverage_count(tally, ((entry["ci95_clustered"], t) for entry, t in zip(systems, true)))
    for entry, t in zip(systems, true):
        tally.naive_covered += entry["ci95"][0] <= t <= entry["ci95"][1]


def summaries_only(table: pd.DataFrame) -> list[dict]:
    """The report's per-condition entries for all listeners, without pairs or screening."""
    frame = validate_mushra(table, roles=ROLES)
    t = _coded(frame, _condition_order(frame))
    return condition_summaries(t, frame["score"].to_numpy(), system_parts(t))


def run(d: Design, reps: int, seed: int, coverage_reps: int = 0) -> Tally:
    rng = np.random.default_rng(seed)
    truth = true_means(d)
    tally = Tally()
    start = time.perf_counter()
    for _ in range(coverage_reps):
        table, _ = simulate(d, rng)
        count_coverage(tally, summaries_only(table), truth)
    for _ in range(reps):
        table, careless = simulate(d, rng)
        report = mushra_report(table, roles=ROLES)
        tally.studies += 1
        count_coverage(tally, report["without_exclusions"]["systems"], truth)
        pairs = {(p["system_a"], p["system_b"]): p for p in report["without_exclusions"]["pairs"]}
        tally.false_any += pairs[("A", "B")]["significant"]
        tally.found_gap += pairs[("A", "C")]["significant"]
        excluded = {e["listener"] for e in report["excluded_listeners"]}
        everyone = set(table["listener"])
        tally.careless += len(careless)
        tally.caught += len(careless & excluded)
        tally.attentive += len(everyone - careless)
        tally.wrongly += len(excluded - careless)
    tally.seconds = time.perf_counter() - start
    return tally


def check(d: Design, t: Tally, *, slack: float = 0.0) -> None:
    harness.assert_targets(
        d.name, t, should_go=t.careless, should_stay=t.attentive, recall=0.95, slack=slack
    )


def table_rows(results: list[tuple[Design, Tally]]) -> list[str]:
    lines = [
        "| design | studies | clustered coverage (MC SE) | naive coverage | FWER A = B "
        "| power A - C | careless caught | attentive excluded | seconds |",
        "|" + " --- |" * 9,
    ]
    for d, t in results:
        recall = f"{t.caught / t.careless:.0%}" if t.careless else "n/a"
        lines.append(
            f"| {d.name} | {t.studies} + {len(t.per_study) - t.studies} "
            f"| {t.covered / t.intervals:.1%} (±{harness.coverage_mc_error(t):.1%}) "
            f"| {t.naive_covered / t.intervals:.1%} | {t.false_any / t.studies:.1%} "
            f"| {t.found_gap / t.studies:.0%} | {recall} "
            f"| {t.wrongly / max(t.attentive, 1):.1%} | {t.seconds:.0f} |"
        )
    return lines


@pytest.mark.slow
def test_mushra_harness_meets_the_targets_on_every_design():
    results = [
        (d, run(d, d.reps, seed=500 + i, coverage_reps=d.coverage_reps))
        for i, d in enumerate(DESIGNS)
    ]
    print("\n" + "\n".join(table_rows(results)))
    for d, t in results:
        check(d, t)


def test_mushra_harness_fast_subset():
    d = DESIGNS[1]
    t = run(d, 8, seed=42, coverage_reps=20)
    print("\n" + "\n".join(table_rows([(d, t)])))
    # 28 studies: loose bounds (the slow harness holds the real targets).
    check(d, t, slack=0.06)
