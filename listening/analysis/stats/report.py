"""The whole MOS report: summaries, pairwise tests, screening and tables, with and without the
listeners the screening excluded, plus the method text a reviewer reads."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from listening.screening import RULE_LABELS, RULE_TEXT, ScreeningRules, unknown_rule_keys

from .mos import summaries
from .pairwise import MIN_PAIRED_SENTENCES, MIN_PAIRED_SHARE, pairs_of, significance_matrix
from .screening import screen
from .table import Coded, code_test_rows, group_mean, jsonable, num, validate_ratings
from .variance import CI_LEVEL, SystemParts, system_parts

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
                "rules_fired": list(row.rules),
                "excluded": bool(row.excluded),
            }
        )
    return out


def _ratings_needed(systems: list[dict], target: float) -> list[dict]:
    out = []
    for s in systems:
        half = s["ci95_clustered_half_width"]
        entry = {
            "system": s["system"],
            "n": s["n"],
            "ci95_clustered_half_width": half,
            "target_half_width": target,
            "design_effect": s["design_effect"],
            "total_ratings": None,
            "additional_ratings": None,
        }
        if half is not None and s["n"] > 0:
            total = s["n"] if half <= target else math.ceil(s["n"] * (half / target) ** 2)
            entry.update(total_ratings=total, additional_ratings=total - s["n"])
        out.append(entry)
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
        f"{T_LABEL}: MOS +/- t(0.975, n-1) * SD / sqrt(n), as in ITU-T P.800/P.808 reports. It "
        "treats every rating as independent, so it is too narrow when listeners differ in "
        "their use of the scale or sentences differ in difficulty."
    ),
    "ci95_clustered": (
        f"{CLUSTERED_LABEL}: two-way cluster-robust variance of the mean (Cameron, Gelbach & "
        "Miller 2011, 'Robust inference with multiway clustering', JBES 29(2)). With e_i the "
        "residual of rating i from its system's MOS and n the system's ratings, "
        "V = c_L sum_listeners (sum e_i / n)^2 + c_S sum_sentences (sum e_i / n)^2 - "
        "c_C sum_cells (sum e_i / n)^2, where cells are listener x sentence pairs and "
        "c_G = G/(G-1) for G clusters of that kind. If V <= 0 it falls back to the larger "
        "one-way term (CGM 2011). The interval is MOS +/- t(0.975, df) * sqrt(V) with "
        "df = min(G_L, G_S) - 1, the number of listeners or sentences, whichever is fewer, "
        "minus one (CGM 2011). Chosen over a pigeonhole bootstrap (Owen 2007) "
        "because it is exact arithmetic on per-cluster sums (O(n), no random numbers, the "
        "same input always gives the same interval) and the bootstrap is known to be "
        "conservative for crossed designs. Checked by simulation in "
        "tests/listening/analysis/stats/test_simulation.py: crowds with listener bias and scale "
        "compression, sentence effects, incomplete balanced playlists and spammers give "
        "93-97 % coverage where the t-interval falls well short. design_effect = V / (SD^2/n)."
    ),
    "pairwise": (
        "Every pair of systems. Paired when the design allows: if two systems share at least "
        f"{MIN_PAIRED_SENTENCES} sentences and at least {MIN_PAIRED_SHARE:.0%} of the smaller "
        "system's sentences, a Wilcoxon signed-rank test (zeros dropped) on the per-sentence mean scores over "
        "the shared sentences; p from the exact null distribution (no ties, <= 50 pairs), "
        "from all 2^n sign flips (ties, <= 13 pairs) or the tie-corrected normal "
        "approximation, as scipy.stats.wilcoxon(method='auto') does. Sentences are the unit because balanced playlists give each listener each "
        "sentence at most once, so listener x sentence matched pairs do not exist, while "
        "sentence difficulty is a large shared source of variance that pairing removes. "
        "Otherwise a two-sided Mann-Whitney U test on the ratings (normal approximation with "
        "tie and continuity correction; it ignores clustering, so read it with the clustered "
        "difference interval). p-values are Holm-corrected (Holm 1979) across all pairs; a "
        "pair is significant when p_holm < alpha."
    ),
    "effect_sizes": (
        "mean_difference = MOS_a - MOS_b with a 95 % two-way cluster-robust interval (the "
        "difference's influence values clustered by listener, sentence and cell, so shared "
        "listeners and sentences are accounted for). rank_biserial: matched-pairs rank-"
        "biserial correlation (R+ - R-)/(R+ + R-) for the Wilcoxon test, equal to Cliff's "
        "delta for the Mann-Whitney test. cliffs_delta = P(a > b) - P(a < b) over all rating "
        "pairs."
    ),
    "screening": (
        "Per listener, in the spirit of ITU-T P.808 (gold standard questions, consistency, "
        "reference/anchor checks) and large crowdsourced MOS collections: gold_failures fires "
        "when more than max_gold_failures gold answers lie more than gold_tolerance points "
        "from the expected score; inconsistent_repeats when more than "
        "max_inconsistent_repeats repeated clips differ from the listener's own test rating "
        "by more than max_repeat_difference; identical_scores when all of at least "
        "min_ratings_for_identical test ratings are the same; reference_low when the mean "
        "score given to natural references is below min_reference_score; anchor_high when the "
        "mean score given to low anchors (all anchors when is_low_anchor is absent) exceeds "
        "max_anchor_score; fast_answers when the median response time is below "
        "min_median_response_seconds; low_correlation when the Pearson correlation between "
        "the listener's test scores and the mean of the other listeners' scores for the same "
        "clips (leave-one-out; listeners flagged by any other rule are left out of this crowd "
        "reference), over at least min_items_for_correlation clips, is below min_correlation. A rule without the data it needs (no gold rows, no response times, "
        "...) does not fire. Screening is one pass over all listeners (no iteration), so it "
        "is reproducible; results are reported with and without the exclusions."
    ),
    "ratings_needed": (
        "For the screened data: total = ceil(n * (h / target)^2), where h is the current "
        "clustered half-width. Half-widths scale as 1/sqrt(n) when the study grows in the same "
        "shape (new listeners and new sentences in today's proportions), so the design effect "
        "stays as measured. More listeners on the same sentences cannot shrink the sentence "
        "part of the variance: when the sentence set is small, add sentences."
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
    systems = summaries(t, parts)
    pairs = pairs_of(t, parts, alpha)

    excluded_names = screening.index[screening["excluded"].to_numpy()]
    excluded_codes = np.flatnonzero(screening["excluded"].to_numpy())
    kept = t.subset(~np.isin(t.listener, excluded_codes))
    kept_parts = system_parts(kept)
    systems_kept = summaries(kept, kept_parts)
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
    unknown = unknown_rule_keys(rules)
    if unknown:
        warnings.append(f"Unknown screening rule keys ignored: {', '.join(unknown)}.")

    rule_names = list(RULE_TEXT)
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
        "excluded_listeners": [
            {"listener": name, "rules": list(rules_fired), "reasons": list(reasons)}
            for name, rules_fired, reasons in zip(
                excluded_names,
                screening.loc[excluded_names, "rules"],
                screening.loc[excluded_names, "reasons"],
            )
        ],
        "screening": {
            "enabled": parsed_rules.enabled,
            "rules": parsed_rules.as_dict(),
            "ignored_keys": unknown,
            "rule_descriptions": RULE_TEXT,
            "rule_labels": RULE_LABELS,
            "n_listeners": int(len(screening)),
            "n_flagged": int(screening["rules"].map(bool).sum()),
            "n_excluded": int(len(excluded_names)),
            "fired": {r: int(screening[f"rule_{r}"].sum()) for r in rule_names},
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
        "ratings_needed": _ratings_needed(systems_kept, target_half_width),
        "method": dict(METHOD),
        "warnings": warnings,
    }
    return jsonable(report)
