"""The tables of the comparative tests (CCR, AB, ABX, SMOS): checking them and reading them from CSV.

One row per answer. The columns of each test (extra columns are kept):

======  ================================================================================
ccr     ``listener,sentence,a,b,score``: score -3..+3 (ITU-T P.800 Annex E CCR labels) rates
        the clip of system ``b`` relative to the clip of system ``a``, as presented (a first)
ab      ``listener,sentence,a,b,choice``: choice ``a``, ``b`` or ``tie`` (no preference)
abx     ``listener,sentence,a,b,x,choice``: ``x`` names the system X really was (``a``'s or
        ``b``'s); choice ``a`` or ``b`` is what the listener said X is
smos    ``listener,sentence,system,score``: score 1-5 (5 Extremely similar ... 1 Not at all
        similar), optional ``reference``: the sentence (or id) the reference clip speaks
======  ================================================================================

Optional for every test: ``purpose`` (test default, gold, repeat, training dropped),
``expected`` (gold rows: the expected score or choice; for AB/ABX also the name of the system
that should be chosen), ``response_seconds``, ``clip_a``, ``clip_b``. Errors name the CSV line
and the fix, as :mod:`.table` does for ACR.
"""

from __future__ import annotations

import io
from os import PathLike

import numpy as np
import pandas as pd

from .table import (
    _as_key,
    _as_numeric,
    parse_purpose,
    read_csv_text,
    read_ratings_csv,
    require_columns,
    required_numbers,
    where,
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "ccr": ("listener", "sentence", "a", "b", "score"),
    "ab": ("listener", "sentence", "a", "b", "choice"),
    "abx": ("listener", "sentence", "a", "b", "x", "choice"),
    "smos": ("listener", "sentence", "system", "score"),
}
COMPARISON_TESTS = tuple(COLUMNS)
CCR_SCORES = (-3, -2, -1, 0, 1, 2, 3)
CHOICES = {"ab": ("a", "b", "tie"), "abx": ("a", "b")}


def _whole_in(frame: pd.DataFrame, column: str, low: int, high: int, hint: str) -> np.ndarray:
    values = required_numbers(frame, column, hint)
    bad = (values != np.round(values)) | (values < low) | (values > high)
    if bad.any():
        raise ValueError(
            f"Column {column!r} is not a whole number from {low} to {high} at "
            f"{where(frame, bad)} (first: {str(frame[column][bad].iloc[0])!r}); {hint}"
        )
    return values.astype(np.int64)


def _choice(frame: pd.DataFrame, column: str, allowed: tuple[str, ...]) -> pd.Series:
    text = frame[column].astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(allowed).to_numpy()
    if bad.any():
        raise ValueError(
            f"Column {column!r} must be one of {', '.join(allowed)} at {where(frame, bad)} "
            f"(first: {str(frame[column][bad].iloc[0])!r})."
        )
    return text.astype(str)


def _expected_choice(frame: pd.DataFrame, allowed: tuple[str, ...]) -> None:
    """Gold rows of AB/ABX: ``expected`` is a/b/tie or the name of the system that should win."""
    gold = frame["purpose"].eq("gold").to_numpy()
    raw = frame["expected"] if "expected" in frame.columns else pd.Series("", index=frame.index)
    text = raw.astype("string").str.strip().fillna("")
    lowered = text.str.lower()
    by_name = np.where(
        text.eq(frame["a"]).to_numpy(), "a", np.where(text.eq(frame["b"]).to_numpy(), "b", "")
    )
    choice = np.where(lowered.isin(allowed).to_numpy(), lowered.to_numpy(dtype=str), by_name)
    if "x" in frame.columns:  # ABX: the right answer is known from x whenever expected is blank
        truth = np.where(frame["x"].eq(frame["a"]).to_numpy(), "a", "b")
        choice = np.where(lowered.eq("").to_numpy(), truth, choice)
    bad = gold & (choice == "")
    if bad.any():
        raise ValueError(
            f"Gold rows need an expected answer ({', '.join(allowed)}, or the name of the "
            f"system that should be chosen); none usable at {where(frame, bad)}."
        )
    frame["expected"] = np.where(gold, choice, "")


