"""Numbers for the report's objective section (listening/objective/summary.py): intervals over a
system's clips, correlations with MOS and an estimate's P.1401 agreement, against hand
computations and scipy."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from listening.objective.summary import (
    estimate_agreement,
    metric_correlations,
    system_metric_summary,
)


def test_system_metric_summary_is_a_t_interval():
    s = system_metric_summary([1.0, 2.0, 3.0, 4.0, 5.0])
    # sd = sqrt(2.5); t(0.975, 4) = 2.776445; half-width = 2.776445 * 1.581139 / sqrt(5).
    assert s["n"] == 5
    assert s["mean"] == 3.0
    assert s["sd"] == pytest.approx(1.5811388)
    assert s["ci95"] == pytest.approx([3.0 - 1.9632432, 3.0 + 1.9632432], abs=1e-6)


def test_system_metric_summary_skips_missing_values_and_tiny_samples():
    assert system_metric_summary([2.0, None, float("nan"), 4.0])["n"] == 2
    assert system_metric_summary([2.0, None, float("nan"), 4.0])["mean"] == 3.0
    one = system_metric_summary([None, 3.5])
    assert one == {"n": 1, "mean": 3.5, "sd": None, "ci95": None}
    assert system_metric_summary([]) == {"n": 0, "mean": None, "sd": None, "ci95": None}


def test_metric_correlations_across_systems_and_clips():
    systems = [
        {"system": "A", "mos": 4.2, "mcd_db": 5.0, "pesq_wb": 3.0, "n": 40},
        {"system": "B", "mos": 3.1, "mcd_db": 7.0, "pesq_wb": 2.9, "n": 40},
        {"system": "C", "mos": 2.0, "mcd_db": 9.0, "pesq_wb": 1.0, "n": 40},
        {"system": "D", "mos": 1.5, "mcd_db": 9.5, "pesq_wb": None, "n": 40},
    ]
    clips = [{"mos": m, "stoi": m**3, "flag": True} for m in (1.0, 2.0, 3.0, 4.5)]
    out = metric_correlations(systems, clips)
    assert set(out["systems"]) == {"mcd_db", "pesq_wb"}  # no names, no counts
    mcd = out["systems"]["mcd_db"]
    expected = stats.pearsonr([4.2, 3.1, 2.0, 1.5], [5.0, 7.0, 9.0, 9.5])
    assert mcd["n"] == 4
    assert mcd["pearson"] == pytest.approx(expected.statistic)
    assert mcd["pearson_p"] == pytest.approx(expected.pvalue)
    assert mcd["spearman"] == pytest.approx(-1.0)
    assert out["systems"]["pesq_wb"]["n"] == 3  # D has no PESQ
    assert out["systems"]["pesq_wb"]["spearman"] == pytest.approx(1.0)
    assert set(out["clips"]) == {"stoi"}  # booleans are not metrics
    assert out["clips"]["stoi"]["spearman"] == pytest.approx(1.0)
    assert out["clips"]["stoi"]["pearson"] < 1.0  # monotonic but not linear


def test_metric_correlations_are_none_when_undefined():
    two = [{"mos": 3.0, "mcd_db": 6.0}, {"mos": 4.0, "mcd_db": 5.0}]
    flat = [{"mos": 3.0, "mcd_db": 6.0}, {"mos": 4.0, "mcd_db": 6.0}, {"mos": 2.0, "mcd_db": 6.0}]
    out = metric_correlations(two, flat)
    for stats_ in (out["systems"]["mcd_db"], out["clips"]["mcd_db"]):
        assert stats_["pearson"] is None and stats_["spearman"] is None
        assert stats_["pearson_p"] is None and stats_["spearman_p"] is None
    assert out["systems"]["mcd_db"]["n"] == 2
    assert out["clips"]["mcd_db"]["n"] == 3


def test_estimate_agreement_follows_p1401_with_numbers_worked_by_hand():
    # MOS 4, 3, 2 with 95 % half-widths 0.2, 0.5, 0.1; the estimate 4.5, 3.1, 2.0.
    stats = estimate_agreement([(4.0, 4.5), (3.0, 3.1), (2.0, 2.0)], [0.2, 0.5, 0.1])
    # errors 0.5, 0.1, 0.0 -> RMSE = sqrt(0.26 / (3 - 1)); shrunk 0.3, 0, 0 -> sqrt(0.09 / 2)
    assert stats["n"] == 3
    assert stats["rmse"] == pytest.approx(math.sqrt(0.26 / 2))
    assert stats["rmse_star"] == pytest.approx(math.sqrt(0.09 / 2))
    assert stats["mean_error"] == pytest.approx(0.2)
    assert stats["spearman"] == pytest.approx(1.0)
    assert 0.99 < stats["pearson"] <= 1.0


def test_estimate_agreement_leaves_out_missing_pairs_and_says_what_is_undefined():
    stats = estimate_agreement([(4.0, None), (3.0, 3.5), (None, 2.0), (2.0, float("nan"))])
    assert stats["n"] == 1 and stats["mean_error"] == pytest.approx(0.5)
    assert stats["rmse"] is None and stats["pearson"] is None and stats["rmse_star"] is None
    two = estimate_agreement([(4.0, 3.0), (3.0, 3.0)])
    assert two["rmse"] == pytest.approx(1.0) and two["rmse_star"] is None  # no intervals given
