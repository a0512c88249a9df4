"""Applying the listener screening rules of ``listening.screening`` to a ratings table.

:func:`screen` measures every ACR listener and judges them by ``ACR_SCREENING``;
:func:`apply_rules` finishes any test type's per-listener table the same way (the comparative
tests' ``comparative_screening`` uses it too), and :func:`screening_warnings`,
:func:`excluded_listeners` and :func:`screening_section` give a report its screening parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from listening.screening import ACR_SCREENING, RuleSet, ScreeningRules

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

    # Gold questions (P.808 "gold standard questions"): clips with a known answer, judged in
    # the listener's own range of test scores. A listener who uses 2-4 answers an obvious "1"
    # with a 2: the expected score is mapped into their range (1 -> their lowest, 5 -> their
    # highest), the answer is clipped to it (a 1 is no worse than their lowest score) and the
    # tolerance shrinks with the range (to one score step at least). Over the full 1-5 range
    # this is the plain rule.
    own_range = (n_test >= rules.min_ratings_for_identical) & (high > low)
    score_low = np.where(own_range, low, 1.0)
    score_high = np.where(own_range, high, 5.0)
    width = score_high - score_low
    gold = purpose == "gold"
    expected = frame["expected_score"].to_numpy()
    mapped = score_low[codes] + (expected - 1) / 4 * width[codes]
    answer = np.clip(score, score_low[codes], score_high[codes])
    # Never below one score step: an honest listener is often one step off a gold answer.
    tolerance = np.maximum(rules.gold_tolerance * width[codes] / 4, 1.0)
    miss = np.abs(answer - mapped) > tolerance + 1e-9
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
    limit = or_inf(rules.max_repeat_difference)
    n_repeats = np.bincount(codes[repeat][matched], minlength=n_l)
    inconsistent = np.bincount(codes[repeat][matched & (difference > limit)], minlength=n_l)

    # Natural reference and low anchors (P.808 recommends both as sanity checks).
    reference_mean, n_reference = group_mean(
        codes[is_test & (kind == "reference")], score[is_test & (kind == "reference")], n_l
    )
    low_anchor = is_test & (kind == "anchor") & frame["is_low_anchor"].to_numpy(dtype=bool)
    anchor_mean, n_anchor = group_mean(codes[low_anchor], score[low_anchor], n_l)

    median_seconds = median_response_seconds(frame, codes, n_l)

    fired = {
        **gold_and_repeat_rules(rules, n_gold, gold_failures, n_repeats, inconsistent),
        "identical_scores": identical & rules.flag_identical_scores,
        "reference_low": reference_mean < or_neg_inf(rules.min_reference_score),
        "anchor_high": anchor_mean > or_inf(rules.max_anchor_score),
        "fast_answers": median_seconds < or_neg_inf(rules.min_median_response_seconds),
    }

    # Agreement: Pearson correlation of the listener's scores with the mean score of the same
    # clips by the *other* listeners (leave-one-out, so nobody agrees with themself). The crowd
    # reference leaves out listeners that another rule already flagged: random clickers blur
    # the clip means and would pull honest listeners' correlations down with them. One pass,
    # no iteration, so the result does not depend on an order. O(n) from per-listener sums.
    test_clips = clip_codes[is_test]
    # Only rules that will be applied shape the crowd (a suspended rule may flag everyone).
    limit = or_inf(rules.max_rule_share)
    flagged_before = np.zeros(n_l, dtype=bool)
    for flags_of_rule in fired.values():
        flags_of_rule = np.asarray(flags_of_rule, dtype=bool)
        if n_l and flags_of_rule.mean() <= limit:
            flagged_before |= flags_of_rule
    in_reference = (~flagged_before[test_codes]).astype(np.float64)
    clip_sum = np.bincount(test_clips, weights=test_scores * in_reference)
    clip_n = np.bincount(test_clips, weights=in_reference)
    others = clip_n[test_clips] - in_reference
    usable = others > 0
    x = test_scores[usable]
    y = (clip_sum[test_clips] - in_reference * test_scores)[usable] / others[usable]
    c = test_codes[usable]
    m = np.bincount(c, minlength=n_l).astype(np.float64)
    correlation, sxx, syy = _pearson_by_group(c, x, y, n_l)
    # The best agreement this listener's own use of the scale allows: their scores, as they
    # are (same values, same counts), given to the clips in the crowd's order. A listener who
    # uses only 3 and 4 cannot reach r = 1 with a crowd mean that varies smoothly; judging
    # each listener against A * r_max (A: the crowd's typical share of r_max it reaches) means
    # narrow or coarse scale use is not read as inattention.
    order_x, order_y = np.lexsort((x, c)), np.lexsort((y, c))
    best, _, _ = _pearson_by_group(c[order_y], x[order_x], y[order_y], n_l)
    # Guard against round-off: a constant listener has sxx == 0 exactly in theory.
    degenerate = (m < max(rules.min_items_for_correlation, 4)) | (sxx <= 1e-9 * m)
    degenerate |= (syy <= 1e-12 * m) | ~(best > 0)
    correlation = np.where(degenerate, np.nan, np.clip(correlation, -1.0, 1.0))
    best = np.where(degenerate, np.nan, best)
    crowd, expected_r, z_stat, p_low = _below_the_crowd(correlation, best, m, ~flagged_before)
    below = p_low < (rules.correlation_alpha if rules.correlation_alpha is not None else -1.0)
    fired["low_correlation"] = below & (correlation < or_inf(rules.min_correlation))

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
            "best_correlation": best,
            "expected_correlation": expected_r,
            "crowd_agreement": np.full(n_l, crowd),
            "correlation_z": z_stat,
            "correlation_p": p_low,
            "score_low": score_low,
            "score_high": score_high,
        },
        index=pd.Index([str(x) for x in listener_index], name="listener"),
    )

    return apply_rules(table, fired, rules, ACR_SCREENING)


def median_response_seconds(frame: pd.DataFrame, codes: np.ndarray, size: int) -> np.ndarray:
    """Each listener's (``codes``) median ``response_seconds``, NaN where none was timed."""
    seconds = frame["response_seconds"].to_numpy(np.float64)
    timed = ~np.isnan(seconds)
    medians = pd.Series(seconds[timed]).groupby(codes[timed]).median()
    return medians.reindex(range(size)).to_numpy()


