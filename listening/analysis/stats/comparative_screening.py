"""Applying the comparative screening rules of ``listening.screening`` (CCR, AB, ABX answers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from listening.screening import COMPARATIVE_SCREENING, ScreeningRules

from .screening import (
    apply_rules,
    gold_and_repeat_rules,
    median_response_seconds,
    or_inf,
    or_neg_inf,
)


def _answer(frame: pd.DataFrame, test: str) -> tuple[np.ndarray, np.ndarray]:
    """(pair key, answer in one clip order) per row: a repeat of the same two clips in the
    other order gets the same key and a comparable answer."""
    clip_a = frame["clip_a"].to_numpy(dtype=str)
    clip_b = frame["clip_b"].to_numpy(dtype=str)
    swapped = clip_a > clip_b
    first = np.where(swapped, clip_b, clip_a)
    second = np.where(swapped, clip_a, clip_b)
    key = np.char.add(np.char.add(first, "\x1e"), second)
    if test == "ccr":
        score = frame["score"].to_numpy(dtype=np.float64)
        return key, np.where(swapped, -score, score).astype(object)
    choice = frame["choice"].to_numpy(dtype=str)
    if test == "abx":
        return key, choice.astype(object)  # X is the same clip: the same answer is expected
    chosen = np.where(choice == "a", clip_a, np.where(choice == "b", clip_b, "tie"))
    return key, chosen.astype(object)


def screen_comparison(frame: pd.DataFrame, test: str, rules: ScreeningRules) -> pd.DataFrame:
    """One row per listener (index "listener") with the measured values, ``rule_<name>`` per
    rule of ``listening.screening.COMPARATIVE_SCREENING``, ``rules``, ``reasons`` and ``excluded``;
    ``attrs["suspended_rules"]`` as for ACR (a rule firing for more than max_rule_share of the
    listeners is not applied). ``frame``: validated rows, training rows already dropped."""
    codes, names = pd.factorize(frame["listener"], sort=False)
    codes = np.asarray(codes, dtype=np.int64)
    n_l = len(names)
    purpose = frame["purpose"].to_numpy()
    is_test, gold, repeat = purpose == "test", purpose == "gold", purpose == "repeat"
    answer_column = "score" if test == "ccr" else "choice"
    answer = frame[answer_column].astype(str).to_numpy()

    # Gold: CCR within gold_tolerance points of the expected score; AB/ABX the expected choice.
    if test == "ccr":
        diff = np.abs(frame["score"].to_numpy(np.float64) - frame["expected"].to_numpy(np.float64))
        miss = diff > rules.gold_tolerance + 1e-9
    else:
        miss = frame["choice"].to_numpy(dtype=str) != frame["expected"].to_numpy(dtype=str)
    n_gold = np.bincount(codes[gold], minlength=n_l)
    gold_failures = np.bincount(codes[gold & miss], minlength=n_l)

    # Repeats against the listener's own test answer to the same two clips.
    key, oriented = _answer(frame, test)
    first = {}
    for c, k, a in zip(codes[is_test], key[is_test], oriented[is_test]):
        first.setdefault((c, k), a)
    n_repeats = np.zeros(n_l, dtype=np.int64)
    inconsistent = np.zeros(n_l, dtype=np.int64)
    limit = or_inf(rules.max_repeat_difference)
    for c, k, a in zip(codes[repeat], key[repeat], oriented[repeat]):
        if (c, k) not in first:
            continue
        n_repeats[c] += 1
        original = first[(c, k)]
        differs = abs(a - original) > limit if test == "ccr" else a != original
        inconsistent[c] += int(differs)

    n_test = np.bincount(codes[is_test], minlength=n_l)
    distinct = pd.Series(answer[is_test]).groupby(codes[is_test]).nunique()
    distinct = distinct.reindex(range(n_l)).fillna(0).to_numpy()
    only = pd.Series(answer[is_test]).groupby(codes[is_test]).first().reindex(range(n_l))
    identical = (n_test >= rules.min_ratings_for_identical) & (distinct == 1)

    median_seconds = median_response_seconds(frame, codes, n_l)
    fired = {
        **gold_and_repeat_rules(rules, n_gold, gold_failures, n_repeats, inconsistent),
        "identical_answers": identical & rules.flag_identical_scores,
        "fast_answers": median_seconds < or_neg_inf(rules.min_median_response_seconds),
    }
    table = pd.DataFrame(
        {
            "test": test,
            "n_test": n_test,
            "n_gold": n_gold,
            "gold_failures": gold_failures,
            "n_repeats": n_repeats,
            "inconsistent_repeats": inconsistent,
            "identical_answers": identical,
            "only_answer": only.fillna("").astype(str).to_numpy(),
            "median_response_seconds": median_seconds,
        },
        index=pd.Index([str(x) for x in names], name="listener"),
    )
    return apply_rules(table, fired, rules, COMPARATIVE_SCREENING)
