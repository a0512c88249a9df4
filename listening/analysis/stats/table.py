"""The ratings table: checking it, reading it from CSV, and coding it for fast group sums.

Every statistic of this package starts from :func:`validate_ratings` (one row per rating, see
the package docstring for the columns) and, for the test rows, :func:`code_test_rows`, which
turns the keys into integer codes so that every group statistic is a bincount.
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("listener", "sentence", "system", "score")
PURPOSES = ("test", "gold", "repeat", "training")
SCORES = (1, 2, 3, 4, 5)


def where(frame: pd.DataFrame, bad: np.ndarray, limit: int = 8) -> str:
    """Name the offending rows the way the user sees them: CSV line numbers when the frame was
    read by :func:`read_ratings_csv` (its index is named "line"), row labels otherwise."""
    labels = frame.index[np.asarray(bad, dtype=bool)]
    what = frame.index.name or "row"
    shown = ", ".join(str(label) for label in labels[:limit])
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    plural = "s" if len(labels) > 1 else ""
    return f"{what}{plural} {shown}{more}"


def _as_numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with NaN for blanks; non-numbers are an error naming the rows."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna().to_numpy()
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        blank = blank | raw.astype("string").str.strip().fillna("").eq("").to_numpy()
    bad = values.isna().to_numpy() & ~blank
    if bad.any():
        raise ValueError(
            f"Column {column!r} is not a number at {where(frame, bad)} (first: "
            f"{str(raw[bad].iloc[0])!r}); fix or blank those cells."
        )
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def required_numbers(frame: pd.DataFrame, column: str, hint: str = "") -> np.ndarray:
    """A column that must hold a number in every row, as float64; a blank is an error naming
    the rows (and ending with ``hint``, the fix, when given)."""
    values = _as_numeric(frame, column)
    blank = np.isnan(values)
    if blank.any():
        end = f"; {hint}" if hint else "."
        raise ValueError(f"Column {column!r} is empty at {where(frame, blank)}{end}")
    return values


def _as_key(frame: pd.DataFrame, column: str) -> pd.Series:
    raw = frame[column]
    missing = raw.isna().to_numpy()
    text = raw.astype("string").str.strip()
    missing = missing | text.fillna("").eq("").to_numpy()
    if missing.any():
        raise ValueError(
            f"Column {column!r} is empty at {where(frame, missing)}; every rating needs a {column}."
        )
    return text.astype(str)


_TRUTHY = {"1", "true", "t", "yes", "y"}


_FALSY = {"0", "false", "f", "no", "n", ""}


def _as_bool(frame: pd.DataFrame, column: str) -> np.ndarray:
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        return raw.fillna(False).to_numpy(dtype=bool)
    text = raw.astype("string").str.strip().str.lower().fillna("")
    bad = ~(text.isin(_TRUTHY) | text.isin(_FALSY)).to_numpy()
    if bad.any():
        raise ValueError(
            f"Column {column!r} must be true/false (or 1/0); it is not at {where(frame, bad)}."
        )
    return text.isin(_TRUTHY).to_numpy()


def require_columns(
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    table: str,
    *,
    needs: str | None = None,
    rows: str | None = None,
) -> None:
    """Refuse a table that lacks one of ``columns`` or, when ``rows`` names what its rows are,
    has none. ``table`` starts the message ("The MUSHRA table"); ``needs`` says what it needs
    when that is more than the columns joined by commas."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{table} lacks column(s) {', '.join(missing)}; it needs "
            f"{needs or ', '.join(columns)} "
            f"(found: {', '.join(map(str, frame.columns)) or 'none'})."
        )
    if rows is not None and frame.empty:
        raise ValueError(f"{table} has no {rows}.")


def parse_purpose(frame: pd.DataFrame) -> None:
    """``purpose`` in place: lower case, blank or absent is "test"; others are an error."""
    if "purpose" not in frame.columns:
        frame["purpose"] = "test"
        return
    purpose = frame["purpose"].astype("string").str.strip().str.lower().fillna("")
    purpose = purpose.mask(purpose.eq(""), "test")
    bad = ~purpose.isin(PURPOSES).to_numpy()
    if bad.any():
        raise ValueError(
            f"Unknown purpose at {where(frame, bad)} (first: "
            f"{str(frame['purpose'][bad].iloc[0])!r}); use one of {', '.join(PURPOSES)}."
        )
    frame["purpose"] = purpose.astype(str)


