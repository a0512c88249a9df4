"""Applying the listener screening rules of ``listening.screening`` to a ratings table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from listening.screening import ScreeningRules, rule_reasons

from .table import group_mean, validate_ratings


def screen(frame: pd.DataFrame, rules: ScreeningRules) -> pd.DataFrame:
    listener_codes, listener_index = pd.factorize(frame["listener"], sort=False)
    n_l = len(listener_index)
    purpose = frame["purpose"].to_numpy()
    score = frame["score"].to_numpy(dtype=np.float64)
    kind = frame["system_kind"].to_numpy()
    is_test = purpose == "test"
    codes = np.asarray(listener_codes, dtype=np.int64)

    test_codes = codes[is_test]
    test_scores = score[is_test]
    mean_score, n_test = group_mean(test_codes, test_scores, n_l)
    low = np.full(n_l, np.inf)
    high = np.full(n_l, -np.inf)
    np.minimum.at(low, test_codes, test_scores)
    np.maximum.at(high, test_codes, test_scores)
    identical = (n_test >= rules.min_ratings_for_identical) & (low == high)

    # Gold questions (P.808 "gold standard questions"): clips with a known answer.
    gold = purpose == "gold"
    miss = np.abs(score - frame["expected_score"].to_numpy()) > rules.gold_tolerance
    n_gold = np.bincount(codes[gold], minlength=n_l)
    gold_failures = np.bincount(codes[gold & miss], minlength=n_l)

    # Repeated clips: a repeat is compared with the same listener's test rating of that clip.
    clip_codes, _ = pd.factorize(frame["clip"], sort=False)
    clip_codes = np.asarray(clip_codes, dtype=np.int64)
    pair_key = codes * (int(clip_codes.max(initial=0)) + 1) + clip_codes
    first_test = pd.Series(score[is_test]).groupby(pair_key[is_test]).first()
    repeat = purpose == "repeat"
    original = first_test.reindex(pair_key[repeat]).to_numpy()
    matched = ~np.isnan(original)
    difference = np.abs(score[repeat] - original)
    limit = np.inf if rules.max_repeat_difference is None else rules.max_repeat_difference
    n_repeats = np.bincount(codes[repeat][matched], minlength=n_l)
    inconsistent = np.bincount(codes[repeat][matched & (difference > limit)], minlength=n_l)

    # Natural reference and low anchors (P.808 recommends both as sanity checks).
    reference_mean, n_reference = group_mean(
        codes[is_test & (kind == "reference")], score[is_test & (kind == "reference")], n_l
    )
    low_anchor = is_test & (kind == "anchor") & frame["is_low_anchor"].to_numpy(dtype=bool)
    anchor_mean, n_anchor = group_mean(codes[low_anchor], score[low_anchor], n_l)

    seconds = frame["response_seconds"].to_numpy()
    timed = ~np.isnan(seconds)
    median_seconds = (
        pd.Series(seconds[timed]).groupby(codes[timed]).median().reindex(range(n_l)).to_numpy()
    )

    fired = {
        "gold_failures": (n_gold > 0) & (gold_failures > _or_inf(rules.max_gold_failures)),
        "inconsistent_repeats": (n_repeats > 0)
        & (inconsistent > _or_inf(rules.max_inconsistent_repeats)),
        "identical_scores": identical & rules.flag_identical_scores,
        "reference_low": reference_mean < _or_neg_inf(rules.min_reference_score),
        "anchor_high": anchor_mean > _or_inf(rules.max_anchor_score),
        "fast_answers": median_seconds < _or_neg_inf(rules.min_median_response_seconds),
    }

    # Agreement: Pearson correlation of the listener's scores with the mean score of the same
    # clips by the *other* listeners (leave-one-out, so nobody agrees with themself). The crowd
    # reference leaves out listeners that another rule already flagged: random clickers blur
    # the clip means and would pull honest listeners' correlations down with them. One pass,
    # no iteration, so the result does not depend on an order. O(n) from per-listener sums.
    test_clips = clip_codes[is_test]
    flagged_before = np.logical_or.reduce(list(fired.values()))
    in_reference = (~flagged_before[test_codes]).astype(np.float64)
    clip_sum = np.bincount(test_clips, weights=test_scores * in_reference)
    clip_n = np.bincount(test_clips, weights=in_reference)
    others = clip_n[test_clips] - in_reference
    usable = others > 0
    x = test_scores[usable]
    y = (clip_sum[test_clips] - in_reference * test_scores)[usable] / others[usable]
    c = test_codes[usable]
    m = np.bincount(c, minlength=n_l).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sx, sy = np.bincount(c, x, n_l), np.bincount(c, y, n_l)
        sxx = np.bincount(c, x * x, n_l) - sx**2 / m
        syy = np.bincount(c, y * y, n_l) - sy**2 / m
        sxy = np.bincount(c, x * y, n_l) - sx * sy / m
        correlation = sxy / np.sqrt(sxx * syy)
    # Guard against round-off: a constant listener has sxx == 0 exactly in theory.
    degenerate = (m < rules.min_items_for_correlation) | (sxx <= 1e-9 * m) | (syy <= 1e-12 * m)
    correlation = np.where(degenerate, np.nan, np.clip(correlation, -1.0, 1.0))
    fired["low_correlation"] = correlation < _or_neg_inf(rules.min_correlation)

    table = pd.DataFrame(
        {
            "n_test": n_test,
            "mean_score": mean_score,
            "n_gold": n_gold,
            "gold_failures": gold_failures,
            "n_repeats": n_repeats,
            "inconsistent_repeats": inconsistent,
            "identical_scores": identical,
            "reference_mean": reference_mean,
            "n_reference": n_reference,
            "anchor_mean": anchor_mean,
            "n_anchor": n_anchor,
            "median_response_seconds": median_seconds,
            "n_correlation_items": m.astype(np.int64),
            "correlation": correlation,
        },
        index=pd.Index([str(x) for x in listener_index], name="listener"),
    )

    for name, flags in fired.items():
        table[f"rule_{name}"] = np.asarray(flags, dtype=bool)
    rule_names = list(fired)
    flags = table[[f"rule_{r}" for r in rule_names]].to_numpy()
    table["rules"] = [[r for r, f in zip(rule_names, row) if f] for row in flags]
    table["reasons"] = [rule_reasons(row, rules) for row in table.itertuples()]
    table["excluded"] = flags.any(axis=1) & rules.enabled
    return table


def _or_inf(x: float | None) -> float:
    return np.inf if x is None else x


def _or_neg_inf(x: float | None) -> float:
    return -np.inf if x is None else x


def screen_listeners(ratings: pd.DataFrame, rules: Mapping[str, Any] | None) -> pd.DataFrame:
    """Apply the listener screening rules; one row per listener (index "listener").

    Columns: the measured values (n_test, mean_score, n_gold, gold_failures, n_repeats,
    inconsistent_repeats, identical_scores, reference_mean, anchor_mean,
    median_response_seconds, n_correlation_items, correlation — NaN where a rule cannot be
    evaluated for lack of data), one boolean ``rule_<name>`` per rule, ``rules`` (names that
    fired), ``reasons`` (text with value and threshold) and ``excluded`` (any rule fired and
    screening enabled). ``rules`` takes the shape of ``listening.screening.default_rules()``.
    """
    frame = validate_ratings(ratings)
    frame = frame[frame["purpose"].to_numpy() != "training"]
    return screen(frame, ScreeningRules.from_dict(rules))
