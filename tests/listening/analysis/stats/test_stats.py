"""listening.stats against independent computations (scipy, pandas, hand-written loops)."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from listening.analysis import stats
from listening.analysis.stats.table import code_test_rows, validate_ratings
from listening.analysis.stats.variance import combined_df, contrast_variance, system_parts


def crossed_ratings(seed: int = 0, *, n_listeners: int = 24, n_sentences: int = 12) -> pd.DataFrame:
    """Three systems; every listener rates every sentence once, systems rotated (Latin square),
    so every pair of systems shares all sentences but never a listener x sentence cell."""
    rng = np.random.default_rng(seed)
    bias = rng.normal(0, 0.5, n_listeners)
    difficulty = rng.normal(0, 0.4, n_sentences)
    quality = {"A": 2.5, "B": 3.2, "C": 3.9}
    rows = []
    for listener in range(n_listeners):
        for sentence in range(n_sentences):
            system = "ABC"[(listener + sentence) % 3]
            latent = quality[system] + bias[listener] + difficulty[sentence] + rng.normal(0, 0.7)
            rows.append((f"L{listener}", f"s{sentence}", system, int(np.clip(round(latent), 1, 5))))
    return pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])


def by_name(entries: list[dict], key: str = "system") -> dict[str, dict]:
    return {e[key]: e for e in entries}


# --- per-system numbers ---------------------------------------------------------------------


def test_mos_sd_median_and_histogram_match_pandas():
    ratings = crossed_ratings()
    summary = by_name(stats.mos_summary(ratings))
    for system, group in ratings.groupby("system"):
        s = summary[system]
        assert s["n"] == len(group)
        assert s["mos"] == pytest.approx(group["score"].mean())
        assert s["sd"] == pytest.approx(group["score"].std(ddof=1))
        assert s["median"] == group["score"].median()
        assert s["histogram"] == {str(k): int((group["score"] == k).sum()) for k in range(1, 6)}
        assert s["n_listeners"] == group["listener"].nunique()
        assert s["n_sentences"] == group["sentence"].nunique()


def logit_interval(mean: float, se: float, q: float) -> list[float]:
    """The bounded interval written plainly: delta method on logit((m - 1) / 4), mapped back."""
    p = (mean - 1) / 4
    eta, se_eta = math.log(p / (1 - p)), se / (4 * p * (1 - p))
    return [1 + 4 / (1 + math.exp(-(eta + sign * q * se_eta))) for sign in (-1, 1)]


def test_t_interval_matches_scipy_on_the_logit_scale():
    ratings = crossed_ratings(seed=3)
    for s in stats.mos_summary(ratings):
        scores = ratings.loc[ratings["system"] == s["system"], "score"].to_numpy(dtype=float)
        q = sps.t.ppf(0.975, len(scores) - 1)
        expected = logit_interval(scores.mean(), sps.sem(scores, ddof=1), q)
        assert s["ci95"] == pytest.approx(expected, abs=1e-12)
        # Away from the ends of the scale it is within a few hundredths of the classic interval.
        lo, hi = sps.t.interval(0.95, len(scores) - 1, scores.mean(), sps.sem(scores, ddof=1))
        assert s["ci95"] == pytest.approx([lo, hi], abs=0.02)


def test_intervals_stay_inside_the_scale_near_the_floor_and_keep_the_mean():
    # The demo's worst anchor: almost every rating is 1 (its symmetric interval was [0.94, 1.17]).
    rows = []
    for listener in range(12):
        for sentence in range(6):
            score = 2 if (listener == 0 and sentence < 3) or (listener, sentence) == (5, 2) else 1
            rows.append((f"L{listener}", f"s{sentence}", "anchor", score))
            rows.append((f"L{listener}", f"s{sentence}", "top", 5 if listener else 4))
    ratings = pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])
    for s in stats.mos_summary(ratings):
        scores = ratings.loc[ratings["system"] == s["system"], "score"]
        assert s["mos"] == pytest.approx(scores.mean())
        for key in ("ci95", "ci95_clustered"):
            lo, hi = s[key]
            assert 1 < lo < s["mos"] < hi < 5, (s["system"], key, lo, hi)
    anchor = by_name(stats.mos_summary(ratings))["anchor"]
    old_low = anchor["mos"] - anchor["se_clustered"] * sps.t.ppf(0.975, anchor["df_clustered"])
    assert old_low < 1  # the symmetric interval would have left the scale


def cr2_by_hand(rows: pd.DataFrame, coef: dict[str, float]) -> tuple[float, float, float]:
    """(contrast, variance, df) of sum coef_s * mean_s, two-way CR2 with Bell-McCaffrey df,
    written with dense matrices: H = X (X'X)^-1 X' for system indicators X, each cluster's
    weights (I - H_gg)^(-1/2) a_g, and df = tr(M)^2 / tr(M^2), M = P'(I - H)P."""
    rows = rows[rows["system"].isin(list(coef))].reset_index(drop=True)
    y = rows["score"].to_numpy(dtype=float)
    systems = list(coef)
    x = np.column_stack([(rows["system"] == s).to_numpy(dtype=float) for s in systems])
    h = x @ np.linalg.inv(x.T @ x) @ x.T
    e = y - h @ y
    n = x.sum(axis=0)
    a = x @ (np.array([coef[s] for s in systems]) / n)
    contrast = float(a @ y)

    def dimension(keys) -> tuple[float, float]:
        groups = rows.groupby(keys).indices
        p = np.zeros((len(rows), len(groups)))
        for g, index in enumerate(groups.values()):
            block = np.eye(len(index)) - h[np.ix_(index, index)]
            w, v = np.linalg.eigh(block)
            p[index, g] = (v @ np.diag(w**-0.5) @ v.T) @ a[index]
        u = p.T @ e
        m = p.T @ (np.eye(len(rows)) - h) @ p
        return float((u**2).sum()), float(np.trace(m) ** 2 / np.trace(m @ m))

    v_l, df_l = dimension(rows["listener"])
    v_s, df_s = dimension(rows["sentence"])
    v_c, df_c = dimension([rows["listener"], rows["sentence"]])
    v = v_l + v_s - v_c
    if v <= 0:
        return contrast, max(v_l, v_s), min(df_l, df_s)
    if abs(sum(coef.values())) > 1e-12:  # one system's mean: the smaller df
        return contrast, v, min(df_l, df_s)
    # Satterthwaite over the listener, sentence and cell components, never below the
    # smallest df of a component that carries variance.
    parts = [(max(v_l - v_c, 0), df_l), (max(v_s - v_c, 0), df_s), (max(v_c, 0), df_c)]
    parts = [(c, d) for c, d in parts if c > 0]
    df = sum(c for c, _ in parts) ** 2 / sum(c * c / d for c, d in parts)
    return contrast, v, max(df, min(d for _, d in parts))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clustered_interval_matches_cr2_and_bell_mccaffrey_written_by_hand(seed):
    ratings = crossed_ratings(seed, n_listeners=12, n_sentences=9)
    # Make the design irregular: drop a random fifth of the ratings and add repeated cells.
    rng = np.random.default_rng(seed)
    ratings = ratings.sample(frac=0.8, random_state=seed).reset_index(drop=True)
    extra = ratings.sample(n=10, random_state=seed).assign(score=rng.integers(1, 6, 10))
    ratings = pd.concat([ratings, extra], ignore_index=True)
    for s in stats.mos_summary(ratings):
        mean, var, df = cr2_by_hand(ratings, {s["system"]: 1.0})
        assert s["df_clustered"] == pytest.approx(df, rel=1e-9)
        assert s["se_clustered"] == pytest.approx(math.sqrt(var), rel=1e-9)
        expected = logit_interval(mean, math.sqrt(var), sps.t.ppf(0.975, df))
        assert s["ci95_clustered"] == pytest.approx(expected, abs=1e-9)


def test_bell_mccaffrey_df_is_g_minus_one_when_balanced_and_smaller_when_not():
    ratings = crossed_ratings(seed=1, n_listeners=24, n_sentences=24)
    t = code_test_rows(validate_ratings(ratings))
    parts = system_parts(t)
    for i in range(t.n_systems):
        cv = contrast_variance(parts, {i: 1.0})
        assert cv.listener.df == pytest.approx(23) and cv.sentence.df == pytest.approx(23)
        assert cv.df == pytest.approx(23)  # a system's mean: the smaller df
        # A difference: the combined df lies between the smallest component df and their sum.
        diff = contrast_variance(parts, {i: 1.0, (i + 1) % t.n_systems: -1.0})
        assert 23 - 1e-9 <= diff.df <= diff.listener.df + diff.sentence.df + diff.cell.df
    # Four listeners rate most of the clips: the listener clusters are far from equal.
    heavy = ratings["listener"].isin(["L0", "L1", "L2", "L3"])
    light = ratings[~heavy].groupby("listener").head(2)
    unbalanced = code_test_rows(validate_ratings(pd.concat([ratings[heavy], light])))
    parts = system_parts(unbalanced)
    for i in range(unbalanced.n_systems):
        cv = contrast_variance(parts, {i: 1.0})
        assert cv.listener.df < cv.listener.clusters - 1


def test_combined_df_follows_the_component_that_carries_the_variance():
    # Satterthwaite (1946): one dominant component gives about its own df; equal components
    # with equal df add their df; nothing goes below the smallest df of a used component.
    assert combined_df([(1.0, 9.0), (1e-9, 500.0), (1e-9, 19.0)]) == pytest.approx(9, rel=1e-6)
    assert combined_df([(1e-9, 9.0), (1.0, 19.0), (1.0, 19.0)]) == pytest.approx(38, rel=1e-6)
    assert combined_df([(1.0, 9.0), (0.0, 19.0), (1.0, 500.0)]) > 9
    assert combined_df([(0.0, 9.0), (0.0, 19.0), (0.0, 500.0)]) == 9
    assert math.isnan(combined_df([(0.0, math.nan)]))


def test_a_difference_within_listeners_gets_more_df_than_the_listener_count():
    # Ten listeners rate every clip; their bias is large but cancels in a difference of two
    # systems, so the difference's df is set by the sentence and cell parts, not by the ten
    # listeners (the former "smaller df" rule gave 9 and lost power on this design).
    ratings = crossed_ratings(seed=3, n_listeners=10, n_sentences=20)
    pairs = stats.pairwise_tests(ratings)
    assert all(p["df"] > 9 for p in pairs), [p["df"] for p in pairs]
    for s in stats.mos_summary(ratings):
        assert s["df_clustered"] <= 9 + 1e-9


def test_clustered_interval_is_wider_than_the_t_interval_when_listeners_disagree():
    ratings = crossed_ratings(seed=5)
    harsh = ratings["listener"].isin([f"L{i}" for i in range(0, 24, 2)])
    ratings.loc[harsh, "score"] = (ratings.loc[harsh, "score"] - 1).clip(1, 5)
    for s in stats.mos_summary(ratings):
        assert s["ci95_clustered_half_width"] > s["ci95_half_width"]
        assert s["design_effect"] > 1


def test_clustered_interval_is_undefined_with_a_single_listener():
    ratings = pd.DataFrame(
        {"listener": "only", "sentence": ["a", "b", "c"], "system": "S", "score": [3, 4, 5]}
    )
    (s,) = stats.mos_summary(ratings)
    assert s["ci95_clustered"] == [None, None]
    assert s["ci95"][0] is not None
    report = stats.build_report(ratings)
    json.dumps(report, allow_nan=False)
    assert any("at least two listeners" in w for w in report["warnings"])


def test_only_test_rows_enter_the_mos():
    ratings = crossed_ratings()
    base = by_name(stats.mos_summary(ratings))
    others = ratings.head(30).assign(score=1, purpose="repeat")
    training = ratings.head(30).assign(score=5, purpose="training")
    gold = ratings.head(5).assign(score=5, purpose="gold", expected_score=5)
    mixed = pd.concat([ratings.assign(purpose="test"), others, training, gold], ignore_index=True)
    assert by_name(stats.mos_summary(mixed)) == base


# --- pairwise tests -------------------------------------------------------------------------


@pytest.mark.parametrize("n_sentences", [12, 30])
def test_pairwise_t_uses_the_clustered_difference_and_its_interval_agrees(n_sentences):
    ratings = crossed_ratings(seed=11, n_listeners=12, n_sentences=n_sentences)
    pairs = stats.pairwise_tests(ratings)
    assert len(pairs) == 3
    for p in pairs:
        diff, var, df = cr2_by_hand(ratings, {p["system_a"]: 1.0, p["system_b"]: -1.0})
        assert p["test"] == "clustered_t" and "Bell-McCaffrey" in p["test_reason"]
        assert p["mean_difference"] == pytest.approx(diff)
        assert p["se"] == pytest.approx(math.sqrt(var), rel=1e-9)
        assert p["df"] == pytest.approx(df, rel=1e-9)
        assert p["statistic"] == pytest.approx(diff / math.sqrt(var), rel=1e-9)
        assert p["p_value"] == pytest.approx(2 * sps.t.sf(abs(diff) / math.sqrt(var), df))
        half = sps.t.ppf(0.975, df) * math.sqrt(var)
        assert p["mean_difference_ci95_clustered"] == pytest.approx([diff - half, diff + half])


def disjoint_ratings(seed: int = 0) -> pd.DataFrame:
    """Two systems rated on different sentences by different listeners."""
    rng = np.random.default_rng(seed)
    rows = []
    for system, offset, quality in (("X", 0, 3.4), ("Y", 100, 2.9)):
        for listener in range(15):
            for sentence in range(8):
                score = int(np.clip(round(quality + rng.normal(0, 1)), 1, 5))
                rows.append((f"{system}{listener}", f"s{offset + sentence}", system, score))
    return pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])


