"""MOS statistics: a table of ratings in, numbers out.

Where this sits: the site (``listening.selectors.study_ratings_frame``), the ``mos_report``
command and offline analysis of a ratings CSV all build one pandas DataFrame and call
:func:`build_report`; ``listening.reports`` turns the result into JSON, CSV or HTML. Nothing here
imports Django, touches a database or draws random numbers, so the same table always gives the
same report.

Input, one row per rating:

=================  =========================================================================
listener           who rated (any identifier; treated as text)
sentence           which sentence the clip speaks (text)
system             which system made the clip (text)
score              integer 1–5, the ACR scale of ITU-T P.800 (1 Bad … 5 Excellent)
clip               optional; the rated clip. Without it a clip is (system, sentence).
purpose            optional; "test" (default), "gold", "repeat" or "training" (dropped)
expected_score     gold rows: the answer an attentive listener gives
response_seconds   optional; time from the end of the first full play to the answer
system_kind        optional; "voice", "uploaded", "reference" or "anchor"
is_low_anchor      optional; anchors that should sound bad (used by the anchor rule)
=================  =========================================================================

What it computes (the ``method`` entry of the report explains each point for a reviewer):

* per system: n, MOS, SD, median, histogram, the classic 95 % Student-t interval over ratings
  (ITU-T P.800 / P.808 practice) and a 95 % interval that respects that ratings are clustered
  by listener *and* by sentence: the two-way cluster-robust variance of Cameron, Gelbach &
  Miller (2011), "Robust inference with multiway clustering", J. Business & Economic
  Statistics 29(2), with per-dimension G/(G-1) corrections and t(min(G) - 1) quantiles;
* pairwise comparisons: Wilcoxon signed-rank on per-sentence means when two systems were
  rated on (mostly) the same sentences, Mann–Whitney U on ratings otherwise, Holm (1979)
  correction across all pairs, the mean difference with a clustered interval, rank-biserial
  correlation and Cliff's delta;
* listener screening in the style of ITU-T P.808 (gold questions, repeated clips, straight-
  lining, reference/anchor plausibility, answer speed, agreement with the crowd), reported per
  listener and applied switchably: every result is given with and without the exclusions;
* per-sentence and per-listener tables and the number of further ratings needed for a target
  interval half-width.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

REQUIRED_COLUMNS = ("listener", "sentence", "system", "score")
PURPOSES = ("test", "gold", "repeat", "training")
CI_LEVEL = 0.95
SCORES = (1, 2, 3, 4, 5)

# Pairwise tests pair on sentences only when enough sentences are shared: with fewer than 6
# non-zero pairs an exact two-sided Wilcoxon test cannot reach p < 0.05 at all, and pairing on a
# small part of each system's sentences would throw most of the ratings away.
MIN_PAIRED_SENTENCES = 6
MIN_PAIRED_SHARE = 0.5

_T_LABEL = "t-interval over ratings (ignores clustering)"
_CLUSTERED_LABEL = "two-way cluster-robust interval (listeners x sentences)"


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


def _where(frame: pd.DataFrame, bad: np.ndarray, limit: int = 8) -> str:
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
            f"Column {column!r} is not a number at {_where(frame, bad)} (first: "
            f"{str(raw[bad].iloc[0])!r}); fix or blank those cells."
        )
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_key(frame: pd.DataFrame, column: str) -> pd.Series:
    raw = frame[column]
    missing = raw.isna().to_numpy()
    text = raw.astype("string").str.strip()
    missing = missing | text.fillna("").eq("").to_numpy()
    if missing.any():
        raise ValueError(
            f"Column {column!r} is empty at {_where(frame, missing)}; every rating needs a "
            f"{column}."
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
            f"Column {column!r} must be true/false (or 1/0); it is not at {_where(frame, bad)}."
        )
    return text.isin(_TRUTHY).to_numpy()


def validate_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Check a ratings table and return a normalised copy.

    Keys (listener, sentence, system, clip) become text; score becomes int64 1–5; purpose
    defaults to "test"; optional columns are parsed. Raises ``ValueError`` naming the column
    and the rows (CSV lines) when something is missing or out of range. Extra columns are kept.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise ValueError(f"Expected a pandas DataFrame of ratings, got {type(ratings).__name__}.")
    missing = [c for c in REQUIRED_COLUMNS if c not in ratings.columns]
    if missing:
        raise ValueError(
            f"The ratings table lacks column(s) {', '.join(missing)}; it needs "
            f"{', '.join(REQUIRED_COLUMNS)} (found: {', '.join(map(str, ratings.columns)) or 'none'})."
        )
    frame = ratings.copy()
    for column in ("listener", "sentence", "system"):
        frame[column] = _as_key(frame, column)

    score = _as_numeric(frame, "score")
    blank = np.isnan(score)
    if blank.any():
        raise ValueError(f"Column 'score' is empty at {_where(frame, blank)}.")
    bad = (score != np.round(score)) | (score < 1) | (score > 5)
    if bad.any():
        raise ValueError(
            f"Score not a whole number from 1 to 5 at {_where(frame, bad)} (first: "
            f"{str(ratings['score'][bad].iloc[0])!r}); scores use the ITU-T P.800 ACR scale, "
            "1 Bad … 5 Excellent."
        )
    frame["score"] = score.astype(np.int64)

    if "purpose" in frame.columns:
        purpose = frame["purpose"].astype("string").str.strip().str.lower().fillna("")
        purpose = purpose.mask(purpose.eq(""), "test")
        bad = ~purpose.isin(PURPOSES).to_numpy()
        if bad.any():
            raise ValueError(
                f"Unknown purpose at {_where(frame, bad)} (first: "
                f"{str(frame['purpose'][bad].iloc[0])!r}); use one of {', '.join(PURPOSES)}."
            )
        frame["purpose"] = purpose.astype(str)
    else:
        frame["purpose"] = "test"

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
            f"Gold rows need an expected_score; none at {_where(frame, bad)}. Add the "
            "expected answer or mark them purpose=test."
        )
    bad = gold & ((expected < 1) | (expected > 5))
    if bad.any():
        raise ValueError(f"expected_score must lie in 1–5; it does not at {_where(frame, bad)}.")

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


def read_ratings_csv(source: str | PathLike | bytes | io.IOBase) -> pd.DataFrame:
    """Read a ratings CSV (``listener,sentence,system,score`` plus any extra columns).

    ``source`` is a path, the file's bytes or a binary file object. Every cell is read as text
    first so that keys like ``007`` stay keys. The returned frame's index is the CSV line number
    (header = line 1), so validation errors name lines. Raises ``ValueError`` for text that is
    not UTF-8, malformed CSV, missing columns or bad scores.
    """
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
            f"The ratings CSV is not UTF-8 text: byte 0x{raw[error.start]:02x} at line {line}, "
            f"column {column}. Save the file as UTF-8 (e.g. 'Save as CSV UTF-8')."
        ) from None
    if not text.strip():
        raise ValueError("The ratings CSV is empty; it needs a header line and ratings.")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as error:
        raise ValueError(f"The ratings CSV is malformed: {error}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    if frame.empty and all(c in frame.columns for c in REQUIRED_COLUMNS):
        raise ValueError("The ratings CSV has a header but no ratings.")
    return validate_ratings(frame)


# --------------------------------------------------------------------------------------------
# Coded table: integer codes make every group statistic a bincount (O(n), no sorting).
# --------------------------------------------------------------------------------------------


@dataclass
class _Coded:
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

    def subset(self, keep: np.ndarray) -> _Coded:
        return dataclasses.replace(
            self,
            listener=self.listener[keep],
            sentence=self.sentence[keep],
            system=self.system[keep],
            score=self.score[keep],
        )


def _code_test_rows(frame: pd.DataFrame, listener_names: list[str] | None = None) -> _Coded:
    test = frame[frame["purpose"].to_numpy() == "test"]
    system_codes, systems = pd.factorize(test["system"], sort=False)
    sentence_codes, sentences = pd.factorize(test["sentence"], sort=False)
    if listener_names is None:
        listener_codes, listeners = pd.factorize(test["listener"], sort=False)
        listener_names = [str(x) for x in listeners]
    else:
        listener_codes = pd.Index(listener_names).get_indexer(test["listener"])
    kinds = test.groupby("system", sort=False)["system_kind"].first()
    return _Coded(
        listener=np.asarray(listener_codes, dtype=np.int64),
        sentence=np.asarray(sentence_codes, dtype=np.int64),
        system=np.asarray(system_codes, dtype=np.int64),
        score=test["score"].to_numpy(dtype=np.float64),
        listener_names=listener_names,
        sentence_names=[str(x) for x in sentences],
        system_names=[str(x) for x in systems],
        system_kinds=[str(kinds.get(s, "")) for s in systems],
    )


# --------------------------------------------------------------------------------------------
# Interval arithmetic
# --------------------------------------------------------------------------------------------


def _twoway_variance(
    v_l: np.ndarray,
    g_l: np.ndarray,
    v_s: np.ndarray,
    g_s: np.ndarray,
    v_c: np.ndarray,
    g_c: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cameron–Gelbach–Miller two-way cluster-robust variance of a mean (or a difference).

    Inputs are per estimate: ``v_*`` = sum over clusters of the squared cluster sums of the
    influence values (residual / n), for clusters by listener, by sentence and by their
    intersection (listener x sentence cell); ``g_*`` = number of such clusters. Each term gets
    the usual G/(G-1) small-sample factor; V = V_listener + V_sentence - V_cell (the cell term
    is counted in both one-way terms). When V comes out non-positive (possible in small
    samples) we fall back to max(V_listener, V_sentence), as CGM (2011, sec. 2.3) suggest.

    Degrees of freedom: min(G_listener, G_sentence) - 1, CGM's (2011) recommendation for the t
    critical value. A Satterthwaite df from the two one-way terms looked attractive but the
    terms are not independent in incomplete designs (each sentence is heard by a subset of
    listeners, so the sentence term also carries listener variance); in simulation it gave
    93-94 % coverage where min(G)-1 gives 94-95.5 % (tests/listening/test_stats_simulation.py).

    Returns (variance, df, fell_back), arrays; NaN where fewer than two listeners or sentences.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        a_l = np.where(g_l > 1, v_l * g_l / (g_l - 1), np.nan)
        a_s = np.where(g_s > 1, v_s * g_s / (g_s - 1), np.nan)
        a_c = np.where(g_c > 1, v_c * g_c / (g_c - 1), 0.0)
        var = a_l + a_s - a_c
        # All ratings equal (both one-way terms 0) is a genuine zero, not a fallback.
        fell_back = ~(var > 0) & (np.maximum(a_l, a_s) > 0)
        var = np.where(fell_back, np.maximum(a_l, a_s), np.maximum(var, 0.0))
        df = np.where((g_l > 1) & (g_s > 1), np.minimum(g_l, g_s) - 1.0, np.nan)
    return var, df, fell_back


def _t_quantile(df: np.ndarray | float) -> np.ndarray:
    return sps.t.ppf(0.5 + CI_LEVEL / 2, df)


# --------------------------------------------------------------------------------------------
# Per-system summaries
# --------------------------------------------------------------------------------------------


@dataclass
class _SystemParts:
    """Per-system sufficient statistics shared by the summaries and the pairwise tests."""

    n: np.ndarray  # (K,)
    mean: np.ndarray  # (K,)
    hist: np.ndarray  # (K, 5) counts of scores 1..5
    resid_l: np.ndarray  # (K, L) sum of residuals per listener
    count_l: np.ndarray  # (K, L) ratings per listener
    resid_s: np.ndarray  # (K, S)
    count_s: np.ndarray  # (K, S)
    sum_s: np.ndarray  # (K, S) sum of scores per sentence
    cell_ids: list[np.ndarray]  # per system: sorted listener*S + sentence cell ids
    cell_resid: list[np.ndarray]  # per system: residual sums in those cells
    ss: np.ndarray  # (K,) sum of squared residuals


def _system_parts(t: _Coded) -> _SystemParts:
    k, n_l, n_s = t.n_systems, t.n_listeners, t.n_sentences
    n = np.bincount(t.system, minlength=k).astype(np.float64)
    total = np.bincount(t.system, weights=t.score, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    resid = t.score - mean[t.system]
    hist = np.bincount(t.system * 5 + (t.score.astype(np.int64) - 1), minlength=5 * k)
    key_l = t.system * n_l + t.listener
    key_s = t.system * n_s + t.sentence
    cell = t.listener * n_s + t.sentence
    key_c = t.system * (n_l * n_s) + cell
    unique_c, inverse = np.unique(key_c, return_inverse=True)
    resid_c = np.bincount(inverse, weights=resid, minlength=len(unique_c))
    bounds = np.searchsorted(unique_c // (n_l * n_s), np.arange(k + 1))
    return _SystemParts(
        n=n,
        mean=mean,
        hist=hist.reshape(k, 5),
        resid_l=np.bincount(key_l, weights=resid, minlength=k * n_l).reshape(k, n_l),
        count_l=np.bincount(key_l, minlength=k * n_l).reshape(k, n_l),
        resid_s=np.bincount(key_s, weights=resid, minlength=k * n_s).reshape(k, n_s),
        count_s=np.bincount(key_s, minlength=k * n_s).reshape(k, n_s),
        sum_s=np.bincount(key_s, weights=t.score, minlength=k * n_s).reshape(k, n_s),
        cell_ids=[unique_c[bounds[i] : bounds[i + 1]] % (n_l * n_s) for i in range(k)],
        cell_resid=[resid_c[bounds[i] : bounds[i + 1]] for i in range(k)],
        ss=np.bincount(t.system, weights=resid**2, minlength=k),
    )


def _median_from_hist(hist: np.ndarray) -> float | None:
    n = int(hist.sum())
    if n == 0:
        return None
    cumulative = np.cumsum(hist)
    lower = int(np.searchsorted(cumulative, (n - 1) // 2 + 1)) + 1
    upper = int(np.searchsorted(cumulative, n // 2 + 1)) + 1
    return (lower + upper) / 2


def _pair(lo: float, hi: float) -> list[float | None]:
    return [_num(lo), _num(hi)]


def _num(x: Any) -> float | None:
    """A JSON-safe float: NaN and infinities become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _summaries(t: _Coded, parts: _SystemParts) -> list[dict]:
    k = t.n_systems
    n = parts.n
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(parts.ss / (n - 1))
        se_t = sd / np.sqrt(n)
        half_t = _t_quantile(n - 1) * se_t
        g_l = (parts.count_l > 0).sum(axis=1)
        g_s = (parts.count_s > 0).sum(axis=1)
        g_c = np.array([len(ids) for ids in parts.cell_ids])
        v_l = (parts.resid_l**2).sum(axis=1) / n**2
        v_s = (parts.resid_s**2).sum(axis=1) / n**2
        v_c = np.array([(r**2).sum() for r in parts.cell_resid]) / n**2
        var, df, fell_back = _twoway_variance(v_l, g_l, v_s, g_s, v_c, g_c)
        half_c = np.where(var > 0, _t_quantile(df) * np.sqrt(var), 0.0)
        half_c = np.where(np.isfinite(var), half_c, np.nan)
        design_effect = var / se_t**2
    out = []
    for i in range(k):
        m = parts.mean[i]
        out.append(
            {
                "system": t.system_names[i],
                "kind": t.system_kinds[i] or None,
                "n": int(n[i]),
                "n_listeners": int(g_l[i]),
                "n_sentences": int(g_s[i]),
                "mos": _num(m),
                "sd": _num(sd[i]),
                "median": _median_from_hist(parts.hist[i]),
                "ci95": _pair(m - half_t[i], m + half_t[i]),
                "ci95_clustered": _pair(m - half_c[i], m + half_c[i]),
                "ci95_half_width": _num(half_t[i]),
                "ci95_clustered_half_width": _num(half_c[i]),
                "df_clustered": _num(df[i]) if var[i] > 0 else None,
                "design_effect": _num(design_effect[i]),
                "clustered_fallback": bool(fell_back[i]),
                "histogram": {str(s): int(parts.hist[i, s - 1]) for s in SCORES},
            }
        )
    return out