def gold_and_repeat_rules(
    rules: ScreeningRules,
    n_gold: np.ndarray,
    gold_failures: np.ndarray,
    n_repeats: np.ndarray,
    inconsistent: np.ndarray,
) -> dict[str, np.ndarray]:
    """The two counting rules every test type with gold questions and repeats shares: a
    listener who had some and failed more than allowed (None: the rule is off)."""
    return {
        "gold_failures": (n_gold > 0) & (gold_failures > or_inf(rules.max_gold_failures)),
        "inconsistent_repeats": (n_repeats > 0)
        & (inconsistent > or_inf(rules.max_inconsistent_repeats)),
    }


def apply_rules(
    table: pd.DataFrame, fired: Mapping[str, Any], rules: ScreeningRules, rule_set: RuleSet
) -> pd.DataFrame:
    """Finish a per-listener screening ``table`` (one row per listener, the measured values)
    with ``rule_<name>`` per rule of ``rule_set`` (``fired`` holds each rule's flags),
    ``rules`` (the names that fired), ``reasons`` (each with its value and threshold) and
    ``excluded`` (an applied rule fired and screening is enabled).

    A rule that would exclude more than ``max_rule_share`` of the listeners says more about the
    rule (or the study) than about them: it is reported, not applied, and the report warns.
    ``table.attrs["suspended_rules"]`` names those rules, ``attrs["rule_share"]`` gives every
    rule's share."""
    names = rule_set.rule_names
    for name in names:
        table[f"rule_{name}"] = np.asarray(fired[name], dtype=bool)
    flags = table[[f"rule_{r}" for r in names]].to_numpy()
    table["rules"] = [[r for r, f in zip(names, row) if f] for row in flags]
    table["reasons"] = [rule_set.reasons(row, rules) for row in table.itertuples()]
    share = flags.mean(axis=0) if len(table) else np.zeros(len(names))
    applied = share <= or_inf(rules.max_rule_share)
    table.attrs["suspended_rules"] = [r for r, ok in zip(names, applied) if not ok]
    table.attrs["rule_share"] = dict(zip(names, share.tolist()))
    table["excluded"] = (flags & applied).any(axis=1) & rules.enabled
    return table


def screening_warnings(
    screening: pd.DataFrame,
    parsed: ScreeningRules,
    rules: Mapping[str, Any] | None,
    rule_set: RuleSet,
    *,
    see: str = "",
) -> list[str]:
    """A report's warnings about its screening: each rule not applied because it would exclude
    more than ``max_rule_share`` of the listeners (``see`` adds where its effect is shown), and
    the keys of ``rules`` that are no setting."""
    shares = screening.attrs.get("rule_share", {})
    warnings = [
        f"Screening rule {name!r} ({rule_set.labels[name]}) would exclude "
        f"{shares[name]:.0%} of the listeners, more than max_rule_share "
        f"({parsed.max_rule_share:.0%}); it was not applied. Check its threshold, or "
        f"raise max_rule_share to apply it anyway{see}."
        for name in screening.attrs.get("suspended_rules", [])
    ]
    unknown = rule_set.unknown(rules)
    if unknown:
        warnings.append(f"Unknown screening rule keys ignored: {', '.join(unknown)}.")
    return warnings


def excluded_listeners(screening: pd.DataFrame) -> list[dict]:
    """[{listener, rules, reasons}] of every listener the screening excluded, in table order."""
    excluded = screening.index[screening["excluded"].to_numpy()]
    return [
        {"listener": name, "rules": list(fired), "reasons": list(reasons)}
        for name, fired, reasons in zip(
            excluded, screening.loc[excluded, "rules"], screening.loc[excluded, "reasons"]
        )
    ]