def test_disjoint_systems_are_tested_on_the_clustered_difference_with_cliffs_delta_beside():
    ratings = disjoint_ratings()
    (p,) = stats.pairwise_tests(ratings)
    diff, var, df = cr2_by_hand(ratings, {"X": 1.0, "Y": -1.0})
    assert p["test"] == "clustered_t"
    assert p["shared_listeners"] == 0 and p["shared_sentences"] == 0
    assert p["p_value"] == pytest.approx(2 * sps.t.sf(abs(diff) / math.sqrt(var), df))
    a = ratings.loc[ratings["system"] == "X", "score"].to_numpy()
    b = ratings.loc[ratings["system"] == "Y", "score"].to_numpy()
    delta = (np.sign(a[:, None] - b[None, :])).mean()
    assert p["cliffs_delta"] == pytest.approx(delta)


@pytest.mark.parametrize("make", [disjoint_ratings, crossed_ratings])
def test_difference_interval_matches_cr2_written_by_hand_with_repeated_cells(make):
    ratings = make(4)
    ratings = pd.concat([ratings, ratings.sample(n=12, random_state=1)], ignore_index=True)
    for p in stats.pairwise_tests(ratings):
        diff, var, df = cr2_by_hand(ratings, {p["system_a"]: 1.0, p["system_b"]: -1.0})
        half = sps.t.ppf(0.975, df) * math.sqrt(var)
        assert p["mean_difference_ci95_clustered"] == pytest.approx(
            [diff - half, diff + half], abs=1e-9
        )


