"""Simulated crowds check that listening.stats' intervals and screening do what they claim.

Each simulated study draws fresh sentences and listeners from a known population: four systems
with known latent quality, per-sentence difficulty and system x sentence interaction, listeners
with their own bias and scale compression, Gaussian noise, rounding and clipping to the 1–5
ACR scale, and a share of spammers (half random, half constant). The design is the site's:
balanced playlists in which every listener hears 20 distinct sentences, 5 per system, and every
clip gets the same number of ratings; each playlist also carries two gold questions and two
repeated clips (ITU-T P.808 practice).

The "true MOS" of a system is its expected rating over the population of listeners (spammers
included, they are part of the crowd that was sampled) and sentences, on the rounded 1–5 scale,
computed once by a large Monte Carlo.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from listening.analysis import stats

SYSTEMS = ("A", "B", "C", "D")
LATENT = np.array([2.2, 3.0, 3.6, 4.1])  # latent quality of each system


@dataclass(frozen=True)
class Crowd:
    n_sentences: int = 40  # drawn afresh for every study
    ratings_per_clip: int = 6
    spam_share: float = 0.12
    sd_sentence: float = 0.35  # sentence difficulty, shared by all systems
    sd_interaction: float = 0.2  # system x sentence
    sd_bias: float = 0.4  # listener offset
    slope: tuple[float, float] = (0.5, 1.2)  # listener scale use (compression < 1)
    sd_noise: float = 0.6


def honest_scores(latent, bias, slope, rng) -> np.ndarray:
    """Scale use around the scale midpoint, plus bias and noise, rounded and clipped."""
    noise = rng.normal(0.0, Crowd.sd_noise, np.shape(latent))
    return np.clip(np.rint(3 + slope * (latent - 3) + bias + noise), 1, 5)


def draw_listeners(rng: np.random.Generator, n: int, crowd: Crowd) -> dict[str, np.ndarray]:
    spammer = rng.random(n) < crowd.spam_share
    return {
        "bias": rng.normal(0.0, crowd.sd_bias, n),
        "slope": rng.uniform(*crowd.slope, n),
        "spammer": spammer,
        "constant": spammer & (rng.random(n) < 0.5),
        "constant_value": rng.integers(1, 6, n).astype(float),
        # Half of the spammers also click through quickly.
        "fast": spammer & (rng.random(n) < 0.5),
    }


def spam_scores(who: dict[str, np.ndarray], listener: np.ndarray, rng) -> np.ndarray:
    random_scores = rng.integers(1, 6, len(listener)).astype(float)
    return np.where(who["constant"][listener], who["constant_value"][listener], random_scores)


def true_mos(crowd: Crowd, *, draws: int = 1_000_000, seed: int = 12345) -> np.ndarray:
    """Expected rating per system over the listener and sentence populations (Monte Carlo)."""
    rng = np.random.default_rng(seed)
    out = []
    for latent_mean in LATENT:
        who = draw_listeners(rng, draws, crowd)
        latent = (
            latent_mean
            + rng.normal(0, crowd.sd_sentence, draws)
            + rng.normal(0, crowd.sd_interaction, draws)
        )
        scores = honest_scores(latent, who["bias"], who["slope"], rng)
        scores = np.where(who["spammer"], spam_scores(who, np.arange(draws), rng), scores)
        out.append(scores.mean())
    return np.array(out)


def simulate_study(rng: np.random.Generator, crowd: Crowd) -> tuple[pd.DataFrame, set[str]]:
    """One study: a ratings table like the site's and the names of the spammers in it."""
    k, n_s = len(SYSTEMS), crowd.n_sentences
    sentence_effect = rng.normal(0, crowd.sd_sentence, n_s)
    interaction = rng.normal(0, crowd.sd_interaction, (k, n_s))

    # Balanced playlists: the sentences are split in halves; in a group of 2k listeners each
    # half is heard by k listeners with the systems rotated (a Latin square), so the group rates
    # every clip once, and each listener hears n_s/2 distinct sentences, n_s/(2k) per system.
    half = n_s // 2
    listener_rows, sentence_rows, system_rows = [], [], []
    listener = 0
    for _ in range(crowd.ratings_per_clip):
        order = rng.permutation(n_s)
        for h in range(2):
            sentences = order[h * half : (h + 1) * half]
            for shift in range(k):
                listener_rows.append(np.full(half, listener))
                sentence_rows.append(sentences)
                system_rows.append((np.arange(half) + shift) % k)
                listener += 1
    lis = np.concatenate(listener_rows)
    sen = np.concatenate(sentence_rows)
    sys_ = np.concatenate(system_rows)
    who = draw_listeners(rng, listener, crowd)

    latent = LATENT[sys_] + sentence_effect[sen] + interaction[sys_, sen]
    score = honest_scores(latent, who["bias"][lis], who["slope"][lis], rng)
    score = np.where(who["spammer"][lis], spam_scores(who, lis, rng), score)

    # Two repeats per listener: the first two clips of each playlist are played again.
    repeat = np.concatenate([np.flatnonzero(lis == j)[:2] for j in range(listener)])
    repeat_scores = honest_scores(
        latent[repeat], who["bias"][lis[repeat]], who["slope"][lis[repeat]], rng
    )
    repeat_scores = np.where(
        who["spammer"][lis[repeat]], spam_scores(who, lis[repeat], rng), repeat_scores
    )
    # Two gold questions per listener (P.808): an obviously bad and an obviously good clip.
    gold_lis = np.repeat(np.arange(listener), 2)
    expected = np.tile([1.0, 5.0], listener)
    gold_scores = np.clip(expected + np.rint(rng.normal(0, 0.5, len(expected))), 1, 5)
    gold_scores = np.where(who["spammer"][gold_lis], spam_scores(who, gold_lis, rng), gold_scores)

    all_lis = np.concatenate([lis, lis[repeat], gold_lis])
    n_test, n_rep = len(lis), len(repeat)
    seconds = rng.lognormal(np.log(4.0), 0.5, len(all_lis))
    seconds = np.where(who["fast"][all_lis], rng.uniform(0.2, 0.9, len(all_lis)), seconds)
    table = pd.DataFrame(
        {
            "listener": [f"L{j}" for j in all_lis],
            "sentence": np.concatenate(
                [sen.astype(str), sen[repeat].astype(str), np.tile(["g1", "g5"], listener)]
            ),
            "system": np.concatenate(
                [np.array(SYSTEMS)[sys_], np.array(SYSTEMS)[sys_[repeat]], ["gold"] * len(gold_lis)]
            ),
            "score": np.concatenate([score, repeat_scores, gold_scores]).astype(int),
            "purpose": ["test"] * n_test + ["repeat"] * n_rep + ["gold"] * len(gold_lis),
            "expected_score": np.concatenate([np.full(n_test + n_rep, np.nan), expected]),
            "response_seconds": seconds,
        }
    )
    spammers = {f"L{j}" for j in np.flatnonzero(who["spammer"])}
    return table, spammers