def screening_section(
    screening: pd.DataFrame,
    parsed: ScreeningRules,
    rules: Mapping[str, Any] | None,
    rule_set: RuleSet,
) -> dict[str, Any]:
    """The report's ``screening`` section: the settings applied, the keys ignored, what each
    rule checks and is called, and how many listeners each rule flagged and excluded."""
    return {
        "enabled": parsed.enabled,
        "rules": parsed.as_dict(),
        "ignored_keys": rule_set.unknown(rules),
        "rule_descriptions": rule_set.descriptions,
        "rule_labels": rule_set.labels,
        "n_listeners": int(len(screening)),
        "n_flagged": int(screening["rules"].map(bool).sum()),
        "n_excluded": int(screening["excluded"].sum()),
        "fired": {r: int(screening[f"rule_{r}"].sum()) for r in rule_set.rule_names},
        "suspended": list(screening.attrs.get("suspended_rules", [])),
    }


def _pearson_by_group(
    c: np.ndarray, x: np.ndarray, y: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson r of x and y within each group code (O(n) from sums), with the centred sums of
    squares for the degeneracy checks."""
    m = np.bincount(c, minlength=size).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sx, sy = np.bincount(c, x, size), np.bincount(c, y, size)
        sxx = np.bincount(c, x * x, size) - sx**2 / m
        syy = np.bincount(c, y * y, size) - sy**2 / m
        sxy = np.bincount(c, x * y, size) - sx * sy / m
        return sxy / np.sqrt(sxx * syy), sxx, syy


def _below_the_crowd(
    r: np.ndarray, best: np.ndarray, m: np.ndarray, in_crowd: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Is each listener's agreement significantly below what the crowd's would be for them?

    The crowd's typical agreement A is the median of r / r_max over the listeners no other
    rule flagged (r_max: the best r the listener's own scores allow, see ``screen``), so a
    listener is expected to reach r = A * r_max. Fisher's z = atanh(r) has standard error
    1/sqrt(m - 3) over m items; honest listeners also differ beyond sampling (taste,
    attention), so tau^2 = (1.4826 MAD)^2 of the crowd's z - atanh(A r_max), minus the median
    sampling variance (at least 0), widens the yardstick:
    stat = (z - atanh(A r_max) - centre) / sqrt(1/(m - 3) + tau^2), one-sided p = Phi(stat).
    Median and MAD are robust to the spammers still in the crowd. Returns (A, the expected r
    per listener, stat, p), NaN where r is NaN."""
    cap = 0.999
    nan = np.full(len(r), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = r / best
        sampling = np.where(m > 3, 1.0 / np.maximum(m - 3, 1), np.nan)
    usable = np.isfinite(ratio) & np.isfinite(sampling)
    reference = usable & in_crowd
    if reference.sum() < 3:
        reference = usable
    if reference.sum() < 3:
        return float("nan"), nan, nan, nan
    typical = float(np.clip(np.median(ratio[reference]), -cap, cap))
    expected = np.clip(typical * best, -cap, cap)
    resid = np.arctanh(np.clip(r, -cap, cap)) - np.arctanh(expected)
    centre = float(np.median(resid[reference]))
    mad = 1.4826 * float(np.median(np.abs(resid[reference] - centre)))
    tau2 = max(mad**2 - float(np.median(sampling[reference])), 0.0)
    with np.errstate(invalid="ignore"):
        stat = (resid - centre) / np.sqrt(sampling + tau2)
    return typical, np.where(usable, expected, np.nan), stat, sps.norm.cdf(stat)


def or_inf(x: float | None) -> float:
    """A threshold that may be off (None): off never fires an upper limit."""
    return np.inf if x is None else x


def or_neg_inf(x: float | None) -> float:
    """A threshold that may be off (None): off never fires a lower limit."""
    return -np.inf if x is None else x


def screen_listeners(ratings: pd.DataFrame, rules: Mapping[str, Any] | None) -> pd.DataFrame:
    """Apply the listener screening rules; one row per listener (index "listener").

    Columns: the measured values (n_test, mean_score, n_gold, gold_failures, n_repeats,
    inconsistent_repeats, identical_scores, reference_mean, anchor_mean,
    median_response_seconds, n_correlation_items, correlation,
    best_correlation, expected_correlation, crowd_agreement, correlation_z, correlation_p,
    score_low/score_high (the listener's own range) — NaN where
    a rule cannot be evaluated for lack of data), one boolean ``rule_<name>`` per rule,
    ``rules`` (names that fired), ``reasons`` (text with value and threshold) and ``excluded``
    (an applied rule fired and screening enabled). ``table.attrs["suspended_rules"]`` names
    the rules not applied because they fired for more than ``max_rule_share`` of listeners. ``rules`` takes the shape of ``listening.screening.default_rules()``.
    """
    frame = validate_ratings(ratings)
    frame = frame[frame["purpose"].to_numpy() != "training"]
    return screen(frame, ScreeningRules.from_dict(rules))