def test_significance_and_intervals_agree_exactly_unadjusted_and_after_holm():
    checked = 0
    for seed in range(30):
        ratings = crossed_ratings(seed, n_listeners=9, n_sentences=6)
        ratings.loc[ratings["system"] == "C", "score"] = (
            ratings.loc[ratings["system"] == "C", "score"] - (seed % 3 == 0)
        ).clip(1, 5)
        for p in stats.pairwise_tests(ratings):
            lo, hi = p["mean_difference_ci95_clustered"]
            assert p["significant_unadjusted"] == (not lo <= 0 <= hi)
            lo, hi = p["mean_difference_ci_holm"]
            assert p["significant"] == (not lo <= 0 <= hi)
            assert p["ci_holm_level"] >= 0.95
            checked += 1
    assert checked == 90


def test_a_pair_without_enough_clusters_is_untestable_with_the_reason():
    ratings = pd.DataFrame(
        {
            "listener": ["a", "a", "b", "b"],
            "sentence": ["s1", "s2", "s1", "s2"],
            "system": ["X", "X", "Y", "Y"],
            "score": [3, 4, 2, 2],
        }
    )
    (p,) = stats.pairwise_tests(ratings)
    assert p["test"] is None and p["p_value"] is None and not p["significant"]
    assert "at least two listeners" in p["test_reason"]