def test_clustered_interval_covers_the_true_mos_and_the_t_interval_falls_short():
    crowd = Crowd()
    truth = dict(zip(SYSTEMS, true_mos(crowd)))
    rng = np.random.default_rng(2024)
    covered_clustered = covered_t = total = 0
    for _ in range(1000):
        table, _ = simulate_study(rng, crowd)
        for system in stats.mos_summary(table):
            lo, hi = system["ci95_clustered"]
            t_lo, t_hi = system["ci95"]
            covered_clustered += lo <= truth[system["system"]] <= hi
            covered_t += t_lo <= truth[system["system"]] <= t_hi
            total += 1
    clustered, naive = covered_clustered / total, covered_t / total
    print(
        f"\n{total} intervals: clustered 95% CI covers the true MOS {clustered:.1%}, "
        f"t-interval over ratings {naive:.1%}"
    )
    assert total >= 4000
    assert 0.93 <= clustered <= 0.97
    assert naive < clustered - 0.05


def test_clustered_interval_keeps_coverage_with_few_sentences_and_listeners():
    # A harder corner: 16 sentences (few sentence clusters) and only 3 ratings per clip.
    crowd = replace(Crowd(), n_sentences=16, ratings_per_clip=3, sd_sentence=0.45)
    truth = dict(zip(SYSTEMS, true_mos(crowd, seed=7)))
    rng = np.random.default_rng(99)
    covered = total = 0
    for _ in range(500):
        table, _ = simulate_study(rng, crowd)
        for system in stats.mos_summary(table):
            lo, hi = system["ci95_clustered"]
            covered += lo <= truth[system["system"]] <= hi
            total += 1
    print(
        f"\n{total} intervals, 16 sentences x 24 listeners: clustered coverage {covered / total:.1%}"
    )
    assert 0.93 <= covered / total <= 0.97


def test_screening_removes_most_spammers_and_few_honest_listeners():
    crowd = Crowd()
    honest_truth = dict(zip(SYSTEMS, true_mos(replace(crowd, spam_share=0.0), seed=5)))
    rng = np.random.default_rng(7)
    caught = spammers_total = wrongly = honest_total = 0
    error_before, error_after = [], []
    for _ in range(40):
        table, spammers = simulate_study(rng, crowd)
        report = stats.build_report(table)
        excluded = {e["listener"] for e in report["excluded_listeners"]}
        listeners = set(table["listener"])
        caught += len(excluded & spammers)
        spammers_total += len(spammers)
        wrongly += len(excluded - spammers)
        honest_total += len(listeners - spammers)
        for before, after in zip(report["systems"], report["systems_after_exclusion"]):
            error_before.append(abs(before["mos"] - honest_truth[before["system"]]))
            error_after.append(abs(after["mos"] - honest_truth[after["system"]]))
    recall, false_alarms = caught / spammers_total, wrongly / honest_total
    print(
        f"\nscreening: {caught}/{spammers_total} spammers excluded ({recall:.1%}), "
        f"{wrongly}/{honest_total} honest listeners excluded ({false_alarms:.1%}); "
        f"mean |MOS - honest MOS| {np.mean(error_before):.3f} before, "
        f"{np.mean(error_after):.3f} after exclusion"
    )
    assert spammers_total >= 100
    assert recall >= 0.8
    assert false_alarms <= 0.05
    # Spammers pull every MOS towards 3; removing them brings it back to the honest crowd's.
    assert np.mean(error_after) < np.mean(error_before)