def mos_summary(ratings: pd.DataFrame, *, seed: int = 0) -> list[dict]:
    """Per-system MOS with a t-interval and a two-way clustered interval (test rows only).

    Returns one dict per system in order of first appearance: system, kind, n, n_listeners,
    n_sentences, mos, sd, median, ci95 (Student t over ratings), ci95_clustered (two-way
    cluster-robust, listeners x sentences), their half-widths, df_clustered, design_effect
    (clustered / naive variance) and histogram {"1": n, ..., "5": n}. Nothing here is random:
    ``seed`` is accepted so callers can pass one uniformly; the result does not depend on it.
    """
    del seed  # analytic intervals: no resampling
    t = _code_test_rows(validate_ratings(ratings))
    return _summaries(t, _system_parts(t))


# --------------------------------------------------------------------------------------------
# Pairwise comparisons
# --------------------------------------------------------------------------------------------


def holm_adjust(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values: controls the family-wise error rate across all
    pairs without assuming independence. adjusted p_(i) = max_{j<=i} min(1, (m-j+1) p_(j))."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def _mann_whitney_from_hist(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mann–Whitney U for two samples on the 1–5 scale, from their score counts.

    Same statistic as scipy.stats.mannwhitneyu(method="asymptotic", use_continuity=True):
    normal approximation with tie correction and continuity correction, but O(1) instead of a
    sort of every rating. Returns (U of a, two-sided p, Cliff's delta = P(a>b) - P(a<b)).
    """
    n_a, n_b = a.sum(), b.sum()
    below_b = np.concatenate([[0], np.cumsum(b)[:-1]])  # count of b strictly below each score
    u_a = float((a * (below_b + 0.5 * b)).sum())
    n = n_a + n_b
    ties = a + b
    mu = n_a * n_b / 2
    var = n_a * n_b / 12 * ((n + 1) - (ties**3 - ties).sum() / (n * (n - 1)))
    delta = 2 * u_a / (n_a * n_b) - 1
    if var <= 0:
        return u_a, 1.0, float(delta)
    u_big = max(u_a, n_a * n_b - u_a)
    z = (u_big - mu - 0.5) / math.sqrt(var)
    return u_a, float(min(1.0, 2 * sps.norm.sf(z))), float(delta)


def _wilcoxon(d: np.ndarray) -> tuple[float, float, float]:
    """Wilcoxon signed-rank on paired differences (zeros dropped, Wilcoxon's convention).

    The p-value follows scipy.stats.wilcoxon(method="auto"): the exact null distribution when
    there are no ties or zeros and at most 50 pairs; with ties or zeros, an exact enumeration of
    all 2^n sign flips for n <= 13 pairs (scipy runs this as a permutation test, which is
    slow enough to matter with 190 pairs, so it is done here as one matrix product), and the
    normal approximation with tie correction beyond. Returns (statistic = min(R+, R-),
    two-sided p, matched-pairs rank-biserial correlation (R+ - R-)/(R+ + R-)).
    """
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return 0.0, 1.0, 0.0
    ranks = sps.rankdata(np.abs(nonzero))
    r_plus, r_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    rank_biserial = (r_plus - r_minus) / (r_plus + r_minus)
    ties = len(np.unique(ranks)) < len(ranks)
    if (ties or len(nonzero) < len(d)) and len(d) <= 13:
        signs = (np.arange(2 ** len(ranks))[:, None] >> np.arange(len(ranks))) & 1
        null = signs @ ranks  # R+ under every assignment of signs
        tolerance = 1e-14 * max(abs(r_plus), 1.0)
        p_high = np.mean(null >= r_plus - tolerance)
        p_low = np.mean(null <= r_plus + tolerance)
        p = min(1.0, 2 * min(p_high, p_low))
        return float(min(r_plus, r_minus)), float(p), float(rank_biserial)
    method = "exact" if not ties and len(nonzero) == len(d) and len(d) <= 50 else "asymptotic"
    result = sps.wilcoxon(d, zero_method="wilcox", correction=False, method=method)
    return float(result.statistic), float(result.pvalue), float(rank_biserial)


def _difference_variance(parts: _SystemParts, a: int, b: int) -> tuple[float, float, bool]:
    """Two-way clustered variance of MOS_a - MOS_b.

    The influence value of a rating is residual/n_a in system a and -residual/n_b in system b;
    cluster sums over listeners, sentences and listener x sentence cells therefore combine
    the per-system sums, and ratings by the same listener (or of the same sentence) in both
    systems correlate the two means exactly as they should.
    """
    n_a, n_b = parts.n[a], parts.n[b]
    u_l = parts.resid_l[a] / n_a - parts.resid_l[b] / n_b
    u_s = parts.resid_s[a] / n_a - parts.resid_s[b] / n_b
    g_l = np.count_nonzero((parts.count_l[a] > 0) | (parts.count_l[b] > 0))
    g_s = np.count_nonzero((parts.count_s[a] > 0) | (parts.count_s[b] > 0))
    ids_a, ids_b = parts.cell_ids[a], parts.cell_ids[b]
    ra, rb = parts.cell_resid[a], parts.cell_resid[b]
    _, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    v_c = (
        (ra**2).sum() / n_a**2 + (rb**2).sum() / n_b**2 - 2 * (ra[ia] * rb[ib]).sum() / (n_a * n_b)
    )
    g_c = len(ids_a) + len(ids_b) - len(ia)
    var, df, fell_back = _twoway_variance(
        np.array([(u_l**2).sum()]),
        np.array([g_l]),
        np.array([(u_s**2).sum()]),
        np.array([g_s]),
        np.array([v_c]),
        np.array([g_c]),
    )
    return float(var[0]), float(df[0]), bool(fell_back[0])


def _pairs(t: _Coded, parts: _SystemParts, alpha: float) -> list[dict]:
    k = t.n_systems
    with np.errstate(invalid="ignore", divide="ignore"):
        sentence_means = parts.sum_s / parts.count_s  # (K, S), NaN where not rated
    rated = parts.count_s > 0
    pairs: list[dict] = []
    for a in range(k):
        for b in range(a + 1, k):
            entry: dict[str, Any] = {
                "system_a": t.system_names[a],
                "system_b": t.system_names[b],
                "n_a": int(parts.n[a]),
                "n_b": int(parts.n[b]),
                "mos_a": _num(parts.mean[a]),
                "mos_b": _num(parts.mean[b]),
            }
            if parts.n[a] == 0 or parts.n[b] == 0:
                entry.update(
                    test=None,
                    paired_on=None,
                    n_pairs=None,
                    statistic=None,
                    p_value=None,
                    mean_difference=None,
                    mean_difference_ci95_clustered=[None, None],
                    rank_biserial=None,
                    cliffs_delta=None,
                )
                pairs.append(entry)
                continue
            shared = rated[a] & rated[b]
            n_shared = int(shared.sum())
            smaller = min(int(rated[a].sum()), int(rated[b].sum()))
            u_a, p_mw, delta = _mann_whitney_from_hist(parts.hist[a], parts.hist[b])
            if n_shared >= MIN_PAIRED_SENTENCES and n_shared >= MIN_PAIRED_SHARE * smaller:
                d = sentence_means[a, shared] - sentence_means[b, shared]
                statistic, p, rank_biserial = _wilcoxon(d)
                entry.update(test="wilcoxon_signed_rank", paired_on="sentence", n_pairs=n_shared)
            else:
                statistic, p, rank_biserial = u_a, p_mw, delta
                entry.update(test="mann_whitney_u", paired_on=None, n_pairs=None)
            diff = parts.mean[a] - parts.mean[b]
            var, df, _ = _difference_variance(parts, a, b)
            half = _t_quantile(df) * math.sqrt(var) if var > 0 else (0.0 if var == 0 else math.nan)
            entry.update(
                statistic=_num(statistic),
                p_value=_num(p),
                mean_difference=_num(diff),
                mean_difference_ci95_clustered=_pair(diff - half, diff + half),
                rank_biserial=_num(rank_biserial),
                cliffs_delta=_num(delta),
            )
            pairs.append(entry)
    testable = [i for i, e in enumerate(pairs) if e["p_value"] is not None]
    adjusted = holm_adjust([pairs[i]["p_value"] for i in testable])
    for entry in pairs:
        entry.update(p_holm=None, significant=False, better=None)
    for i, p_holm in zip(testable, adjusted):
        entry = pairs[i]
        significant = bool(p_holm < alpha)
        better, diff = None, entry["mean_difference"]
        if significant and diff:
            better = entry["system_a"] if diff > 0 else entry["system_b"]
        entry.update(p_holm=_num(p_holm), significant=significant, better=better)
    return pairs


def significance_matrix(systems: list[str], pairs: list[dict]) -> dict:
    """Square view of the pairwise results: ``cells[i][j]`` is ">" when system i is rated
    significantly higher than system j (Holm-adjusted), "<" when lower, "=" when not
    significant, None on the diagonal or when untestable; ``p_holm[i][j]`` the adjusted p."""
    index = {name: i for i, name in enumerate(systems)}
    k = len(systems)
    cells: list[list[str | None]] = [[None] * k for _ in range(k)]
    p_holm: list[list[float | None]] = [[None] * k for _ in range(k)]
    for entry in pairs:
        i, j = index[entry["system_a"]], index[entry["system_b"]]
        p_holm[i][j] = p_holm[j][i] = entry["p_holm"]
        if entry["p_holm"] is None:
            continue
        if entry["better"] is None:
            cells[i][j] = cells[j][i] = "="
        elif entry["better"] == entry["system_a"]:
            cells[i][j], cells[j][i] = ">", "<"
        else:
            cells[i][j], cells[j][i] = "<", ">"
    return {"systems": list(systems), "cells": cells, "p_holm": p_holm}


def pairwise_tests(ratings: pd.DataFrame, *, alpha: float = 0.05) -> list[dict]:
    """Compare every pair of systems (test rows only, no screening).

    Per pair: ``test`` ("wilcoxon_signed_rank" on per-sentence means when the two systems share
    at least 6 sentences and at least half of the smaller system's sentences, else
    "mann_whitney_u" on ratings), statistic, p_value, p_holm (Holm across all pairs),
    significant (p_holm < alpha), better (the significantly higher system or None),
    mean_difference (mos_a - mos_b) with mean_difference_ci95_clustered, rank_biserial (for the
    test used) and cliffs_delta (over ratings).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}.")
    t = _code_test_rows(validate_ratings(ratings))
    return _pairs(t, _system_parts(t), alpha)


# --------------------------------------------------------------------------------------------
# Listener screening
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningRules:
    """Thresholds of the listener screening; a threshold of None switches its rule off.

    The first nine fields are the shape of ``listening.models.default_screening()`` (a study's
    ``screening`` JSON); the last three have defaults and may be added to that JSON.
    """

    enabled: bool = True
    max_gold_failures: int | None = 0
    max_repeat_difference: float | None = 1
    max_inconsistent_repeats: int | None = 1
    flag_identical_scores: bool = True
    min_reference_score: float | None = 3
    max_anchor_score: float | None = 4
    min_median_response_seconds: float | None = 1.0
    min_correlation: float | None = 0.25
    # A gold answer more than this many points from the expected score is a failure.
    gold_tolerance: float = 1
    # Straight-lining is only evidence after enough ratings.
    min_ratings_for_identical: int = 5
    # A correlation over fewer clips is too noisy to exclude anybody on.
    min_items_for_correlation: int = 5

    @classmethod
    def from_dict(cls, rules: Mapping[str, Any] | None) -> ScreeningRules:
        """Build from a study's screening dict; missing keys take defaults, unknown keys are
        ignored (see :func:`unknown_rule_keys`). Raises ValueError on a wrongly typed value."""
        if rules is None:
            return cls()
        if not isinstance(rules, Mapping):
            raise ValueError(f"Screening rules must be a dict, got {type(rules).__name__}.")
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in rules:
                continue
            value = rules[field.name]
            if field.name in ("enabled", "flag_identical_scores"):
                if not isinstance(value, bool):
                    raise ValueError(
                        f"Screening rule {field.name!r} must be true or false, got {value!r}."
                    )
            elif value is None and "| None" in str(field.type):
                pass
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(
                    f"Screening rule {field.name!r} must be a number"
                    f"{' or null' if '| None' in str(field.type) else ''}, got {value!r}."
                )
            values[field.name] = value
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def unknown_rule_keys(rules: Mapping[str, Any] | None) -> list[str]:
    known = {f.name for f in dataclasses.fields(ScreeningRules)}
    return sorted(str(k) for k in (rules or {}) if k not in known)


RULE_TEXT = {
    "gold_failures": "gold questions answered wrongly",
    "inconsistent_repeats": "repeated clips rated inconsistently",
    "identical_scores": "the same score for every clip",
    "reference_low": "natural reference rated low on average",
    "anchor_high": "low anchor rated high on average",
    "fast_answers": "implausibly fast answers",
    "low_correlation": "low agreement with the other listeners",
}


def _group_mean(codes: np.ndarray, values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(codes, minlength=size)
    total = np.bincount(codes, weights=values, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, count


def _screen(frame: pd.DataFrame, rules: ScreeningRules) -> pd.DataFrame:
    listener_codes, listener_index = pd.factorize(frame["listener"], sort=False)
    n_l = len(listener_index)
    purpose = frame["purpose"].to_numpy()
    score = frame["score"].to_numpy(dtype=np.float64)
    kind = frame["system_kind"].to_numpy()
    is_test = purpose == "test"
    codes = np.asarray(listener_codes, dtype=np.int64)

    test_codes = codes[is_test]
    test_scores = score[is_test]
    mean_score, n_test = _group_mean(test_codes, test_scores, n_l)
    low = np.full(n_l, np.inf)
    high = np.full(n_l, -np.inf)
    np.minimum.at(low, test_codes, test_scores)
    np.maximum.at(high, test_codes, test_scores)
    identical = (n_test >= rules.min_ratings_for_identical) & (low == high)

    # Gold questions (P.808 "gold standard questions"): clips with a known answer.
    gold = purpose == "gold"
    miss = np.abs(score - frame["expected_score"].to_numpy()) > rules.gold_tolerance
    n_gold = np.bincount(codes[gold], minlength=n_l)
    gold_failures = np.bincount(codes[gold & miss], minlength=n_l)

    # Repeated clips: a repeat is compared with the same listener's test rating of that clip.
    clip_codes, _ = pd.factorize(frame["clip"], sort=False)
    clip_codes = np.asarray(clip_codes, dtype=np.int64)
    pair_key = codes * (int(clip_codes.max(initial=0)) + 1) + clip_codes
    first_test = pd.Series(score[is_test]).groupby(pair_key[is_test]).first()
    repeat = purpose == "repeat"
    original = first_test.reindex(pair_key[repeat]).to_numpy()
    matched = ~np.isnan(original)
    difference = np.abs(score[repeat] - original)
    limit = np.inf if rules.max_repeat_difference is None else rules.max_repeat_difference
    n_repeats = np.bincount(codes[repeat][matched], minlength=n_l)
    inconsistent = np.bincount(codes[repeat][matched & (difference > limit)], minlength=n_l)

    # Natural reference and low anchors (P.808 recommends both as sanity checks).
    reference_mean, n_reference = _group_mean(
        codes[is_test & (kind == "reference")], score[is_test & (kind == "reference")], n_l
    )
    low_anchor = is_test & (kind == "anchor") & frame["is_low_anchor"].to_numpy(dtype=bool)
    anchor_mean, n_anchor = _group_mean(codes[low_anchor], score[low_anchor], n_l)

    seconds = frame["response_seconds"].to_numpy()
    timed = ~np.isnan(seconds)
    median_seconds = (
        pd.Series(seconds[timed]).groupby(codes[timed]).median().reindex(range(n_l)).to_numpy()
    )

    fired = {
        "gold_failures": (n_gold > 0) & (gold_failures > _or_inf(rules.max_gold_failures)),
        "inconsistent_repeats": (n_repeats > 0)
        & (inconsistent > _or_inf(rules.max_inconsistent_repeats)),
        "identical_scores": identical & rules.flag_identical_scores,
        "reference_low": reference_mean < _or_neg_inf(rules.min_reference_score),
        "anchor_high": anchor_mean > _or_inf(rules.max_anchor_score),
        "fast_answers": median_seconds < _or_neg_inf(rules.min_median_response_seconds),
    }

    # Agreement: Pearson correlation of the listener's scores with the mean score of the same
    # clips by the *other* listeners (leave-one-out, so nobody agrees with themself). The crowd
    # reference leaves out listeners that another rule already flagged: random clickers blur
    # the clip means and would pull honest listeners' correlations down with them. One pass,
    # no iteration, so the result does not depend on an order. O(n) from per-listener sums.
    test_clips = clip_codes[is_test]
    flagged_before = np.logical_or.reduce(list(fired.values()))
    in_reference = (~flagged_before[test_codes]).astype(np.float64)
    clip_sum = np.bincount(test_clips, weights=test_scores * in_reference)
    clip_n = np.bincount(test_clips, weights=in_reference)
    others = clip_n[test_clips] - in_reference
    usable = others > 0
    x = test_scores[usable]
    y = (clip_sum[test_clips] - in_reference * test_scores)[usable] / others[usable]
    c = test_codes[usable]
    m = np.bincount(c, minlength=n_l).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sx, sy = np.bincount(c, x, n_l), np.bincount(c, y, n_l)
        sxx = np.bincount(c, x * x, n_l) - sx**2 / m
        syy = np.bincount(c, y * y, n_l) - sy**2 / m
        sxy = np.bincount(c, x * y, n_l) - sx * sy / m
        correlation = sxy / np.sqrt(sxx * syy)
    # Guard against round-off: a constant listener has sxx == 0 exactly in theory.
    degenerate = (m < rules.min_items_for_correlation) | (sxx <= 1e-9 * m) | (syy <= 1e-12 * m)
    correlation = np.where(degenerate, np.nan, np.clip(correlation, -1.0, 1.0))
    fired["low_correlation"] = correlation < _or_neg_inf(rules.min_correlation)

    table = pd.DataFrame(
        {
            "n_test": n_test,
            "mean_score": mean_score,
            "n_gold": n_gold,
            "gold_failures": gold_failures,
            "n_repeats": n_repeats,
            "inconsistent_repeats": inconsistent,
            "identical_scores": identical,
            "reference_mean": reference_mean,
            "n_reference": n_reference,
            "anchor_mean": anchor_mean,
            "n_anchor": n_anchor,
            "median_response_seconds": median_seconds,
            "n_correlation_items": m.astype(np.int64),
            "correlation": correlation,
        },
        index=pd.Index([str(x) for x in listener_index], name="listener"),
    )

    for name, flags in fired.items():
        table[f"rule_{name}"] = np.asarray(flags, dtype=bool)
    rule_names = list(fired)
    flags = table[[f"rule_{r}" for r in rule_names]].to_numpy()
    table["rules"] = [[r for r, f in zip(rule_names, row) if f] for row in flags]
    table["reasons"] = [_reasons(row, rules) for row in table.itertuples()]
    table["excluded"] = flags.any(axis=1) & rules.enabled
    return table


def _or_inf(x: float | None) -> float:
    return np.inf if x is None else x


def _or_neg_inf(x: float | None) -> float:
    return -np.inf if x is None else x


def _reasons(row: Any, rules: ScreeningRules) -> list[str]:
    """Human-readable reasons, each with the value and the threshold that was crossed."""
    out = []
    if row.rule_gold_failures:
        out.append(
            f"gold_failures: {row.gold_failures} of {row.n_gold} gold questions answered more "
            f"than {rules.gold_tolerance:g} point(s) from the expected score "
            f"(allowed {rules.max_gold_failures})"
        )
    if row.rule_inconsistent_repeats:
        out.append(
            f"inconsistent_repeats: {row.inconsistent_repeats} of {row.n_repeats} repeated clips "
            f"differ by more than {rules.max_repeat_difference:g} (allowed "
            f"{rules.max_inconsistent_repeats})"
        )
    if row.rule_identical_scores:
        out.append(f"identical_scores: all {row.n_test} ratings are {row.mean_score:g}")
    if row.rule_reference_low:
        out.append(
            f"reference_low: natural reference rated {row.reference_mean:.2f} on average "
            f"(minimum {rules.min_reference_score:g})"
        )
    if row.rule_anchor_high:
        out.append(
            f"anchor_high: low anchor rated {row.anchor_mean:.2f} on average "
            f"(maximum {rules.max_anchor_score:g})"
        )
    if row.rule_fast_answers:
        out.append(
            f"fast_answers: median response {row.median_response_seconds:.2f} s "
            f"(minimum {rules.min_median_response_seconds:g} s)"
        )
    if row.rule_low_correlation:
        out.append(
            f"low_correlation: r = {row.correlation:.2f} with the other listeners' clip means "
            f"over {row.n_correlation_items} clips (minimum {rules.min_correlation:g})"
        )
    return out


def screen_listeners(ratings: pd.DataFrame, rules: Mapping[str, Any] | None) -> pd.DataFrame:
    """Apply the listener screening rules; one row per listener (index "listener").

    Columns: the measured values (n_test, mean_score, n_gold, gold_failures, n_repeats,
    inconsistent_repeats, identical_scores, reference_mean, anchor_mean,
    median_response_seconds, n_correlation_items, correlation — NaN where a rule cannot be
    evaluated for lack of data), one boolean ``rule_<name>`` per rule, ``rules`` (names that
    fired), ``reasons`` (text with value and threshold) and ``excluded`` (any rule fired and
    screening enabled). ``rules`` takes the shape of ``listening.models.default_screening()``.
    """
    frame = validate_ratings(ratings)
    frame = frame[frame["purpose"].to_numpy() != "training"]
    return _screen(frame, ScreeningRules.from_dict(rules))


# --------------------------------------------------------------------------------------------
# Tables and the full report
# --------------------------------------------------------------------------------------------


def _sentence_table(t: _Coded, parts: _SystemParts) -> list[dict]:
    counts = np.bincount(t.sentence, minlength=t.n_sentences)
    means, _ = _group_mean(t.sentence, t.score, t.n_sentences)
    squares = np.bincount(t.sentence, weights=t.score**2, minlength=t.n_sentences)
    n_listeners = np.bincount(
        np.unique(t.sentence * t.n_listeners + t.listener) // t.n_listeners,
        minlength=t.n_sentences,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt((squares - counts * means**2) / (counts - 1))
        by_system = parts.sum_s / parts.count_s
    out = []
    for s in range(t.n_sentences):
        if counts[s] == 0:
            continue
        out.append(
            {
                "sentence": t.sentence_names[s],
                "n": int(counts[s]),
                "n_listeners": int(n_listeners[s]),
                "n_systems": int((parts.count_s[:, s] > 0).sum()),
                "mos": _num(means[s]),
                "sd": _num(max(sd[s], 0.0)) if np.isfinite(sd[s]) else None,
                "by_system": {
                    name: _num(by_system[k, s])
                    for k, name in enumerate(t.system_names)
                    if parts.count_s[k, s] > 0
                },
            }
        )
    return out


def _listener_table(t: _Coded, screening: pd.DataFrame) -> list[dict]:
    counts = np.bincount(t.listener, minlength=t.n_listeners)
    means, _ = _group_mean(t.listener, t.score, t.n_listeners)
    squares = np.bincount(t.listener, weights=t.score**2, minlength=t.n_listeners)
    n_systems = np.bincount(
        np.unique(t.listener * t.n_systems + t.system) // t.n_systems, minlength=t.n_listeners
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.maximum(squares - counts * means**2, 0.0) / (counts - 1))
    row_of = {name: i for i, name in enumerate(t.listener_names)}
    out = []
    for name, row in zip(screening.index, screening.itertuples()):
        i = row_of.get(name)
        out.append(
            {
                "listener": name,
                "n": int(counts[i]) if i is not None else 0,
                "mos": _num(means[i]) if i is not None else None,
                "sd": _num(sd[i]) if i is not None else None,
                "n_systems": int(n_systems[i]) if i is not None else 0,
                "n_gold": int(row.n_gold),
                "gold_failures": int(row.gold_failures),
                "n_repeats": int(row.n_repeats),
                "inconsistent_repeats": int(row.inconsistent_repeats),
                "identical_scores": bool(row.identical_scores),
                "reference_mean": _num(row.reference_mean),
                "anchor_mean": _num(row.anchor_mean),
                "median_response_seconds": _num(row.median_response_seconds),
                "correlation": _num(row.correlation),
                "rules_fired": list(row.rules),
                "excluded": bool(row.excluded),
            }
        )
    return out


def _ratings_needed(systems: list[dict], target: float) -> list[dict]:
    out = []
    for s in systems:
        half = s["ci95_clustered_half_width"]
        entry = {
            "system": s["system"],
            "n": s["n"],
            "ci95_clustered_half_width": half,
            "target_half_width": target,
            "design_effect": s["design_effect"],
            "total_ratings": None,
            "additional_ratings": None,
        }
        if half is not None and s["n"] > 0:
            total = s["n"] if half <= target else math.ceil(s["n"] * (half / target) ** 2)
            entry.update(total_ratings=total, additional_ratings=total - s["n"])
        out.append(entry)
    return out


METHOD = {
    "data": (
        "Only rows with purpose 'test' enter MOS, intervals, pairwise tests and the sentence "
        "table; 'gold' and 'repeat' rows feed the listener screening only; 'training' rows are "
        "dropped. A table without a purpose column is all test ratings."
    ),
    "mos": (
        "MOS = arithmetic mean of the 1-5 ACR scores of a system (ITU-T P.800); SD with n-1; "
        "median is the midpoint of the two middle scores when n is even."
    ),
    "ci95": (
        f"{_T_LABEL}: MOS +/- t(0.975, n-1) * SD / sqrt(n), as in ITU-T P.800/P.808 reports. It "
        "treats every rating as independent, so it is too narrow when listeners differ in "
        "their use of the scale or sentences differ in difficulty."
    ),
    "ci95_clustered": (
        f"{_CLUSTERED_LABEL}: two-way cluster-robust variance of the mean (Cameron, Gelbach & "
        "Miller 2011, 'Robust inference with multiway clustering', JBES 29(2)). With e_i the "
        "residual of rating i from its system's MOS and n the system's ratings, "
        "V = c_L sum_listeners (sum e_i / n)^2 + c_S sum_sentences (sum e_i / n)^2 - "
        "c_C sum_cells (sum e_i / n)^2, where cells are listener x sentence pairs and "
        "c_G = G/(G-1) for G clusters of that kind. If V <= 0 it falls back to the larger "
        "one-way term (CGM 2011). The interval is MOS +/- t(0.975, df) * sqrt(V) with "
        "df = min(G_L, G_S) - 1, the number of listeners or sentences, whichever is fewer, "
        "minus one (CGM 2011). Chosen over a pigeonhole bootstrap (Owen 2007) "
        "because it is exact arithmetic on per-cluster sums (O(n), no random numbers, the "
        "same input always gives the same interval) and the bootstrap is known to be "
        "conservative for crossed designs. Checked by simulation in "
        "tests/listening/test_stats_simulation.py: crowds with listener bias and scale "
        "compression, sentence effects, incomplete balanced playlists and spammers give "
        "93-97 % coverage where the t-interval falls well short. design_effect = V / (SD^2/n)."
    ),
    "pairwise": (
        "Every pair of systems. Paired when the design allows: if two systems share at least "
        f"{MIN_PAIRED_SENTENCES} sentences and at least {MIN_PAIRED_SHARE:.0%} of the smaller "
        "system's sentences, a Wilcoxon signed-rank test (zeros dropped) on the per-sentence mean scores over "
        "the shared sentences; p from the exact null distribution (no ties, <= 50 pairs), "
        "from all 2^n sign flips (ties, <= 13 pairs) or the tie-corrected normal "
        "approximation, as scipy.stats.wilcoxon(method='auto') does. Sentences are the unit because balanced playlists give each listener each "
        "sentence at most once, so listener x sentence matched pairs do not exist, while "
        "sentence difficulty is a large shared source of variance that pairing removes. "
        "Otherwise a two-sided Mann-Whitney U test on the ratings (normal approximation with "
        "tie and continuity correction; it ignores clustering, so read it with the clustered "
        "difference interval). p-values are Holm-corrected (Holm 1979) across all pairs; a "
        "pair is significant when p_holm < alpha."
    ),
    "effect_sizes": (
        "mean_difference = MOS_a - MOS_b with a 95 % two-way cluster-robust interval (the "
        "difference's influence values clustered by listener, sentence and cell, so shared "
        "listeners and sentences are accounted for). rank_biserial: matched-pairs rank-"
        "biserial correlation (R+ - R-)/(R+ + R-) for the Wilcoxon test, equal to Cliff's "
        "delta for the Mann-Whitney test. cliffs_delta = P(a > b) - P(a < b) over all rating "
        "pairs."
    ),
    "screening": (
        "Per listener, in the spirit of ITU-T P.808 (gold standard questions, consistency, "
        "reference/anchor checks) and large crowdsourced MOS collections: gold_failures fires "
        "when more than max_gold_failures gold answers lie more than gold_tolerance points "
        "from the expected score; inconsistent_repeats when more than "
        "max_inconsistent_repeats repeated clips differ from the listener's own test rating "
        "by more than max_repeat_difference; identical_scores when all of at least "
        "min_ratings_for_identical test ratings are the same; reference_low when the mean "
        "score given to natural references is below min_reference_score; anchor_high when the "
        "mean score given to low anchors (all anchors when is_low_anchor is absent) exceeds "
        "max_anchor_score; fast_answers when the median response time is below "
        "min_median_response_seconds; low_correlation when the Pearson correlation between "
        "the listener's test scores and the mean of the other listeners' scores for the same "
        "clips (leave-one-out; listeners flagged by any other rule are left out of this crowd "
        "reference), over at least min_items_for_correlation clips, is below min_correlation. A rule without the data it needs (no gold rows, no response times, "
        "...) does not fire. Screening is one pass over all listeners (no iteration), so it "
        "is reproducible; results are reported with and without the exclusions."
    ),
    "ratings_needed": (
        "For the screened data: total = ceil(n * (h / target)^2), where h is the current "
        "clustered half-width. Half-widths scale as 1/sqrt(n) when the study grows in the same "
        "shape (new listeners and new sentences in today's proportions), so the design effect "
        "stays as measured. More listeners on the same sentences cannot shrink the sentence "
        "part of the variance: when the sentence set is small, add sentences."
    ),
    "reproducibility": (
        "No random numbers are drawn; the same ratings give the same report. The seed is "
        "recorded for interface stability."
    ),
}


def build_report(
    ratings: pd.DataFrame,
    *,
    rules: Mapping[str, Any] | None = None,
    seed: int = 0,
    target_half_width: float = 0.1,
    alpha: float = 0.05,
) -> dict:
    """The whole MOS report as a JSON-ready dict (no NaN: missing numbers are None).

    Keys: ``systems`` / ``pairs`` / ``significance_matrix`` over all listeners;
    ``systems_after_exclusion`` / ``pairs_after_exclusion`` /
    ``significance_matrix_after_exclusion`` without the listeners the screening excluded;
    ``excluded_listeners`` [{listener, rules, reasons}], ``screening`` (rules applied, counts),
    ``listeners`` (per-listener table, all listeners), ``sentences`` (per-sentence table after
    exclusion), ``ratings_needed`` (after exclusion), ``method`` (how each number is made),
    ``interval_labels``, ``warnings`` and the counts ``n_rows``, ``n_ratings``, ``n_listeners``, ``n_sentences``,
    ``n_systems``. ``rules`` takes the shape of ``listening.models.default_screening()``;
    None means the defaults.
    """
    if not target_half_width > 0:
        raise ValueError(f"target_half_width must be positive, got {target_half_width}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}.")
    parsed_rules = ScreeningRules.from_dict(rules)
    frame = validate_ratings(ratings)
    purposes = frame["purpose"].value_counts()
    frame = frame[frame["purpose"].to_numpy() != "training"]
    if not (frame["purpose"].to_numpy() == "test").any():
        raise ValueError(
            "The ratings table has no test ratings (purpose 'test') to analyse yet; a report "
            "needs at least one."
        )

    screening = _screen(frame, parsed_rules)
    t = _code_test_rows(frame, listener_names=list(screening.index))
    parts = _system_parts(t)
    systems = _summaries(t, parts)
    pairs = _pairs(t, parts, alpha)

    excluded_names = screening.index[screening["excluded"].to_numpy()]
    excluded_codes = np.flatnonzero(screening["excluded"].to_numpy())
    kept = t.subset(~np.isin(t.listener, excluded_codes))
    kept_parts = _system_parts(kept)
    systems_kept = _summaries(kept, kept_parts)
    pairs_kept = _pairs(kept, kept_parts, alpha)

    warnings = []
    for label, entries in (("", systems), (" after exclusion", systems_kept)):
        for s in entries:
            if s["n"] == 0:
                warnings.append(f"System {s['system']!r} has no ratings{label}.")
            elif s["ci95_clustered"][0] is None:
                warnings.append(
                    f"System {s['system']!r}{label}: the clustered interval needs ratings from "
                    f"at least two listeners and two sentences (has {s['n_listeners']} and "
                    f"{s['n_sentences']})."
                )
    unknown = unknown_rule_keys(rules)
    if unknown:
        warnings.append(f"Unknown screening rule keys ignored: {', '.join(unknown)}.")

    rule_names = list(RULE_TEXT)
    report = {
        "schema": "harken.mos_report/1",
        "ci_level": CI_LEVEL,
        "interval_labels": {"ci95": _T_LABEL, "ci95_clustered": _CLUSTERED_LABEL},
        "alpha": alpha,
        "seed": seed,
        "n_rows": int(len(ratings)),
        "rows_by_purpose": {str(k): int(v) for k, v in purposes.items()},
        "n_ratings": int(len(t.score)),
        "n_ratings_after_exclusion": int(len(kept.score)),
        "n_listeners": int(len(screening)),
        "n_sentences": t.n_sentences,
        "n_systems": t.n_systems,
        "systems": systems,
        "systems_after_exclusion": systems_kept,
        "pairs": pairs,
        "pairs_after_exclusion": pairs_kept,
        "significance_matrix": significance_matrix(t.system_names, pairs),
        "significance_matrix_after_exclusion": significance_matrix(t.system_names, pairs_kept),
        "excluded_listeners": [
            {"listener": name, "rules": list(rules_fired), "reasons": list(reasons)}
            for name, rules_fired, reasons in zip(
                excluded_names,
                screening.loc[excluded_names, "rules"],
                screening.loc[excluded_names, "reasons"],
            )
        ],
        "screening": {
            "enabled": parsed_rules.enabled,
            "rules": parsed_rules.as_dict(),
            "ignored_keys": unknown,
            "rule_descriptions": RULE_TEXT,
            "n_listeners": int(len(screening)),
            "n_flagged": int(screening["rules"].map(bool).sum()),
            "n_excluded": int(len(excluded_names)),
            "fired": {r: int(screening[f"rule_{r}"].sum()) for r in rule_names},
            "evaluated": {
                "gold_failures": int((screening["n_gold"] > 0).sum()),
                "inconsistent_repeats": int((screening["n_repeats"] > 0).sum()),
                "identical_scores": int(
                    (screening["n_test"] >= parsed_rules.min_ratings_for_identical).sum()
                ),
                "reference_low": int((screening["n_reference"] > 0).sum()),
                "anchor_high": int((screening["n_anchor"] > 0).sum()),
                "fast_answers": int(screening["median_response_seconds"].notna().sum()),
                "low_correlation": int(screening["correlation"].notna().sum()),
            },
        },
        "listeners": _listener_table(t, screening),
        "sentences": _sentence_table(kept, kept_parts),
        "ratings_needed": _ratings_needed(systems_kept, target_half_width),
        "method": dict(METHOD),
        "warnings": warnings,
    }
    return _jsonable(report)


def _jsonable(value: Any) -> Any:
    """Plain Python types only, NaN/inf as None: json.dumps(..., allow_nan=False) must work."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _num(value)
    return value