def holm_by_hand(p_values: list[float]) -> list[float]:
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def test_holm_matches_a_worked_example_and_a_hand_loop():
    assert stats.holm_adjust([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx(
        [0.03, 0.06, 0.06, 0.02]
    )
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = (rng.random(rng.integers(1, 30)) ** 3).tolist()
        assert stats.holm_adjust(p).tolist() == pytest.approx(holm_by_hand(p))


def test_pairs_are_holm_corrected_across_all_pairs_and_flag_the_better_system():
    ratings = crossed_ratings(seed=2, n_listeners=60)
    pairs = stats.pairwise_tests(ratings, alpha=0.05)
    assert len(pairs) == len(list(combinations("ABC", 2)))
    expected = holm_by_hand([p["p_value"] for p in pairs])
    for p, p_holm in zip(pairs, expected):
        assert p["p_holm"] == pytest.approx(p_holm)
        assert p["significant"] == (p_holm < 0.05)
    a_vs_c = next(p for p in pairs if {p["system_a"], p["system_b"]} == {"A", "C"})
    assert a_vs_c["significant"] and a_vs_c["better"] == "C"
    matrix = stats.significance_matrix(["A", "B", "C"], pairs)
    assert matrix["cells"][0][2] == "<" and matrix["cells"][2][0] == ">"
    assert matrix["cells"][1][1] is None


# --- screening ------------------------------------------------------------------------------


def screening_fixture() -> pd.DataFrame:
    """Twelve listeners rating the same 10 clips; L1–L5 are built to break one rule each.

    Clips 0–1 are low anchors, 8–9 natural references. Every listener answers one gold
    question (expected 1) and hears clips 2 and 5 again.
    """
    rng = np.random.default_rng(1)
    quality = np.array([1.2, 1.8, 2.1, 2.6, 3.0, 3.3, 3.7, 4.1, 4.5, 4.9])
    kinds = ["anchor"] * 2 + ["voice"] * 6 + ["reference"] * 2
    rows = []
    for j in range(12):
        name = f"L{j}"
        scores = np.clip(np.rint(quality + rng.normal(0, 0.4, 10)), 1, 5).astype(int)
        if name == "L1":  # rates against the crowd
            scores = 6 - scores
        if name == "L2":  # straight-lining
            scores = np.full(10, 4)
        test = [
            {
                "listener": name,
                "sentence": f"s{c // 2}",
                "system": f"{kinds[c]}-{c % 2}",
                "clip": f"c{c}",
                "score": int(scores[c]),
                "purpose": "test",
                "system_kind": kinds[c],
                "response_seconds": 0.4 if name == "L3" else 5.0,
            }
            for c in range(10)
        ]
        gold = dict(test[0], clip="gold", purpose="gold", expected_score=1)
        gold["score"] = 4 if name == "L4" else 1  # L4 misses the gold question
        repeats = []
        for c in (2, 5):
            again = test[c]["score"]
            if name == "L5":  # rates both repeated clips far from the first time
                again = 5 if again <= 2 else 1
            repeats.append(dict(test[c], purpose="repeat", score=again))
        rows += test + [gold] + repeats
    return pd.DataFrame(rows)


WITH_SPEED = dict(stats.ScreeningRules().as_dict(), min_median_response_seconds=1.0)


def test_each_rule_fires_for_the_listener_built_to_break_it():
    # The speed rule is off by default (see test_speed_rule_is_off_by_default...): on here.
    table = stats.screen_listeners(screening_fixture(), WITH_SPEED)
    fired = {name: set(rules) for name, rules in table["rules"].items()}
    assert fired["L1"] >= {"low_correlation", "reference_low", "anchor_high"}
    assert "identical_scores" in fired["L2"]
    assert fired["L3"] == {"fast_answers"}
    assert fired["L4"] == {"gold_failures"}
    assert "inconsistent_repeats" in fired["L5"]
    honest = [f"L{j}" for j in range(6, 12)]
    assert all(fired[name] == set() for name in honest)
    assert table.loc["L4", "gold_failures"] == 1
    assert table.loc["L3", "median_response_seconds"] == pytest.approx(0.4)
    assert table["excluded"].sum() == 5
    assert any("gold_failures: 1 of 1" in r for r in table.loc["L4", "reasons"])


def test_rule_thresholds_come_from_the_rules_dict():
    ratings = screening_fixture()
    rules = stats.ScreeningRules().as_dict()
    rules.update(max_gold_failures=1, min_median_response_seconds=None, flag_identical_scores=False)
    table = stats.screen_listeners(ratings, rules)
    assert table.loc["L4", "rules"] == []
    assert table.loc["L3", "rules"] == []
    assert "identical_scores" not in table.loc["L2", "rules"]


def test_disabled_screening_reports_rules_but_excludes_nobody():
    rules = dict(stats.ScreeningRules().as_dict(), enabled=False)
    report = stats.build_report(screening_fixture(), rules=rules)
    assert report["excluded_listeners"] == []
    assert report["screening"]["fired"]["gold_failures"] == 1
    assert report["systems"] == report["systems_after_exclusion"]


def test_bad_rule_values_are_refused_with_the_rule_name():
    with pytest.raises(ValueError, match="min_correlation"):
        stats.ScreeningRules.from_dict({"min_correlation": "high"})
    with pytest.raises(ValueError, match="enabled"):
        stats.ScreeningRules.from_dict({"enabled": "yes"})


def test_default_rules_have_the_shape_of_the_study_model_default():
    from listening.models import Study  # the model needs Django's settings: read it here only

    model_default = Study().screening
    assert model_default == stats.ScreeningRules().as_dict()
    assert stats.ScreeningRules.from_dict(model_default) == stats.ScreeningRules()


def crowd_fixture(seed: int = 0) -> pd.DataFrame:
    """30 listeners rating the same 24 clips: 20 use the whole scale, 7 only its middle
    (about 2-4), 3 click at random; everyone answers within 0.1-0.6 s of the clip's
    end by keyboard, and answers two gold questions (expected 1 and 5)."""
    rng = np.random.default_rng(seed)
    quality = np.linspace(1.3, 4.7, 24)
    rows = []
    for j in range(30):
        if j < 20:
            scores = np.rint(quality + rng.normal(0, 0.5, 24))
        elif j < 27:
            # Compressed scale use with the same precision relative to it as the others.
            scores = np.rint(3 + 0.4 * (quality - 3) + rng.normal(0, 0.2, 24))
        else:
            scores = rng.integers(1, 6, 24).astype(float)
        scores = np.clip(scores, 1, 5).astype(int)
        for c in range(24):
            rows.append(
                dict(
                    listener=f"L{j}",
                    sentence=f"s{c}",
                    system="AB"[c % 2],
                    clip=f"c{c}",
                    score=int(scores[c]),
                    response_seconds=rng.uniform(0.1, 0.6),
                )
            )
        for expected in (1, 5):
            answer = expected if j < 20 else int(scores.min() if expected == 1 else scores.max())
            if j >= 27:
                answer = int(rng.integers(1, 6))
            rows.append(
                dict(
                    listener=f"L{j}",
                    sentence=f"g{expected}",
                    system="gold",
                    clip=f"g{expected}",
                    score=answer,
                    purpose="gold",
                    expected_score=expected,
                    response_seconds=0.3,
                )
            )
    return pd.DataFrame(rows)


def test_narrow_scale_and_quick_keyboard_listeners_are_not_excluded_but_clickers_are():
    table = stats.screen_listeners(crowd_fixture(), None)
    narrow = [f"L{j}" for j in range(20, 27)]
    assert not table.loc[narrow, "excluded"].any(), table.loc[narrow, "reasons"]
    assert not table.loc[[f"L{j}" for j in range(20)], "excluded"].any()
    # The narrow listeners answered the gold questions at the ends of their own range.
    assert (table.loc[narrow, "gold_failures"] == 0).all()
    assert table.loc[narrow, "score_high"].le(4).all()
    clickers = [f"L{j}" for j in range(27, 30)]
    assert table.loc[clickers, "rule_low_correlation"].all()
    reason = next(r for r in table.loc["L27", "reasons"] if r.startswith("low_correlation"))
    assert "significantly below the" in reason and "p =" in reason


def test_speed_rule_is_off_by_default_and_measured_from_the_clip_end_when_on():
    assert stats.ScreeningRules().min_median_response_seconds is None
    table = stats.screen_listeners(crowd_fixture(), None)
    assert not table["rule_fast_answers"].any()
    on = stats.screen_listeners(crowd_fixture(), {"min_median_response_seconds": 1.0})
    assert on["rule_fast_answers"].all()  # every keyboard listener: hence off by default


def test_a_rule_that_would_exclude_too_many_warns_instead_and_shows_its_effect():
    ratings = crowd_fixture()
    report = stats.build_report(ratings, rules={"min_median_response_seconds": 1.0})
    screening = report["screening"]
    assert screening["suspended"] == ["fast_answers"]
    assert screening["fired"]["fast_answers"] == 30
    assert any("fast_answers" in w and "not applied" in w for w in report["warnings"])
    # The report is not emptied: only the clickers (low agreement) are excluded.
    assert {e["listener"] for e in report["excluded_listeners"]} >= {"L27", "L28", "L29"}
    assert all(s["n"] > 0 for s in report["systems_after_exclusion"])
    effect = screening["effects"]["low_correlation"]
    assert effect["flagged"] >= 3 and effect["applied"]
    kept = ratings[
        (ratings["purpose"].fillna("test") == "test")
        & ~ratings["listener"].isin(
            [r["listener"] for r in report["listeners"] if "low_correlation" in r["rules_fired"]]
        )
    ]
    assert effect["mos_without"]["A"] == pytest.approx(
        kept.loc[kept["system"] == "A", "score"].mean()
    )
    assert effect["mos_shift"]["A"] == pytest.approx(
        effect["mos_without"]["A"] - effect["mos_with"]["A"]
    )
    # Raising the share applies it (and then nobody is left).
    everything = stats.build_report(
        ratings, rules={"min_median_response_seconds": 1.0, "max_rule_share": 1.0}
    )
    assert everything["screening"]["suspended"] == []
    assert all(s["n"] == 0 for s in everything["systems_after_exclusion"])


# --- the report -----------------------------------------------------------------------------


def test_report_shows_results_with_and_without_exclusions():
    ratings = screening_fixture()
    report = stats.build_report(ratings, rules=WITH_SPEED)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    excluded = {e["listener"] for e in report["excluded_listeners"]}
    assert excluded == {"L1", "L2", "L3", "L4", "L5"}
    assert all(e["reasons"] for e in report["excluded_listeners"])
    n_all = sum(s["n"] for s in report["systems"])
    n_after = sum(s["n"] for s in report["systems_after_exclusion"])
    assert n_all == 120 and n_after == 70
    kept = ratings[~ratings["listener"].isin(excluded)]
    assert by_name(report["systems_after_exclusion"]) == by_name(stats.mos_summary(kept))
    for key in ("pairs", "sentences", "listeners", "screening", "ratings_needed", "method"):
        assert report[key]
    for s in report["systems"]:
        assert {"system", "n", "mos", "sd", "ci95", "ci95_clustered", "histogram"} <= set(s)


def test_same_input_gives_the_same_report():
    ratings = crossed_ratings(seed=8)
    first = json.dumps(stats.build_report(ratings, seed=1))
    assert json.dumps(stats.build_report(ratings.copy(), seed=1)) == first


def test_ratings_needed_include_the_t_quantile_and_an_upper_bound():
    ratings = crossed_ratings(seed=9)
    report = stats.build_report(ratings, target_half_width=0.05)
    for need, s in zip(report["ratings_needed"], report["systems_after_exclusion"]):
        parts = need["variance_parts"]
        var = parts["listener"] + parts["sentence"] + parts["residual"]
        assert var == pytest.approx(s["se_clustered"] ** 2)
        g = need["total_ratings"] / s["n"]
        # At the planned size the t-based half-width just reaches the target.
        assert sps.t.ppf(0.975, s["df_clustered"] * g) * math.sqrt(var / g) <= 0.05 + 1e-6
        smaller = (need["total_ratings"] - 2) / s["n"]
        assert sps.t.ppf(0.975, s["df_clustered"] * smaller) * math.sqrt(var / smaller) > 0.05
        assert need["total_ratings_upper80"] > need["total_ratings"]
        assert need["additional_ratings_upper80"] == need["total_ratings_upper80"] - s["n"]


def test_ratings_needed_say_when_only_more_sentences_can_reach_the_target():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 1.0, 6)  # six very different sentences
    rows = [
        (f"L{j}", f"s{k}", "A", int(np.clip(round(3 + difficulty[k] + rng.normal(0, 0.5)), 1, 5)))
        for j in range(40)
        for k in range(6)
    ]
    ratings = pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])
    (need,) = stats.build_report(ratings, target_half_width=0.1)["ratings_needed"]
    assert need["listeners_alone_reach_target"] is False
    assert need["sentence_part_half_width"] > 0.1
    assert need["total_sentences_upper80"] > 6
    assert "cannot reach" in need["note"] and "sentences" in need["note"]


