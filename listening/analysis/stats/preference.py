"""AB preference and ABX discrimination per pair of systems, with the clustered intervals.

A pair is unordered: its ``a`` is the earlier system of the pair in the system order, ``b`` the
later, whichever was presented first. Input: the test rows of a table checked by
``comparison_table.validate_comparison(frame, "ab" | "abx")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bradley_terry import bradley_terry
from .ccr import _holm
from .means import clustered_means

SHARE = (0.0, 1.0)


def _pairs(frame: pd.DataFrame, systems: list[str]):
    index = {s: i for i, s in enumerate(systems)}
    ia = frame["a"].map(index).to_numpy(dtype=np.int64)
    ib = frame["b"].map(index).to_numpy(dtype=np.int64)
    low, high = np.minimum(ia, ib), np.maximum(ia, ib)
    keys = sorted(set(zip(low.tolist(), high.tolist())))
    key_of = {key: g for g, key in enumerate(keys)}
    group = np.array([key_of[key] for key in zip(low.tolist(), high.tolist())], dtype=np.int64)
    listener = pd.factorize(frame["listener"])[0]
    sentence = pd.factorize(frame["sentence"])[0]
    return ia, ib, low, high, keys, group, listener, sentence


def ab_analysis(
    frame: pd.DataFrame, systems: list[str], alpha: float, reference: str | None = None
) -> dict:
    """{"pairs", "ranking", "bradley_terry", "position_effect"} for the AB test rows."""
    ia, ib, low, high, keys, group, listener, sentence = _pairs(frame, systems)
    choice = frame["choice"].to_numpy(dtype=str)
    chosen = np.where(choice == "a", ia, np.where(choice == "b", ib, -1))
    tie = chosen < 0
    win_low = (chosen == low).astype(np.float64)  # the pair's "a" won
    decided = ~tie
    m = len(keys)
    pref = clustered_means(
        listener[decided],
        sentence[decided],
        group[decided],
        win_low[decided],
        m,
        null=0.5,
        bounds=SHARE,
    )
    split = np.where(tie, 0.5, win_low)
    halves = clustered_means(listener, sentence, group, split, m, null=0.5, bounds=SHARE)
    n = np.bincount(group, minlength=m)
    wins_a = np.bincount(group, win_low * decided, m)
    ties = np.bincount(group, tie, m)
    a_first = np.bincount(group, ia == low, m)
    pairs = []
    for g, (lo, hi) in enumerate(keys):
        pairs.append(
            {
                "a": systems[lo],
                "b": systems[hi],
                "n": int(n[g]),
                "wins_a": int(wins_a[g]),
                "wins_b": int(n[g] - wins_a[g] - ties[g]),
                "ties": int(ties[g]),
                "preference_a": pref[g]["mean"],
                "ci95_clustered": pref[g]["ci95_clustered"],
                "p_value": pref[g]["p_value"],
                "se_clustered": pref[g]["se_clustered"],
                "df_clustered": pref[g]["df_clustered"],
                "ci95": pref[g]["ci95"],
                "note": pref[g]["note"],
                "preference_a_ties_split": halves[g]["mean"],
                "ci95_clustered_ties_split": halves[g]["ci95_clustered"],
                "p_value_ties_split": halves[g]["p_value"],
                "note_ties_split": halves[g]["note"],
                "n_a_first": int(a_first[g]),
                "effect": pref[g]["mean"] - 0.5 if pref[g]["mean"] is not None else None,
            }
        )
    for p in pairs:
        if p["n"] and p["n"] == p["ties"]:
            p["note"] = "every answer is a tie: no decided answer to share"
    _holm(pairs, alpha, "effect")
    split_holm = [{"p_value": p["p_value_ties_split"], "effect": 1} for p in pairs]
    _holm(split_holm, alpha, "effect")
    for p, h in zip(pairs, split_holm):
        p["p_holm_ties_split"] = h["p_holm"]
        p["preferred"] = (
            (p["a"] if p["preference_a"] > 0.5 else p["b"])
            if p["significant"] and p["preference_a"] != 0.5
            else None
        )
        del p["effect"]
    # Position: did listeners favour the first clip? (share of decided answers choosing "a")
    first = clustered_means(
        listener[decided],
        sentence[decided],
        np.zeros(int(decided.sum()), dtype=np.int64),
        (choice[decided] == "a").astype(np.float64),
        1,
        null=0.5,
        bounds=SHARE,
    )[0]
    bt = bradley_terry(
        np.where(decided, chosen, ia),
        np.where(decided, np.where(chosen == ia, ib, ia), ib),
        np.where(decided, 1.0, 0.5),
        listener,
        systems,
        reference=reference,
    )
    return {
        "pairs": pairs,
        "ranking": bt["ranking"],
        "bradley_terry": {k: v for k, v in bt.items() if k != "ranking"},
        "position_effect": {
            "share_first_chosen": first["mean"],
            "n_decided": first["n"],
            "ci95_clustered": first["ci95_clustered"],
            "p_value": first["p_value"],
            "note": first["note"],
        },
    }


def abx_analysis(frame: pd.DataFrame, systems: list[str], alpha: float) -> dict:
    """{"pairs"} for the ABX test rows: proportion correct per pair against chance (0.5)."""
    _, _, low, high, keys, group, listener, sentence = _pairs(frame, systems)
    truth = np.where(frame["x"].eq(frame["a"]).to_numpy(), "a", "b")
    correct = (frame["choice"].to_numpy(dtype=str) == truth).astype(np.float64)
    stats = clustered_means(
        listener,
        sentence,
        group,
        correct,
        len(keys),
        null=0.5,
        bounds=SHARE,
        alternative="greater",
    )
    pairs = []
    for g, (lo, hi) in enumerate(keys):
        st = stats[g]
        pairs.append(
            {
                "a": systems[lo],
                "b": systems[hi],
                "n": st["n"],
                "n_correct": int(round(correct[group == g].sum())),
                "proportion_correct": st["mean"],
                "ci95_clustered": st["ci95_clustered"],
                "p_value": st["p_value"],
                "se_clustered": st["se_clustered"],
                "df_clustered": st["df_clustered"],
                "ci95": st["ci95"],
                "n_listeners": st["n_listeners"],
                "n_sentences": st["n_sentences"],
                "note": st["note"],
            }
        )
    _holm(pairs, alpha, "proportion_correct")
    for p in pairs:
        p["discriminated"] = bool(p["significant"])
    return {"pairs": pairs}


METHOD_AB = (
    "AB preference per pair of systems (a = the earlier system of the pair in the system "
    "order): wins_a, wins_b, ties; preference_a = wins_a / (wins_a + wins_b) (ties excluded) "
    "and preference_a_ties_split = (wins_a + ties / 2) / n, each the mean of a 0/1 (or 1/2) "
    "indicator per answer with the two-way (listeners x sentences) CR2 clustered variance and "
    "Bell-McCaffrey df of the MOS intervals; intervals on the logit of the share (inside "
    "0-1); t test of share = 0.5; Holm (1979) across pairs for each share. A share of exactly "
    "0 or 1 has no spread: its interval is Clopper-Pearson with the listeners as the sample "
    "and its p a sign test over listeners. position_effect: the share of decided answers "
    "choosing the first clip, against 0.5."
)
METHOD_ABX = (
    "ABX per pair: proportion of answers naming X correctly, with the two-way clustered "
    "interval on the logit scale and a one-sided t test against chance (0.5): below chance "
    "is no discrimination either. Holm across pairs; discriminated = p_holm < alpha."
)