def validate_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Check a ratings table and return a normalised copy.

    Keys (listener, sentence, system, clip) become text; score becomes int64 1–5; purpose
    defaults to "test"; optional columns are parsed. Raises ``ValueError`` naming the column
    and the rows (CSV lines) when something is missing or out of range. Extra columns are kept.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise ValueError(f"Expected a pandas DataFrame of ratings, got {type(ratings).__name__}.")
    require_columns(ratings, REQUIRED_COLUMNS, "The ratings table")
    frame = ratings.copy()
    for column in ("listener", "sentence", "system"):
        frame[column] = _as_key(frame, column)

    score = required_numbers(frame, "score")
    bad = (score != np.round(score)) | (score < 1) | (score > 5)
    if bad.any():
        raise ValueError(
            f"Score not a whole number from 1 to 5 at {where(frame, bad)} (first: "
            f"{str(ratings['score'][bad].iloc[0])!r}); scores use the ITU-T P.800 ACR scale, "
            "1 Bad … 5 Excellent."
        )
    frame["score"] = score.astype(np.int64)

    parse_purpose(frame)

    if "clip" in frame.columns:
        frame["clip"] = _as_key(frame, "clip")
    else:
        # Without clip ids a clip is what the site makes of it: one per system and sentence.
        frame["clip"] = frame["system"] + "\x1f" + frame["sentence"]

    for column in ("expected_score", "response_seconds"):
        frame[column] = _as_numeric(frame, column) if column in frame.columns else np.nan

    gold = frame["purpose"].eq("gold").to_numpy()
    expected = frame["expected_score"].to_numpy()
    bad = gold & np.isnan(expected)
    if bad.any():
        raise ValueError(
            f"Gold rows need an expected_score; none at {where(frame, bad)}. Add the "
            "expected answer or mark them purpose=test."
        )
    bad = gold & ((expected < 1) | (expected > 5))
    if bad.any():
        raise ValueError(f"expected_score must lie in 1–5; it does not at {where(frame, bad)}.")

    if "system_kind" in frame.columns:
        frame["system_kind"] = frame["system_kind"].astype("string").str.strip().str.lower()
        frame["system_kind"] = frame["system_kind"].fillna("").astype(str)
    else:
        frame["system_kind"] = ""
    if "is_low_anchor" in frame.columns:
        frame["is_low_anchor"] = _as_bool(frame, "is_low_anchor")
    else:
        # Without the flag every anchor counts as a low anchor (P.810 MNRU anchors at low Q).
        frame["is_low_anchor"] = frame["system_kind"].eq("anchor")
    return frame


def read_csv_text(
    source: str | PathLike | bytes | io.IOBase, what: str = "ratings"
) -> pd.DataFrame:
    """Read a CSV as text cells (``dtype=str``), columns stripped, index the CSV line number.

    ``source`` is a path, the file's bytes or a binary file object; ``what`` names the file in
    the messages ("The ratings CSV is not UTF-8 ..."). Raises ``ValueError`` for text that is
    not UTF-8, an empty file or malformed CSV. No column is checked here."""
    if isinstance(source, bytes):
        raw = source
    elif hasattr(source, "read"):
        raw = source.read()
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    else:
        with open(source, "rb") as handle:
            raw = handle.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise ValueError(
            f"The {what} CSV is not UTF-8 text: byte 0x{raw[error.start]:02x} at line {line}, "
            f"column {column}. Save the file as UTF-8 (e.g. 'Save as CSV UTF-8')."
        ) from None
    if not text.strip():
        raise ValueError(f"The {what} CSV is empty; it needs a header line and {what}.")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as error:
        raise ValueError(f"The {what} CSV is malformed: {error}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    return frame


def read_ratings_csv(source: str | PathLike | bytes | io.IOBase) -> pd.DataFrame:
    """Read a ratings CSV (``listener,sentence,system,score`` plus any extra columns).

    ``source`` is a path, the file's bytes or a binary file object. Every cell is read as text
    first so that keys like ``007`` stay keys. The returned frame's index is the CSV line number
    (header = line 1), so validation errors name lines. Raises ``ValueError`` for text that is
    not UTF-8, malformed CSV, missing columns or bad scores.
    """
    frame = read_csv_text(source)
    if frame.empty and all(c in frame.columns for c in REQUIRED_COLUMNS):
        raise ValueError("The ratings CSV has a header but no ratings.")
    return validate_ratings(frame)


@dataclass
class Coded:
    listener: np.ndarray  # int64 codes into listener_names
    sentence: np.ndarray
    system: np.ndarray
    score: np.ndarray  # float64
    listener_names: list[str]
    sentence_names: list[str]
    system_names: list[str]
    system_kinds: list[str]

    @property
    def n_listeners(self) -> int:
        return len(self.listener_names)

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_names)

    @property
    def n_systems(self) -> int:
        return len(self.system_names)

    def subset(self, keep: np.ndarray) -> Coded:
        return dataclasses.replace(
            self,
            listener=self.listener[keep],
            sentence=self.sentence[keep],
            system=self.system[keep],
            score=self.score[keep],
        )


def code_test_rows(frame: pd.DataFrame, listener_names: list[str] | None = None) -> Coded:
    test = frame[frame["purpose"].to_numpy() == "test"]
    system_codes, systems = pd.factorize(test["system"], sort=False)
    sentence_codes, sentences = pd.factorize(test["sentence"], sort=False)
    if listener_names is None:
        listener_codes, listeners = pd.factorize(test["listener"], sort=False)
        listener_names = [str(x) for x in listeners]
    else:
        listener_codes = pd.Index(listener_names).get_indexer(test["listener"])
    kinds = test.groupby("system", sort=False)["system_kind"].first()
    return Coded(
        listener=np.asarray(listener_codes, dtype=np.int64),
        sentence=np.asarray(sentence_codes, dtype=np.int64),
        system=np.asarray(system_codes, dtype=np.int64),
        score=test["score"].to_numpy(dtype=np.float64),
        listener_names=listener_names,
        sentence_names=[str(x) for x in sentences],
        system_names=[str(x) for x in systems],
        system_kinds=[str(kinds.get(s, "")) for s in systems],
    )


def group_mean(codes: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(codes, minlength=size)
    total = np.bincount(codes, weights=values, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, count


def num(x: Any) -> float | None:
    """A JSON-safe float: NaN and infinities become None, and -0.0 becomes 0.0 (a spread or
    a difference of exactly zero must not print as "-0.00")."""
    if x is None:
        return None
    x = float(x) + 0.0
    return x if math.isfinite(x) else None


def pair(lo: float, hi: float) -> list[float | None]:
    return [num(lo), num(hi)]


def jsonable(value: Any) -> Any:
    """Plain Python types only, NaN/inf as None: json.dumps(..., allow_nan=False) must work."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return num(value)
    return value
