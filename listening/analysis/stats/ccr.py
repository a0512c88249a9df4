"""CCR / CMOS (ITU-T P.800 Annex E): sign correction, CMOS per system against its reference (or
per pair of systems), the order effect, and Holm across the comparisons.

Input: the test rows of a table checked by ``comparison_table.validate_comparison(frame, "ccr")``
(``a`` presented first, ``score`` -3..+3 rates ``b`` relative to ``a``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .means import clustered_means
from .pairwise import holm_adjust
from .table import num, where

MODE_REFERENCE = "reference"
MODE_PAIRS = "system_vs_system"


def system_names(frame: pd.DataFrame, columns: tuple[str, ...], order=None) -> list[str]:
    """The systems of the table: ``order`` first (each must occur), then any others in order
    of first appearance (row by row, column by column)."""
    seen = list(dict.fromkeys(frame[list(columns)].to_numpy().ravel().tolist()))
    if not order:
        return seen
    order = [str(s) for s in order]
    unknown = [s for s in order if s not in seen]
    if unknown:
        raise ValueError(
            f"system_order names system(s) not in the answers: {', '.join(unknown)} "
            f"(systems: {', '.join(seen)})."
        )
    return order + [s for s in seen if s not in order]


def choose_reference(frame: pd.DataFrame, reference: str | None) -> tuple[str, str | None, str]:
    """(mode, reference system or None, how it was chosen) for the CCR test rows ``frame``.

    A given ``reference`` must be a system of every test row (ValueError naming the rows
    otherwise). Without one, the reference is the one system in every row; with none (or two,
    as in a study of two systems) every pair of systems gets its own CMOS."""
    systems = system_names(frame, ("a", "b"))
    if reference is not None:
        reference = str(reference).strip()
        if reference not in systems:
            raise ValueError(
                f"The reference {reference!r} is not a system of the answers; systems: "
                f"{', '.join(systems)}. Give one of them, or no reference to compare every pair."
            )
        lacking = ~(frame["a"].eq(reference) | frame["b"].eq(reference)).to_numpy()
        if lacking.any():
            raise ValueError(
                f"The reference {reference!r} is not in every pair: not at "
                f"{where(frame, lacking)}. Drop --reference to compare every pair of systems "
                "(system-vs-system mode), or remove those rows."
            )
        return MODE_REFERENCE, reference, "given"
    everywhere = [s for s in systems if (frame["a"].eq(s) | frame["b"].eq(s)).all()]
    if len(everywhere) == 1:
        return MODE_REFERENCE, everywhere[0], "inferred: the one system in every pair"
    if len(everywhere) == 2:
        return (
            MODE_PAIRS,
            None,
            (
                "two systems, both in every pair: reported as system vs system (give --reference "
                "NAME to take one as the reference)"
            ),
        )
    return MODE_PAIRS, None, "no system is in every pair: every pair of systems gets a CMOS"


def ccr_comparisons(
    frame: pd.DataFrame, mode: str, reference: str | None, systems: list[str], alpha: float
) -> tuple[list[dict], dict]:
    """(per-comparison CMOS entries, order effect) for the CCR test rows ``frame``."""
    index = {s: i for i, s in enumerate(systems)}
    ia = frame["a"].map(index).to_numpy(dtype=np.int64)
    ib = frame["b"].map(index).to_numpy(dtype=np.int64)
    score = frame["score"].to_numpy(dtype=np.float64)
    listener = pd.factorize(frame["listener"])[0]
    sentence = pd.factorize(frame["sentence"])[0]
    if mode == MODE_REFERENCE:
        ref = index[reference]
        other = np.where(ia == ref, ib, ia)
        keys = [(ref, s) for s in range(len(systems)) if s != ref and (other == s).any()]
        key_of = {k: g for g, k in enumerate(keys)}
        group = np.array([key_of[(ref, o)] for o in other], dtype=np.int64)
        # Sign correction: the score rates b against a; from the system's point of view
        # against the reference it is the score when the reference came first, else minus it.
        system_first = ia != ref
    else:
        low, high = np.minimum(ia, ib), np.maximum(ia, ib)
        keys = sorted(set(zip(low.tolist(), high.tolist())))
        key_of = {k: g for g, k in enumerate(keys)}
        group = np.array([key_of[k] for k in zip(low.tolist(), high.tolist())], dtype=np.int64)
        # "reference" of a pair is its earlier system; "system" the later one.
        system_first = ia == high
    corrected = np.where(system_first, -score, score)
    stats = clustered_means(
        listener, sentence, group, corrected, len(keys), null=0.0, one_way_floor=True
    )
    first_counts = np.bincount(group, weights=system_first, minlength=len(keys))
    entries = []
    for (r, s), st, first in zip(keys, stats, first_counts):
        entries.append(
            {
                "system": systems[s],
                "reference": systems[r],
                "n": st["n"],
                "n_listeners": st["n_listeners"],
                "n_sentences": st["n_sentences"],
                "cmos": st["mean"],
                "ci95_clustered": st["ci95_clustered"],
                "p_value": st["p_value"],
                "se_clustered": st["se_clustered"],
                "df_clustered": st["df_clustered"],
                "statistic": st["statistic"],
                "ci95": st["ci95"],
                "n_system_first": int(first),
                "n_reference_first": int(st["n"] - first),
                "clustered_fallback": st["clustered_fallback"],
                "note": st["note"],
            }
        )
    _holm(entries, alpha, "cmos")
    order = clustered_means(
        listener,
        sentence,
        np.zeros(len(score), dtype=np.int64),
        score,
        1,
        null=0.0,
        one_way_floor=True,
    )[0]
    order_effect = {
        "mean_score_as_presented": order["mean"],
        "n": order["n"],
        "ci95_clustered": order["ci95_clustered"],
        "se_clustered": order["se_clustered"],
        "df_clustered": order["df_clustered"],
        "p_value": order["p_value"],
        "note": order["note"],
        "reading": (
            "mean raw score of B against A as presented; with the order counterbalanced the "
            "systems' differences cancel, so a value above 0 means the second clip is rated "
            "better for being second"
        ),
    }
    return entries, order_effect


def _holm(entries: list[dict], alpha: float, effect: str) -> None:
    testable = [i for i, e in enumerate(entries) if e["p_value"] is not None]
    adjusted = holm_adjust([entries[i]["p_value"] for i in testable])
    for e in entries:
        e.update(p_holm=None, significant=False)
    for i, p in zip(testable, adjusted):
        entries[i].update(p_holm=num(p), significant=bool(p < alpha and entries[i][effect]))


def order_warnings(entries: list[dict]) -> list[str]:
    """Comparisons whose presentation order is far from counterbalanced (outside 40-60 %):
    there the order effect does not cancel and the CMOS carries part of it."""
    out = []
    for e in entries:
        if e["n"] >= 10:
            share = e["n_system_first"] / e["n"]
            if not 0.4 <= share <= 0.6:
                out.append(
                    f"CCR {e['system']} vs {e['reference']}: {share:.0%} of the answers played "
                    f"{e['system']} first; the order is not counterbalanced, so the order effect "
                    "does not cancel in this CMOS."
                )
    return out


METHOD_CCR = {
    "ccr": (
        "Comparison category rating (ITU-T P.800 Annex E): two clips, A then B; the listener "
        "rates B relative to A from -3 (much worse) to +3 (much better). Sign correction: an "
        "answer is turned into the score of the system against its reference (the score when "
        "the reference played first, minus the score when the system played first). CMOS = "
        "the mean of the corrected scores of a comparison. With a reference system (given, or "
        "the one system in every pair) each other system gets a CMOS against it; otherwise "
        "every pair that occurs gets one (system = the later system of the pair in the "
        "system order, reference = the earlier)."
    ),
    "ci95_clustered": (
        "Two-way cluster-robust interval (listeners x sentences) of each CMOS: the CR2 "
        "variance of Bell & McCaffrey (2002) per dimension combined as Cameron, Gelbach & "
        "Miller (2011), df the smaller Bell-McCaffrey df, exactly as the MOS intervals of the "
        "ACR report; t test of CMOS = 0 with the same variance and df; Holm (1979) across the "
        "comparisons (p_holm, significant). The variance is never taken below the larger "
        "one-way (listener or sentence) term, with that term's df: the counterbalanced order "
        "makes a listener's order bias cancel within the listener, and the plain two-way "
        "estimate then under-covered in simulation (docs/statistics.md). ci95 is the naive "
        "t-interval over answers. When every answer of a comparison is the same, p is a sign "
        "test over listeners."
    ),
    "order_effect": (
        "Order effect: the mean raw score as presented (B rated against A) over all test "
        "answers, with its clustered interval and t test against 0. Counterbalancing (each "
        "system first in half the answers) makes the systems' differences cancel, so what "
        "remains is the preference for the second (or first) clip. A comparison whose order "
        "is not balanced is named in the warnings."
    ),
}