def validate_comparison(frame: pd.DataFrame, test: str) -> pd.DataFrame:
    """Check a comparative test's table and return a normalised copy.

    Keys become text, ``score`` int64 (ccr -3..3, smos 1..5), ``choice`` lower-case text,
    ``purpose`` defaults to "test", ``expected`` is a number (ccr, smos) or a choice (ab, abx)
    on gold rows, ``response_seconds`` a float (NaN blank), ``clip_a``/``clip_b`` text
    (default: system and sentence). For smos, ``reference`` defaults to the sentence. Raises
    ``ValueError`` naming the column, the rows (CSV lines) and the fix."""
    if test not in COLUMNS:
        raise ValueError(f"Unknown test {test!r}; use one of {', '.join(COLUMNS)}.")
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"Expected a pandas DataFrame, got {type(frame).__name__}.")
    required = COLUMNS[test]
    require_columns(frame, required, f"The {test} table")
    out = frame.copy()
    keys = [c for c in required if c not in ("score", "choice")]
    for column in keys:
        out[column] = _as_key(out, column)
    parse_purpose(out)
    test_rows = out["purpose"].eq("test").to_numpy()
    if test == "ccr":
        out["score"] = _whole_in(
            out, "score", -3, 3, "CCR scores run from -3 (much worse) to +3 (much better)."
        )
    elif test == "smos":
        out["score"] = _whole_in(
            out,
            "score",
            1,
            5,
            "SMOS scores run from 1 (not at all similar) to 5 (extremely similar).",
        )
        if "reference" in out.columns:
            ref = out["reference"].astype("string").str.strip().fillna("")
            out["reference"] = ref.mask(ref.eq(""), out["sentence"]).astype(str)
        else:
            out["reference"] = out["sentence"]
    else:
        out["choice"] = _choice(out, "choice", CHOICES[test])
    if test in ("ccr", "ab", "abx"):
        same = test_rows & out["a"].eq(out["b"]).to_numpy()
        if same.any():
            raise ValueError(
                f"Systems a and b are the same at {where(out, same)}: a test answer compares two "
                "systems. An identical pair used as an attention check is purpose=gold (CCR: "
                "expected 0)."
            )
    if test == "abx":
        bad = ~(out["x"].eq(out["a"]) | out["x"].eq(out["b"])).to_numpy()
        if bad.any():
            raise ValueError(
                f"Column 'x' must name system a or system b of its row; it does not at "
                f"{where(out, bad)}."
            )
    gold = out["purpose"].eq("gold").to_numpy()
    if test in ("ccr", "smos"):
        expected = (
            _as_numeric(out, "expected") if "expected" in out.columns else np.full(len(out), np.nan)
        )
        low, high = (-3, 3) if test == "ccr" else (1, 5)
        bad = gold & ~((expected >= low) & (expected <= high))
        if bad.any():
            raise ValueError(
                f"Gold rows need an expected score from {low} to {high}; missing or out of range "
                f"at {where(out, bad)}. Add the expected answer or mark them purpose=test."
            )
        out["expected"] = expected
    else:
        _expected_choice(out, CHOICES[test])
    out["response_seconds"] = (
        _as_numeric(out, "response_seconds") if "response_seconds" in out.columns else np.nan
    )
    first = "a" if test != "smos" else "system"
    second = "b" if test != "smos" else "reference"
    for column, system in (("clip_a", first), ("clip_b", second)):
        if column in out.columns:
            text = out[column].astype("string").str.strip().fillna("")
            out[column] = text.mask(text.eq(""), out[system] + "\x1f" + out["sentence"]).astype(str)
        else:
            out[column] = out[system] + "\x1f" + out["sentence"]
    return out


def read_comparison_csv(source: str | PathLike | bytes | io.IOBase, test: str) -> pd.DataFrame:
    """Read the CSV of a comparative test (columns per :data:`COLUMNS`) and validate it.

    ``source`` is a path, bytes or a binary file object; the index is the CSV line number so
    errors name lines. ``test`` "acr" reads the ACR ratings CSV (``table.read_ratings_csv``)."""
    if test == "acr":
        return read_ratings_csv(source)
    if test not in COLUMNS:
        raise ValueError(f"Unknown test {test!r}; use acr or one of {', '.join(COLUMNS)}.")
    frame = read_csv_text(source, what=f"{test} answers")
    if frame.empty and all(c in frame.columns for c in COLUMNS[test]):
        raise ValueError(f"The {test} CSV has a header but no answers.")
    return validate_comparison(frame, test)
