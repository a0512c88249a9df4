"""CCR / CMOS: sign correction, the clustered interval computed by hand, the order effect, the
choice of the reference and the system-vs-system mode."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats as sps

from listening.analysis import stats

ROWS = [
    # listener, sentence, a, b, score (b relative to a, as presented)
    ("L1", "s1", "ref", "X", 2),  # X against ref: +2
    ("L1", "s2", "X", "ref", -1),  # X against ref: +1
    ("L2", "s1", "X", "ref", 1),  # X against ref: -1
    ("L2", "s2", "ref", "X", 0),  # X against ref:  0
]


def frame(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["listener", "sentence", "a", "b", "score"])


def test_cmos_corrects_the_sign_and_its_clustered_interval_matches_the_hand_computation():
    report = stats.build_test_report(frame(), "ccr", reference="ref")
    assert report["test"] == "ccr"
    assert (report["mode"], report["reference"]) == ("reference", "ref")
    (entry,) = report["systems"]
    assert set(entry) >= {"system", "reference", "n", "cmos", "ci95_clustered", "p_value"}
    assert (entry["system"], entry["reference"], entry["n"]) == ("X", "ref", 4)
    assert entry["cmos"] == pytest.approx((2 + 1 - 1 + 0) / 4)
    # By hand: residuals 1.5, 0.5, -1.5, -0.5. Listeners: sums +2 and -2, leverage 1/2, CR2
    # factor sqrt(2): V_L = 2 * (sqrt(2) * 2 / 4)^2 = 1. Sentences: sums 0 and 0: V_S = 0.
    # Cells: one answer each, leverage 1/4: V_C = sum(r^2) / (16 * 3/4) = 5/12. The two-way
    # V_L + V_S - V_C = 7/12 is below the listener term, so the floor takes V_L (df 1).
    se = math.sqrt(1.0)
    assert entry["se_clustered"] == pytest.approx(se)
    assert entry["df_clustered"] == pytest.approx(1.0)
    assert entry["clustered_fallback"] is True
    half = sps.t.ppf(0.975, 1) * se
    assert entry["ci95_clustered"] == pytest.approx([0.5 - half, 0.5 + half])
    assert entry["p_value"] == pytest.approx(2 * sps.t.sf(0.5 / se, 1))
    assert (entry["n_system_first"], entry["n_reference_first"]) == (2, 2)


def test_order_effect_is_the_mean_raw_score_as_presented():
    report = stats.build_test_report(frame(), "ccr")
    order = report["order_effect"]
    assert order["mean_score_as_presented"] == pytest.approx((2 - 1 + 1 + 0) / 4)
    assert order["n"] == 4
    assert order["p_value"] is not None


def test_swapping_a_and_b_and_negating_the_score_changes_nothing():
    swapped = [(lst, s, b, a, -score) for lst, s, a, b, score in ROWS]
    one = stats.build_test_report(frame(), "ccr", reference="ref")["systems"][0]
    two = stats.build_test_report(frame(swapped), "ccr", reference="ref")["systems"][0]
    assert two["cmos"] == pytest.approx(one["cmos"])
    assert two["ci95_clustered"] == pytest.approx(one["ci95_clustered"])
    # ... but the order effect changes sign: B is now the other clip.
    assert stats.build_test_report(frame(swapped), "ccr")["order_effect"][
        "mean_score_as_presented"
    ] == pytest.approx(-0.5)


def three_systems(pairs_of_systems) -> pd.DataFrame:
    rows = []
    for listener in range(4):
        for sentence in range(4):
            for k, (x, y) in enumerate(pairs_of_systems):
                first = (listener + sentence + k) % 2 == 0
                a, b = (x, y) if first else (y, x)
                # y is one point better than x, whatever the order
                score = 1 if first else -1
                rows.append((f"L{listener}", f"s{sentence}-{k}", a, b, score + (listener % 2)))
    return frame([(lst, s, a, b, max(-3, min(3, sc))) for lst, s, a, b, sc in rows])


def test_reference_inferred_given_and_refused():
    data = three_systems([("ref", "X"), ("ref", "Y")])
    report = stats.build_test_report(data, "ccr")
    assert report["reference"] == "ref"
    assert report["reference_choice"].startswith("inferred")
    assert [e["system"] for e in report["systems"]] == ["X", "Y"]
    # y one better than x in every answer; the listener half adds +1 as presented, which
    # counterbalancing cancels out of the CMOS and leaves in the order effect.
    for entry in report["systems"]:
        assert entry["cmos"] == pytest.approx(1.0)
        assert entry["p_holm"] >= entry["p_value"]
    assert report["order_effect"]["mean_score_as_presented"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not a system of the answers"):
        stats.build_test_report(data, "ccr", reference="nobody")
    with pytest.raises(ValueError, match="not in every pair"):
        stats.build_test_report(data, "ccr", reference="X")


def test_system_vs_system_mode_gives_every_pair_a_cmos_with_holm():
    data = three_systems([("A", "B"), ("B", "C"), ("A", "C")])
    report = stats.build_test_report(data, "ccr", system_order=["A", "B", "C"])
    assert report["mode"] == "system_vs_system"
    pairs = {(e["reference"], e["system"]): e for e in report["systems"]}
    assert set(pairs) == {("A", "B"), ("A", "C"), ("B", "C")}
    for entry in pairs.values():
        assert entry["cmos"] == pytest.approx(1.0)
    p = sorted(e["p_value"] for e in pairs.values())
    holm = sorted(e["p_holm"] for e in pairs.values())
    assert holm[0] == pytest.approx(min(1, 3 * p[0]))
    # Reversing the system order flips every CMOS.
    back = stats.build_test_report(data, "ccr", system_order=["C", "B", "A"])
    assert all(e["cmos"] == pytest.approx(-1.0) for e in back["systems"])


def test_two_systems_are_compared_as_a_pair_unless_a_reference_is_given():
    # Both systems are in every pair: nothing says which is the reference.
    report = stats.build_test_report(frame(), "ccr", system_order=["X", "ref"])
    assert report["mode"] == "system_vs_system"
    assert "give --reference" in report["reference_choice"]
    (entry,) = report["systems"]
    assert (entry["system"], entry["reference"]) == ("ref", "X")
    assert entry["cmos"] == pytest.approx(-0.5)  # the same comparison seen from the other side


def test_an_all_equal_comparison_reports_a_sign_test_not_a_crash():
    rows = [(f"L{i}", f"s{j}", "ref", "X", 2) for i in range(5) for j in range(3)]
    (entry,) = stats.build_test_report(frame(rows), "ccr")["systems"]
    assert entry["cmos"] == 2.0
    assert entry["se_clustered"] == 0.0
    assert entry["p_value"] == pytest.approx(2 * 0.5**5)
    assert entry["ci95_clustered"] == [None, None]  # no zero-width interval
    assert "sign test" in entry["note"]


def test_one_listener_gives_no_clustered_interval_and_says_why():
    rows = [("L1", f"s{j}", "ref", "X", j % 3) for j in range(4)]
    (entry,) = stats.build_test_report(frame(rows), "ccr")["systems"]
    assert entry["ci95_clustered"] == [None, None]
    assert entry["p_value"] is None
    assert "two listeners" in entry["note"]
