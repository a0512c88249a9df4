"""SMOS (speaker-similarity MOS): rated like ACR MOS, on the similarity labels.

The answers (``listener,sentence,system,score`` 1-5, optional ``reference``: the sentence or id
the reference clip speaks) become an ACR ratings table and go through ``report.build_report``
unchanged: the same MOS, clustered intervals, pairwise tests and screening. The report says
whether the reference spoke the same text as the test clip, a different one, or both (mixed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .comparison_table import validate_comparison
from .report import build_report

SMOS_LABELS = {
    1: "Not at all similar",
    2: "Slightly similar",
    3: "Moderately similar",
    4: "Very similar",
    5: "Extremely similar",
}

METHOD_SMOS = (
    "Speaker similarity MOS: each answer rates how similar the voice of a test clip is to the "
    "voice of a reference recording of the target speaker, 1 (not at all similar) to 5 "
    "(extremely similar). Analysed exactly as ACR MOS (mean, t-interval and two-way clustered "
    "interval on the bounded scale, pairwise clustered t tests with Holm, screening). "
    "reference_text: same-text when every reference clip speaks the test clip's sentence, "
    "different-text when none does, mixed otherwise; a different-text design asks about the "
    "voice alone, a same-text one can be swayed by prosody and content."
)


def reference_text(frame: pd.DataFrame) -> str:
    test = frame[frame["purpose"].to_numpy() == "test"]
    same = test["reference"].eq(test["sentence"])
    if same.all():
        return "same-text"
    if not same.any():
        return "different-text"
    return "mixed"


def smos_report(
    frame: pd.DataFrame,
    *,
    rules: Mapping[str, Any] | None = None,
    labels: Mapping[int, str] | None = None,
    alpha: float = 0.05,
) -> dict:
    """The ACR report of the SMOS answers with ``test`` "smos", ``reference_text``,
    ``scale_labels`` and the SMOS method text."""
    checked = validate_comparison(frame, "smos")
    ratings = checked.rename(columns={"expected": "expected_score"}).assign(clip=checked["clip_a"])
    ratings = ratings.drop(columns=["clip_a", "clip_b"])
    report = build_report(ratings, rules=rules, alpha=alpha)
    labels = dict(labels or SMOS_LABELS)
    report = {"test": "smos", **report}
    report["reference_text"] = reference_text(checked)
    report["scale_labels"] = {str(k): v for k, v in sorted(labels.items())}
    report["method"]["mos"] = METHOD_SMOS
    return report
