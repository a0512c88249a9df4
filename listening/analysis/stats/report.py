"""The whole MOS report: summaries, pairwise tests, screening and tables, with and without the
listeners the screening excluded, plus the method text a reviewer reads."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from listening.screening import ACR_SCREENING, ScreeningRules

from .mos import summaries
from .pairwise import pairs_of, significance_matrix
from .screening import excluded_listeners, screen, screening_section, screening_warnings
from .table import Coded, code_test_rows, group_mean, jsonable, num, validate_ratings
from .variance import CI_LEVEL, ContrastVariance, SystemParts, system_parts, t_quantile

T_LABEL = "t-interval over ratings (ignores clustering)"
CLUSTERED_LABEL = "two-way cluster-robust interval (listeners x sentences)"


def _sentence_table(t: Coded, parts: SystemParts) -> list[dict]:
    counts = np.bincount(t.sentence, minlength=t.n_sentences)
    means, _ = group_mean(t.sentence, t.score, t.n_sentences)
    squares = np.bincount(t.sentence, weights=t.score**2, minlength=t.n_sentences)
    n_listeners = np.bincount(
        np.unique(t.sentence * t.n_listeners + t.listener) // t.n_listeners,
        minlength=t.n_sentences,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt((squares - counts * means**2) / (counts - 1))
        by_system = parts.sum_s / parts.count_s
    out = []
    for s in range(t.n_sentences):
        if counts[s] == 0:
            continue
        out.append(
            {
                "sentence": t.sentence_names[s],
                "n": int(counts[s]),
                "n_listeners": int(n_listeners[s]),
                "n_systems": int((parts.count_s[:, s] > 0).sum()),
                "mos": num(means[s]),
                "sd": num(max(sd[s], 0.0)) if np.isfinite(sd[s]) else None,
                "by_system": {
                    name: num(by_system[k, s])
                    for k, name in enumerate(t.system_names)
                    if parts.count_s[k, s] > 0
                },
            }
        )
    return out


def _listener_table(t: Coded, screening: pd.DataFrame) -> list[dict]:
    counts = np.bincount(t.listener, minlength=t.n_listeners)
    means, _ = group_mean(t.listener, t.score, t.n_listeners)
    squares = np.bincount(t.listener, weights=t.score**2, minlength=t.n_listeners)
    n_systems = np.bincount(
        np.unique(t.listener * t.n_systems + t.system) // t.n_systems, minlength=t.n_listeners
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.maximum(squares - counts * means**2, 0.0) / (counts - 1))
    row_of = {name: i for i, name in enumerate(t.listener_names)}
    out = []
    for name, row in zip(screening.index, screening.itertuples()):
        i = row_of.get(name)
        out.append(
            {
                "listener": name,
                "n": int(counts[i]) if i is not None else 0,
                "mos": num(means[i]) if i is not None else None,
                "sd": num(sd[i]) if i is not None else None,
                "n_systems": int(n_systems[i]) if i is not None else 0,
                "n_gold": int(row.n_gold),
                "gold_failures": int(row.gold_failures),
                "n_repeats": int(row.n_repeats),
                "inconsistent_repeats": int(row.inconsistent_repeats),
                "identical_scores": bool(row.identical_scores),
                "reference_mean": num(row.reference_mean),
                "anchor_mean": num(row.anchor_mean),
                "median_response_seconds": num(row.median_response_seconds),
                "correlation": num(row.correlation),
                "expected_correlation": num(row.expected_correlation),
                "correlation_p": num(row.correlation_p),
                "rules_fired": list(row.rules),
                "excluded": bool(row.excluded),
            }
        )
    return out


UPPER_LEVEL = 0.8  # the "ratings still needed" upper bound


def _growth(parts: list[tuple[float, float, bool]], h: float, cap: float = 1e6) -> float | None:
    """The smallest factor g >= 1 with t(df(g))^2 * V(g) <= h^2, where each variance part
    (v, df, grows) shrinks as v/g when ``grows`` and stays otherwise, and the df of a growing
    part scales with g. None when the parts that do not grow alone exceed the target."""

    def needed(g: float) -> float:
        var = sum(v / g if grows else v for v, _, grows in parts)
        df = min(d * g if grows else d for _, d, grows in parts)
        return float(t_quantile(df)) ** 2 * var

    if needed(1.0) <= h * h:
        return 1.0
    if needed(cap) > h * h:
        return None
    low, high = 1.0, cap
    for _ in range(100):  # bisection on log g: monotone, so this converges
        mid = math.sqrt(low * high)
        low, high = (low, mid) if needed(mid) <= h * h else (mid, high)
        if high / low < 1 + 1e-9:
            break
    return high


def _ratings_needed(systems: list[dict], variances: list[ContrastVariance], target: float):
    out = []
    for s, cv in zip(systems, variances):
        entry = {
            "system": s["system"],
            "n": s["n"],
            "n_listeners": s["n_listeners"],
            "n_sentences": s["n_sentences"],
            "ci95_clustered_half_width": s["ci95_clustered_half_width"],
            "target_half_width": target,
            "design_effect": s["design_effect"],
            "variance_parts": None,
            "total_ratings": None,
            "additional_ratings": None,
            "total_ratings_upper80": None,
            "additional_ratings_upper80": None,
            "total_sentences_upper80": None,
            "total_listeners_upper80": None,
            "listeners_alone_reach_target": None,
            "sentence_part_half_width": None,
            "note": None,
        }
        out.append(entry)
        if not (s["n"] > 0 and math.isfinite(cv.variance) and math.isfinite(cv.df)):
            entry["note"] = "n/a: the clustered interval cannot be computed yet"
            continue
        n = s["n"]
        noise = cv.cell.variance if cv.cell.clusters > 1 else 0.0
        noise = max(noise, 0.0)
        listener_part = max(cv.listener.variance - noise, 0.0)
        sentence_part = max(cv.sentence.variance - noise, 0.0)
        if listener_part + sentence_part + noise <= 0:
            listener_part = cv.variance
        entry["variance_parts"] = {
            "listener": listener_part,
            "sentence": sentence_part,
            "residual": noise,
        }
        # An upper bound on each part: the variance estimate is treated as a scaled chi-square
        # with its own (Bell-McCaffrey) df, so V_upper = V * df / chi2_(1-level)(df).
        inflate_l = cv.listener.df / float(sps.chi2.ppf(1 - UPPER_LEVEL, cv.listener.df))
        inflate_s = cv.sentence.df / float(sps.chi2.ppf(1 - UPPER_LEVEL, cv.sentence.df))
        df_l, df_s = cv.listener.df, cv.sentence.df
        for suffix, fl, fs in (("", 1.0, 1.0), ("_upper80", inflate_l, inflate_s)):
            shape = [
                (listener_part * fl, df_l, True),
                (sentence_part * fs, df_s, True),
                (noise * fl, df_l, True),
            ]
            g = _growth(shape, target)
            if g is None:
                continue
            total = max(n, math.ceil(n * g - 1e-9))
            entry[f"total_ratings{suffix}"] = total
            entry[f"additional_ratings{suffix}"] = total - n
            if suffix:
                entry["total_sentences_upper80"] = math.ceil(s["n_sentences"] * g - 1e-9)
                entry["total_listeners_upper80"] = math.ceil(s["n_listeners"] * g - 1e-9)
        sentence_half = float(t_quantile(df_s)) * math.sqrt(sentence_part)
        entry["sentence_part_half_width"] = sentence_half
        alone = _growth([(listener_part + noise, df_l, True), (sentence_part, df_s, False)], target)
        entry["listeners_alone_reach_target"] = alone is not None
        if alone is None:
            entry["note"] = (
                f"More listeners on these {s['n_sentences']} sentences cannot reach "
                f"+/-{target:g}: the sentence part alone gives +/-{sentence_half:.3f}. Add "
                f"sentences: about {entry['total_sentences_upper80']} in all (80 % bound), "
                "rated like today's."
            )
    return out


def _rule_effects(
    t: Coded, screening: pd.DataFrame, rule_names: list[str], suspended: list[str]
) -> dict:
    """Per rule: how many listeners it flagged, whether it was applied, and each system's MOS
    over all listeners and without the listeners this rule flagged (the rule's own effect)."""
    mos_all, _ = group_mean(t.system, t.score, t.n_systems)
    out = {}
    for name in rule_names:
        flagged = np.flatnonzero(screening[f"rule_{name}"].to_numpy())
        keep = ~np.isin(t.listener, flagged)
        mos_without, _ = group_mean(t.system[keep], t.score[keep], t.n_systems)
        out[name] = {
            "flagged": int(len(flagged)),
            "share": num(len(flagged) / len(screening)) if len(screening) else None,
            "applied": name not in suspended,
            "mos_with": {n: num(m) for n, m in zip(t.system_names, mos_all)},
            "mos_without": {n: num(m) for n, m in zip(t.system_names, mos_without)},
            "mos_shift": {n: num(b - a) for n, a, b in zip(t.system_names, mos_all, mos_without)},
        }
    return out


METHOD = {
    "data": (
        "Only rows with purpose 'test' enter MOS, intervals, pairwise tests and the sentence "
        "table; 'gold' and 'repeat' rows feed the listener screening only; 'training' rows are "
        "dropped. A table without a purpose column is all test ratings."
    ),
    "mos": (
        "MOS = arithmetic mean of the 1-5 ACR scores of a system (ITU-T P.800); SD with n-1; "
        "median is the midpoint of the two middle scores when n is even."
    ),
    "ci95": (
        f"{T_LABEL}: MOS +/- t(0.975, n-1) * SD / sqrt(n), as in ITU-T P.800/P.808 reports, "
        "computed on the bounded scale (see interval_scale). It treats every rating as "
        "independent, so it is too narrow when listeners differ in their use of the scale or "
        "sentences differ in difficulty."
    ),
    "interval_scale": (
        "Both per-system intervals are computed on the logit of the position on the scale, "
        "p = (MOS - 1) / 4, with the delta method (se_logit = se / (4 p (1 - p))), and mapped "
        "back, so they stay inside 1-5 near the floor and the ceiling; the MOS itself is the "
        "plain mean. Half-widths are (high - low) / 2 of the interval shown."
    ),
    "ci95_clustered": (
        f"{CLUSTERED_LABEL}: two-way cluster-robust variance of the mean (Cameron, Gelbach & "
        "Miller 2011, 'Robust inference with multiway clustering', JBES 29(2)): "
        "V = V_listeners + V_sentences - V_cells, each a sum over clusters of the squared "
        "cluster sum of residual / n. Each one-way term is the CR2 estimator of Bell & "
        "McCaffrey (2002, Survey Methodology 28(2)): a cluster's sum is scaled by "
        "(1 - h)^(-1/2), h = its share of the system's ratings, which equals CGM's G/(G-1) "
        "in a balanced design and corrects more for listeners who rated many clips. If "
        "V <= 0 it falls back to the larger one-way term (CGM 2011). df: Bell-McCaffrey's "
        "Satterthwaite df of each one-way term under independent errors, the smaller of the "
        "listener and sentence df (equal to min(G_L, G_S) - 1 in a balanced design, smaller "
        "when a few clusters carry most of the weight). Exact arithmetic on per-cluster sums: "
        "no random numbers. Checked by simulation in "
        "tests/listening/analysis/stats/test_simulation.py (docs/statistics.md has the table). "
        "design_effect = V / (SD^2/n)."
    ),
    "pairwise": (
        "Every pair of systems: a t test of MOS_a - MOS_b with the same two-way CR2 variance, "
        "the difference taken as a linear contrast over the ratings (influence +1/n_a in a, "
        "-1/n_b in b), so a listener or sentence shared by both systems covaries as it should, "
        "and its df: the Bell-McCaffrey df of the listener, sentence and cell components "
        "combined by Satterthwaite (1946), never below the smallest of them that carries "
        "variance. p = 2 P(T_df > |d| / se). No rank test: "
        "Wilcoxon on sentence means ignores listeners and Mann-Whitney on ratings ignores both "
        "clusterings; in simulation both over-rejected on unbalanced designs. p-values are "
        "Holm-corrected (Holm 1979, Scand. J. Statistics 6) across all pairs; significant "
        "means p_holm < alpha. Intervals agree with the tests exactly: "
        "mean_difference_ci95_clustered excludes 0 exactly when p < 0.05 "
        "(significant_unadjusted); mean_difference_ci_holm, at level 1 - alpha / m0 with m0 "
        "the number of pairs Holm does not reject, excludes 0 exactly when Holm rejects the "
        "pair (it is the Bonferroni interval over the unrejected pairs; for the rejected ones "
        "Strassburger & Bretz 2008 show only the sign is simultaneously certain)."
    ),
    "effect_sizes": (
        "mean_difference = MOS_a - MOS_b with its intervals above. cliffs_delta = "
        "P(a > b) - P(a < b) over all rating pairs, descriptive only (it ignores clustering); "
        "rank_biserial is the same number under its former name."
    ),
    "screening": (
        "Per listener, in the spirit of ITU-T P.808 (gold standard questions, consistency, "
        "reference/anchor checks) and large crowdsourced MOS collections, calibrated to the "
        "study: gold_failures fires when more than max_gold_failures gold answers miss, a miss "
        "judged in the listener's own range of test scores (the expected score mapped "
        "linearly into [their lowest, their highest], the answer clipped to it, tolerance "
        "gold_tolerance * range / 4, at least one score step), so narrow scale use is not a "
        "miss; "
        "inconsistent_repeats when more than max_inconsistent_repeats repeated clips differ "
        "from the listener's own test rating by more than max_repeat_difference; "
        "identical_scores when all of at least min_ratings_for_identical test ratings are the "
        "same; reference_low when the mean score given to natural references is below "
        "min_reference_score; anchor_high when the mean score given to low anchors exceeds "
        "max_anchor_score; fast_answers (off by default) when the median time from the end "
        "of the clip's first full play, the moment the listener could first answer, to the "
        "answer is below min_median_response_seconds - listening to the end is enforced, so "
        "a quick keyboard answer is normal; low_correlation when the Pearson correlation of "
        "the listener's test scores with the other listeners' mean for the same clips "
        "(leave-one-out, listeners flagged by another rule left out of the crowd), over at "
        "least min_items_for_correlation clips, is significantly below what the crowd reaches "
        "with that listener's use of the scale: r_max is the r the listener's own scores "
        "would give in the crowd's order (narrow or coarse scale use lowers it; Pearson's r "
        "is already unchanged by a linear rescaling), A the crowd's median r / r_max, and "
        "Fisher's z = atanh(r) is tested against atanh(A r_max) with standard error "
        "sqrt(1/(m - 3) + tau^2), tau^2 the crowd's spread beyond sampling error (robust "
        "MAD): one-sided p < correlation_alpha (and r < min_correlation if that floor is "
        "set). A rule that flags more "
        "than max_rule_share of the listeners is reported but not applied, with a warning. "
        "screening.effects gives, per rule, how many it flagged and each system's MOS with "
        "and without those listeners. A rule without the data it needs does not fire. "
        "Screening is one pass over all listeners (no iteration), so it is reproducible; "
        "results are reported with and without the exclusions."
    ),
    "ratings_needed": (
        "For the screened data. The clustered variance is split into a listener part "
        "(V_listeners - V_cells), a sentence part (V_sentences - V_cells) and a residual "
        "(V_cells). Growing the study in today's shape (new listeners and new sentences in "
        "today's proportions) divides every part by the growth factor g; total_ratings is the "
        "smallest n * g with t(df * g) * sqrt(V / g) <= target (the t quantile included). "
        "total_ratings_upper80 does the same with each part at its 80 % upper confidence "
        "bound (V * df / chi2_0.2(df), df its Bell-McCaffrey df), and "
        "total_sentences_upper80 / total_listeners_upper80 say what that means in sentences "
        "and listeners. More listeners on the same sentences shrink only the listener part "
        "and the residual: when t * sqrt(sentence part) alone exceeds the target "
        "(listeners_alone_reach_target false), the note says so and how many sentences are "
        "needed. The half-width is planned on the MOS scale (the bounded interval is a "
        "little narrower near the ends of the scale)."
    ),
    "reproducibility": (
        "No random numbers are drawn; the same ratings give the same report. The seed is "
        "recorded for interface stability."
    ),
}


def build_report(
    ratings: pd.DataFrame,
    *,
    rules: Mapping[str, Any] | None = None,
    seed: int = 0,
    target_half_width: float = 0.1,
    alpha: float = 0.05,
) -> dict:
    """The whole MOS report as a JSON-ready dict (no NaN: missing numbers are None).

    Keys: ``systems`` / ``pairs`` / ``significance_matrix`` over all listeners;
    ``systems_after_exclusion`` / ``pairs_after_exclusion`` /
    ``significance_matrix_after_exclusion`` without the listeners the screening excluded;
    ``excluded_listeners`` [{listener, rules, reasons}], ``screening`` (rules applied, counts),
    ``listeners`` (per-listener table, all listeners), ``sentences`` (per-sentence table after
    exclusion), ``ratings_needed`` (after exclusion), ``method`` (how each number is made),
    ``interval_labels``, ``warnings`` and the counts ``n_rows``, ``n_ratings``, ``n_listeners``, ``n_sentences``,
    ``n_systems``. ``rules`` takes the shape of ``listening.screening.default_rules()``;
    None means the defaults.
    """
    if not target_half_width > 0:
        raise ValueError(f"target_half_width must be positive, got {target_half_width}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}.")
    parsed_rules = ScreeningRules.from_dict(rules)
    frame = validate_ratings(ratings)
    purposes = frame["purpose"].value_counts()
    frame = frame[frame["purpose"].to_numpy() != "training"]
    if not (frame["purpose"].to_numpy() == "test").any():
        raise ValueError(
            "The ratings table has no test ratings (purpose 'test') to analyse yet; a report "
            "needs at least one."
        )

    screening = screen(frame, parsed_rules)
    t = code_test_rows(frame, listener_names=list(screening.index))
    parts = system_parts(t)
    systems, _ = summaries(t, parts)
    pairs = pairs_of(t, parts, alpha)

    excluded_codes = np.flatnonzero(screening["excluded"].to_numpy())
    kept = t.subset(~np.isin(t.listener, excluded_codes))
    kept_parts = system_parts(kept)
    systems_kept, variances_kept = summaries(kept, kept_parts)
    pairs_kept = pairs_of(kept, kept_parts, alpha)

    warnings = []
    for label, entries in (("", systems), (" after exclusion", systems_kept)):
        for s in entries:
            if s["n"] == 0:
                warnings.append(f"System {s['system']!r} has no ratings{label}.")
            elif s["ci95_clustered"][0] is None:
                warnings.append(
                    f"System {s['system']!r}{label}: the clustered interval needs ratings from "
                    f"at least two listeners and two sentences (has {s['n_listeners']} and "
                    f"{s['n_sentences']})."
                )
    warnings += screening_warnings(
        screening, parsed_rules, rules, ACR_SCREENING, see=" (its effect is in screening.effects)"
    )
    suspended = list(screening.attrs.get("suspended_rules", []))
    rule_names = ACR_SCREENING.rule_names
    report = {
        "schema": "harken.mos_report/1",
        "ci_level": CI_LEVEL,
        "interval_labels": {"ci95": T_LABEL, "ci95_clustered": CLUSTERED_LABEL},
        "alpha": alpha,
        "seed": seed,
        "n_rows": int(len(ratings)),
        "rows_by_purpose": {str(k): int(v) for k, v in purposes.items()},
        "n_ratings": int(len(t.score)),
        "n_ratings_after_exclusion": int(len(kept.score)),
        "n_listeners": int(len(screening)),
        "n_sentences": t.n_sentences,
        "n_systems": t.n_systems,
        "systems": systems,
        "systems_after_exclusion": systems_kept,
        "pairs": pairs,
        "pairs_after_exclusion": pairs_kept,
        "significance_matrix": significance_matrix(t.system_names, pairs),
        "significance_matrix_after_exclusion": significance_matrix(t.system_names, pairs_kept),
        "excluded_listeners": excluded_listeners(screening),
        "screening": {
            **screening_section(screening, parsed_rules, rules, ACR_SCREENING),
            "effects": _rule_effects(t, screening, rule_names, suspended),
            "evaluated": {
                "gold_failures": int((screening["n_gold"] > 0).sum()),
                "inconsistent_repeats": int((screening["n_repeats"] > 0).sum()),
                "identical_scores": int(
                    (screening["n_test"] >= parsed_rules.min_ratings_for_identical).sum()
                ),
                "reference_low": int((screening["n_reference"] > 0).sum()),
                "anchor_high": int((screening["n_anchor"] > 0).sum()),
                "fast_answers": int(screening["median_response_seconds"].notna().sum()),
                "low_correlation": int(screening["correlation"].notna().sum()),
            },
        },
        "listeners": _listener_table(t, screening),
        "sentences": _sentence_table(kept, kept_parts),
        "ratings_needed": _ratings_needed(systems_kept, variances_kept, target_half_width),
        "method": dict(METHOD),
        "warnings": warnings,
    }
    return jsonable(report)