def test_sentence_and_listener_tables_match_pandas():
    ratings = crossed_ratings(seed=4)
    report = stats.build_report(ratings, rules={"enabled": False})
    sentences = by_name(report["sentences"], "sentence")
    for sentence, group in ratings.groupby("sentence"):
        row = sentences[sentence]
        assert row["n"] == len(group)
        assert row["mos"] == pytest.approx(group["score"].mean())
        assert row["by_system"] == pytest.approx(group.groupby("system")["score"].mean().to_dict())
    listeners = by_name(report["listeners"], "listener")
    for listener, group in ratings.groupby("listener"):
        assert listeners[listener]["mos"] == pytest.approx(group["score"].mean())
        assert listeners[listener]["n_systems"] == group["system"].nunique()


# --- input validation -----------------------------------------------------------------------


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="lacks column.*score"):
        stats.mos_summary(pd.DataFrame({"listener": ["a"], "sentence": ["s"], "system": ["x"]}))


def test_scores_outside_the_scale_name_the_rows():
    ratings = crossed_ratings().head(6)
    ratings.loc[4, "score"] = 7
    with pytest.raises(ValueError, match=r"not a whole number from 1 to 5 at row 4 \(first: '7'\)"):
        stats.build_report(ratings)


def test_gold_rows_need_an_expected_score():
    ratings = crossed_ratings().head(6).assign(purpose=["test"] * 5 + ["gold"])
    with pytest.raises(ValueError, match="expected_score"):
        stats.build_report(ratings)


