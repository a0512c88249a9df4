"""The report of any test type: ``build_test_report(frame, test)``.

``acr`` is today's ``report.build_report`` unchanged; ``smos`` is that report on the
similarity scale (:mod:`.smos`); ``ccr``, ``ab`` and ``abx`` are built here from
:mod:`.ccr` and :mod:`.preference`, with the screening of :mod:`.comparative_screening`, and
every result is given for all listeners and without the listeners the screening excluded
(keys ``*_after_exclusion``), as the ACR report does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from listening.screening import COMPARATIVE_SCREENING, ScreeningRules

from .bradley_terry import METHOD_BT
from .ccr import METHOD_CCR, ccr_comparisons, choose_reference, order_warnings, system_names
from .comparative_screening import screen_comparison
from .comparison_table import validate_comparison
from .preference import METHOD_AB, METHOD_ABX, ab_analysis, abx_analysis
from .report import build_report
from .screening import excluded_listeners, screening_section, screening_warnings
from .smos import smos_report
from .table import jsonable, num
from .variance import CI_LEVEL

TESTS = ("acr", "ccr", "ab", "abx", "smos")

METHOD_COMMON = {
    "data": (
        "Only rows with purpose 'test' enter the estimates; 'gold' and 'repeat' rows feed the "
        "listener screening only; 'training' rows are dropped. Listeners excluded by hand are "
        "left out of everything."
    ),
    "screening": (
        "Per listener, in the spirit of ITU-T P.808: gold_failures when more than "
        "max_gold_failures gold questions miss their known answer (CCR identical pair: the "
        "expected score within gold_tolerance points; AB anchor against the reference: the "
        "expected choice; ABX: X); inconsistent_repeats when more than "
        "max_inconsistent_repeats repeated pairs get another answer (CCR: more than "
        "max_repeat_difference apart in one clip order); identical_answers when all of at "
        "least min_ratings_for_identical test answers are the same (flag_identical_scores); "
        "fast_answers when the median answer time is below min_median_response_seconds. A "
        "rule flagging more than max_rule_share of the listeners is reported, not applied. "
        "Results are given with and without the exclusions."
    ),
    "reproducibility": "No random numbers are drawn; the same answers give the same report.",
}


def build_test_report(
    frame: pd.DataFrame,
    test: str,
    *,
    rules: Mapping[str, Any] | None = None,
    reference: str | None = None,
    system_order: Iterable[str] | None = None,
    manual_exclusions: Mapping[str, str] | Iterable[str] | None = None,
    alpha: float = 0.05,
) -> dict:
    """The JSON-ready report of ``frame`` for ``test`` (acr, ccr, ab, abx, smos).

    ``rules``: the screening settings (``listening.screening.default_rules()`` shape);
    ``reference``: CCR's reference system (inferred when one system is in every pair) and, for
    AB, the system the Bradley-Terry scores are also given against; ``system_order``: the
    order of systems (pairs are named earlier system first); ``manual_exclusions``: listeners
    left out by the researcher (names, or name -> reason). ``acr`` calls
    ``report.build_report`` unchanged. Raises ``ValueError`` with the cause and the fix."""
    if test not in TESTS:
        raise ValueError(f"Unknown test {test!r}; use one of {', '.join(TESTS)}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}.")
    manual = _manual(manual_exclusions)
    if manual:
        listeners = frame["listener"].astype(str).str.strip() if "listener" in frame else None
        if listeners is not None:
            frame = frame[~listeners.isin(list(manual)).to_numpy()]
    if test == "acr":
        report = build_report(frame, rules=rules, alpha=alpha)
    elif test == "smos":
        report = smos_report(frame, rules=rules, alpha=alpha)
    else:
        report = _comparison_report(frame, test, rules, reference, system_order, alpha)
    if manual:
        report["manual_exclusions"] = [
            {"listener": name, "reason": reason} for name, reason in manual.items()
        ]
        report["excluded_listeners"] = [
            {
                "listener": name,
                "rules": ["manual"],
                "reasons": [f"manual: {reason or 'excluded by the researcher'}"],
            }
            for name, reason in manual.items()
        ] + list(report["excluded_listeners"])
    return report


def _manual(manual) -> dict[str, str]:
    if not manual:
        return {}
    if isinstance(manual, Mapping):
        return {str(k): str(v) for k, v in manual.items()}
    return {str(k): "" for k in manual}


def _comparison_report(frame, test, rules, reference, system_order, alpha) -> dict:
    parsed = ScreeningRules.from_dict(rules)
    checked = validate_comparison(frame, test)
    purposes = checked["purpose"].value_counts()
    checked = checked[checked["purpose"].to_numpy() != "training"]
    test_rows = checked[checked["purpose"].to_numpy() == "test"]
    if test_rows.empty:
        raise ValueError(
            f"The {test} table has no test answers (purpose 'test') to analyse yet; a report "
            "needs at least one."
        )
    columns = ("a", "b")
    systems = system_names(test_rows, columns, list(system_order) if system_order else None)
    screening = screen_comparison(checked, test, parsed)
    excluded = screening.index[screening["excluded"].to_numpy()]
    kept = test_rows[~test_rows["listener"].isin(list(excluded)).to_numpy()]

    report: dict[str, Any] = {
        "test": test,
        "schema": "harken.comparison_report/1",
        "ci_level": CI_LEVEL,
        "alpha": alpha,
        "n_rows": int(len(frame)),
        "rows_by_purpose": {str(k): int(v) for k, v in purposes.items()},
        "n_answers": int(len(test_rows)),
        "n_answers_after_exclusion": int(len(kept)),
        "n_listeners": int(len(screening)),
        "n_sentences": int(test_rows["sentence"].nunique()),
        "n_systems": len(systems),
        "system_order": systems,
    }
    warnings: list[str] = []
    if test == "ccr":
        mode, ref, how = choose_reference(test_rows, reference)
        report.update(mode=mode, reference=ref, reference_choice=how)
        for suffix, rows in (("", test_rows), ("_after_exclusion", kept)):
            entries, order = ccr_comparisons(rows, mode, ref, systems, alpha)
            report["systems" + suffix] = entries
            report["order_effect" + suffix] = order
        warnings += order_warnings(report["systems"])
        method = {**METHOD_CCR}
    elif test == "ab":
        if reference is not None and reference not in systems:
            raise ValueError(
                f"The reference {reference!r} is not a system of the answers; systems: "
                f"{', '.join(systems)}."
            )
        for suffix, rows in (("", test_rows), ("_after_exclusion", kept)):
            result = ab_analysis(rows, systems, alpha, reference=reference)
            for key, value in result.items():
                report[key + suffix] = value
        if report["bradley_terry"]["prior"]:
            warnings.append(f"Bradley-Terry ranking: {report['bradley_terry']['prior']}.")
        method = {"ab": METHOD_AB, "ranking": METHOD_BT}
    else:
        for suffix, rows in (("", test_rows), ("_after_exclusion", kept)):
            report["pairs" + suffix] = abx_analysis(rows, systems, alpha)["pairs"]
        method = {"abx": METHOD_ABX}

    warnings += screening_warnings(screening, parsed, rules, COMPARATIVE_SCREENING)
    if kept.empty:
        warnings.append("The screening excluded every listener: no result after exclusion.")
    report["excluded_listeners"] = excluded_listeners(screening)
    report["screening"] = screening_section(screening, parsed, rules, COMPARATIVE_SCREENING)
    report["listeners"] = [
        {
            "listener": name,
            "n": int(row.n_test),
            "n_gold": int(row.n_gold),
            "gold_failures": int(row.gold_failures),
            "n_repeats": int(row.n_repeats),
            "inconsistent_repeats": int(row.inconsistent_repeats),
            "identical_answers": bool(row.identical_answers),
            "median_response_seconds": num(row.median_response_seconds),
            "rules_fired": list(row.rules),
            "excluded": bool(row.excluded),
        }
        for name, row in zip(screening.index, screening.itertuples())
    ]
    report["method"] = {**METHOD_COMMON, **method}
    report["warnings"] = warnings
    return jsonable(report)
