"""AB preference shares (ties excluded and split) and ABX proportions, computed by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats as sps

from listening.analysis import stats

AB_ROWS = [
    ("L1", "s1", "A", "B", "a"),  # A wins
    ("L1", "s2", "B", "A", "b"),  # A wins
    ("L1", "s3", "A", "B", "tie"),
    ("L2", "s1", "B", "A", "a"),  # B wins
    ("L2", "s2", "A", "B", "a"),  # A wins
    ("L2", "s3", "B", "A", "tie"),
]


def ab(rows=AB_ROWS) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["listener", "sentence", "a", "b", "choice"])


def logit_interval(p: float, se: float, q: float) -> list[float]:
    centre, spread = math.log(p / (1 - p)), q * se / (p * (1 - p))
    return [1 / (1 + math.exp(-(centre - spread))), 1 / (1 + math.exp(-(centre + spread)))]


def test_ab_counts_shares_and_the_clustered_interval_by_hand():
    report = stats.build_test_report(ab(), "ab")
    assert report["test"] == "ab"
    (pair,) = report["pairs"]
    assert set(pair) >= {"a", "b", "n", "wins_a", "wins_b", "ties", "preference_a"}
    assert (pair["a"], pair["b"], pair["n"]) == ("A", "B", 6)
    assert (pair["wins_a"], pair["wins_b"], pair["ties"]) == (3, 1, 2)
    assert pair["preference_a"] == pytest.approx(3 / 4)
    assert pair["preference_a_ties_split"] == pytest.approx((3 + 2 / 2) / 6)
    # Decided answers 1, 1 (L1) and 0, 1 (L2); residuals 1/4, 1/4, -3/4, 1/4. Listener sums
    # +-1/2, sentence sums -+1/2, each with leverage 1/2 (CR2 factor sqrt 2): V_L = V_S =
    # 2 * (sqrt(2) * 0.5 / 4)^2 = 1/16; cells (leverage 1/4): V_C = (3/16 + 9/16) / 12 = 1/16.
    se = math.sqrt(1 / 16 + 1 / 16 - 1 / 16)
    assert pair["se_clustered"] == pytest.approx(se)
    assert pair["df_clustered"] == pytest.approx(1.0)
    assert pair["p_value"] == pytest.approx(2 * sps.t.sf((0.75 - 0.5) / se, 1))
    assert pair["ci95_clustered"] == pytest.approx(logit_interval(0.75, se, sps.t.ppf(0.975, 1)))
    assert 0 <= pair["ci95_clustered"][0] < pair["ci95_clustered"][1] <= 1
    # Position: decided answers chose the first clip in 3 of 4.
    assert report["position_effect"]["share_first_chosen"] == pytest.approx(3 / 4)


def test_pairs_are_named_in_the_system_order():
    report = stats.build_test_report(ab(), "ab", system_order=["B", "A"])
    (pair,) = report["pairs"]
    assert (pair["a"], pair["wins_a"], pair["wins_b"]) == ("B", 1, 3)
    assert pair["preference_a"] == pytest.approx(1 / 4)


def test_a_pair_always_won_gets_a_listener_level_interval_and_sign_test():
    rows = [
        (f"L{i}", f"s{j}", *(("A", "B") if j % 2 else ("B", "A")), "a" if j % 2 else "b")
        for i in range(6)
        for j in range(4)
    ]
    report = stats.build_test_report(ab(rows), "ab", system_order=["A", "B"])
    (pair,) = report["pairs"]
    assert pair["preference_a"] == 1.0
    assert pair["ci95_clustered"] == pytest.approx([0.025 ** (1 / 6), 1.0])
    assert pair["p_value"] == pytest.approx(2 * 0.5**6)
    assert "sign test" in pair["note"]
    # The ranking stays finite with the documented prior, and says so.
    assert report["bradley_terry"]["prior"]
    assert [r["system"] for r in report["ranking"]] == ["A", "B"]
    assert all(math.isfinite(r["score"]) for r in report["ranking"])
    assert any("Bradley-Terry" in w for w in report["warnings"])


def test_holm_across_pairs_and_the_preferred_system():
    rows = []
    for i in range(8):
        for j in range(6):
            # C beats A and B in 5 of 6 sentences; A and B split evenly.
            rows.append((f"L{i}", f"s{j}", "A", "C", "b" if (i + j) % 6 else "a"))
            rows.append((f"L{i}", f"t{j}", "C", "B", "a" if (i + j + 1) % 6 else "b"))
            rows.append((f"L{i}", f"u{j}", "A", "B", "a" if (i + j) % 2 else "b"))
    report = stats.build_test_report(ab(rows), "ab", system_order=["A", "B", "C"])
    pairs = {(p["a"], p["b"]): p for p in report["pairs"]}
    raw = sorted(p["p_value"] for p in pairs.values())
    assert min(p["p_holm"] for p in pairs.values()) == pytest.approx(min(1, 3 * raw[0]))
    assert pairs[("A", "C")]["preferred"] == "C"
    assert pairs[("B", "C")]["preferred"] == "C"
    assert pairs[("A", "B")]["preference_a"] == pytest.approx(0.5)
    assert pairs[("A", "B")]["preferred"] is None
    assert report["ranking"][0]["system"] == "C"


ABX_ROWS = [
    ("L1", "s1", "A", "B", "A", "a"),  # right
    ("L1", "s2", "A", "B", "B", "a"),  # wrong
    ("L1", "s3", "B", "A", "A", "b"),  # right (X = A = b)
    ("L2", "s1", "A", "B", "B", "b"),  # right
    ("L2", "s2", "B", "A", "B", "a"),  # right
    ("L2", "s3", "A", "B", "A", "b"),  # wrong
]


def test_abx_proportion_correct_against_chance_by_hand():
    data = pd.DataFrame(ABX_ROWS, columns=["listener", "sentence", "a", "b", "x", "choice"])
    report = stats.build_test_report(data, "abx")
    assert report["test"] == "abx"
    (pair,) = report["pairs"]
    assert (pair["a"], pair["b"], pair["n"], pair["n_correct"]) == ("A", "B", 6, 4)
    assert pair["proportion_correct"] == pytest.approx(4 / 6)
    se, df = pair["se_clustered"], pair["df_clustered"]
    assert pair["p_value"] == pytest.approx(sps.t.sf((4 / 6 - 0.5) / se, df))  # one-sided
    assert pair["ci95_clustered"] == pytest.approx(logit_interval(4 / 6, se, sps.t.ppf(0.975, df)))


def test_a_pair_of_ties_only_has_no_share_and_says_why_and_an_unknown_reference_is_refused():
    rows = [(f"L{i}", f"s{j}", "A", "B", "tie") for i in range(3) for j in range(2)]
    report = stats.build_test_report(ab(rows), "ab")
    (pair,) = report["pairs"]
    assert (pair["ties"], pair["preference_a"]) == (6, None)
    assert "tie" in pair["note"]
    assert pair["preference_a_ties_split"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not a system"):
        stats.build_test_report(ab(), "ab", reference="Z")