def test_csv_errors_name_the_line():
    text = "listener,sentence,system,score\na,001,x,4\nb,002,x,five\n"
    with pytest.raises(ValueError, match="line 3"):
        stats.read_ratings_csv(text.encode())
    good = stats.read_ratings_csv(b"listener,sentence,system,score,extra\na,007,x,4,kept\n")
    assert good["sentence"].tolist() == ["007"] and good["extra"].tolist() == ["kept"]
    latin1 = "listener,sentence,system,score\nJos\xe9,1,x,4\n".encode("latin-1")
    with pytest.raises(ValueError, match="not UTF-8.*line 2"):
        stats.read_ratings_csv(latin1)


def test_a_tested_and_an_untestable_pair_write_the_same_fields_in_the_same_order():
    rows = [
        (f"l{i}", f"s{j}", system, 1 + (i + j + k) % 5)
        for i in range(4)
        for j in range(3)
        for k, system in enumerate("XY")
    ]
    rows += [("l0", "s0", "Z", 3), ("l0", "s1", "Z", 4)]
    ratings = pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"])
    pairs = {(p["system_a"], p["system_b"]): p for p in stats.pairwise_tests(ratings)}
    tested, untestable = pairs[("X", "Y")], pairs[("X", "Z")]
    assert tested["test"] == "clustered_t" and untestable["test"] is None
    assert list(tested) == list(untestable)
