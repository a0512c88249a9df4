"""build_test_report: the dispatch (ACR unchanged), the comparative screening with and without
exclusions, manual exclusions, SMOS's reference text, and JSON without NaN."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from listening.analysis import stats


def ccr_study(seed: int = 0, listeners: int = 10, sentences: int = 8) -> list[dict]:
    """ref and X (X about one point worse), counterbalanced; every listener also hears one
    identical pair (gold, expected 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(listeners):
        for s in range(sentences):
            first = (i + s) % 2 == 0
            a, b = ("ref", "X") if first else ("X", "ref")
            raw = (-1 if first else 1) + rng.normal(0, 0.8)
            rows.append(
                {
                    "listener": f"L{i}",
                    "sentence": f"s{s}",
                    "a": a,
                    "b": b,
                    "score": int(np.clip(round(raw), -3, 3)),
                    "purpose": "test",
                }
            )
        rows.append(
            {
                "listener": f"L{i}",
                "sentence": "g",
                "a": "ref",
                "b": "ref",
                "score": 0,
                "purpose": "gold",
                "expected": 0,
            }
        )
    return rows


def test_acr_is_build_report_unchanged():
    ratings = pd.DataFrame(
        [
            (f"L{i}", f"s{j}", "AB"[(i + j) % 2], 1 + (i + 2 * j) % 5)
            for i in range(6)
            for j in range(6)
        ],
        columns=["listener", "sentence", "system", "score"],
    )
    assert stats.build_test_report(ratings, "acr") == stats.build_report(ratings)


def test_ccr_gold_identical_pair_excludes_the_listener_who_misses_it():
    rows = ccr_study()
    # L0 calls the identical pair "much better"; L1 answers 1 (within the tolerance).
    for row in rows:
        if row["purpose"] == "gold" and row["listener"] == "L0":
            row["score"] = 3
        if row["purpose"] == "gold" and row["listener"] == "L1":
            row["score"] = 1
    # L0 also always says "much better" for X, to move the CMOS when included.
    for row in rows:
        if row["listener"] == "L0" and row["purpose"] == "test":
            row["score"] = 3 if row["b"] == "X" else -3
    report = stats.build_test_report(pd.DataFrame(rows), "ccr", reference="ref")
    assert [e["listener"] for e in report["excluded_listeners"]] == ["L0"]
    assert report["excluded_listeners"][0]["rules"] == ["gold_failures"]
    assert "1 of 1 gold" in report["excluded_listeners"][0]["reasons"][0]
    everyone = report["systems"][0]
    after = report["systems_after_exclusion"][0]
    assert everyone["n"] == after["n"] + 8
    assert after["cmos"] < everyone["cmos"]
    assert report["n_answers"] == 80 and report["n_answers_after_exclusion"] == 72
    json.dumps(report, allow_nan=False)
    # Screening switched off: reported, not applied.
    off = stats.build_test_report(pd.DataFrame(rows), "ccr", rules={"enabled": False})
    assert off["excluded_listeners"] == []
    assert off["screening"]["fired"]["gold_failures"] == 1


def ab_rows(listeners: int = 10) -> list[dict]:
    rows = []
    for i in range(listeners):
        for s in range(6):
            a, b = ("A", "B") if (i + s) % 2 else ("B", "A")
            rows.append(
                {
                    "listener": f"L{i}",
                    "sentence": f"s{s}",
                    "a": a,
                    "b": b,
                    "choice": ["a", "b", "tie"][(i * 7 + s) % 3],
                }
            )
        # An anchor against the reference: the reference is the expected choice.
        rows.append(
            {
                "listener": f"L{i}",
                "sentence": "g",
                "a": "anchor",
                "b": "ref",
                "choice": "b",
                "purpose": "gold",
                "expected": "ref",
            }
        )
    return rows


def test_ab_anchor_gold_straight_lining_and_manual_exclusion():
    rows = ab_rows()
    for row in rows:
        if row["listener"] == "L3":
            row["choice"] = "a"  # always the first clip, and so the anchor too
    report = stats.build_test_report(
        pd.DataFrame(rows), "ab", manual_exclusions={"L9": "asked to be removed"}
    )
    excluded = {e["listener"]: e["rules"] for e in report["excluded_listeners"]}
    assert excluded == {"L9": ["manual"], "L3": ["gold_failures", "identical_answers"]}
    assert report["manual_exclusions"] == [{"listener": "L9", "reason": "asked to be removed"}]
    assert report["n_listeners"] == 9  # L9 is left out of everything
    assert report["pairs"][0]["n"] == 9 * 6
    assert report["pairs_after_exclusion"][0]["n"] == 8 * 6
    assert {r["system"] for r in report["ranking"]} == {"A", "B"}


def test_a_rule_firing_for_too_many_listeners_is_reported_not_applied():
    rows = ab_rows()
    for row in rows:
        if row.get("purpose") == "gold" and row["listener"] in ("L0", "L1", "L2"):
            row["choice"] = "a"
    report = stats.build_test_report(pd.DataFrame(rows), "ab")
    assert report["screening"]["suspended"] == ["gold_failures"]
    assert report["excluded_listeners"] == []
    assert any("max_rule_share" in w for w in report["warnings"])


def test_abx_gold_and_repeats():
    rows = []
    for i in range(6):
        for s in range(6):
            x = "A" if (i + s) % 2 else "B"
            right = "a" if x == "A" else "b"
            rows.append(
                {
                    "listener": f"L{i}",
                    "sentence": f"s{s}",
                    "a": "A",
                    "b": "B",
                    "x": x,
                    "choice": right if s % 3 else ("b" if right == "a" else "a"),
                    "purpose": "test",
                }
            )
        rows.append(
            {
                "listener": f"L{i}",
                "sentence": "s1",
                "a": "A",
                "b": "B",
                "x": "A" if (i + 1) % 2 else "B",
                "choice": "a" if i == 0 else "b",
                "purpose": "repeat",
            }
        )
    report = stats.build_test_report(
        pd.DataFrame(rows), "abx", rules={"max_inconsistent_repeats": 0}
    )
    by = {row["listener"]: row for row in report["listeners"]}
    assert all(by[f"L{i}"]["n_repeats"] == 1 for i in range(6))
    pair = report["pairs"][0]
    assert pair["proportion_correct"] == pytest.approx(4 / 6)
    assert set(pair) >= {"a", "b", "n", "proportion_correct", "ci95_clustered", "p_value"}


def test_ccr_repeat_in_the_other_order_is_compared_in_one_clip_order():
    rows = ccr_study(listeners=4)
    first = next(r for r in rows if r["listener"] == "L0" and r["purpose"] == "test")
    # The same two clips, swapped, with the same judgement (negated score): consistent.
    rows.append(
        {
            **first,
            "a": first["b"],
            "b": first["a"],
            "score": -first["score"],
            "purpose": "repeat",
            "sentence": first["sentence"],
        }
    )
    # L1's repeat contradicts the first answer by 3 points or more.
    other = next(r for r in rows if r["listener"] == "L1" and r["purpose"] == "test")
    rows.append({**other, "score": -3 if other["score"] >= 0 else 3, "purpose": "repeat"})
    report = stats.build_test_report(
        pd.DataFrame(rows), "ccr", rules={"max_inconsistent_repeats": 0, "max_rule_share": 1}
    )
    by = {row["listener"]: row for row in report["listeners"]}
    assert (by["L0"]["n_repeats"], by["L0"]["inconsistent_repeats"]) == (1, 0)
    assert (by["L1"]["n_repeats"], by["L1"]["inconsistent_repeats"]) == (1, 1)


def test_smos_is_the_acr_report_with_the_reference_text():
    rows = []
    for i in range(6):
        for s in range(5):
            for system, base in (("X", 4), ("Y", 2)):
                rows.append(
                    {
                        "listener": f"L{i}",
                        "sentence": f"s{s}",
                        "system": system,
                        "score": base + (i + s) % 2,
                        "reference": f"s{s}",
                    }
                )
    same = stats.build_test_report(pd.DataFrame(rows), "smos")
    assert same["test"] == "smos"
    assert same["reference_text"] == "same-text"
    assert {s["system"]: s["mos"] for s in same["systems"]} == pytest.approx({"X": 4.5, "Y": 2.5})
    assert same["scale_labels"]["5"] == "Extremely similar"
    assert "similar" in same["method"]["mos"]
    acr = stats.build_report(pd.DataFrame(rows).drop(columns="reference"))
    assert same["systems"] == acr["systems"]
    different = pd.DataFrame(rows).assign(reference="other")
    assert stats.build_test_report(different, "smos")["reference_text"] == "different-text"
    mixed = pd.DataFrame(rows)
    mixed.loc[0, "reference"] = "other"
    assert stats.build_test_report(mixed, "smos")["reference_text"] == "mixed"


def test_unknown_test_and_no_test_answers_are_refused():
    with pytest.raises(ValueError, match="Unknown test"):
        stats.build_test_report(pd.DataFrame(), "mos")
    gold_only = pd.DataFrame(ccr_study(listeners=2))
    gold_only = gold_only[gold_only["purpose"] == "gold"]
    with pytest.raises(ValueError, match="no test answers"):
        stats.build_test_report(gold_only, "ccr")
