"""MUSHRA (ITU-R BS.1534-3) analysis: a table of 0-100 ratings in, the report's numbers out.

Where it sits: ``mos_report --test mushra`` (and later the site's MUSHRA studies) build one
DataFrame and call :func:`mushra_report`; ``render_mushra`` turns the result into JSON, CSV,
HTML and the box plot. Nothing here imports Django or draws random numbers.

Input, one row per rated condition of a trial (a trial is one listener and one sentence):

==========  ==================================================================================
listener    who rated (text)
sentence    the sentence of the trial (text)
system      the condition (text)
score       0-100, BS.1534's continuous quality scale (any real number in range)
role        optional: ``hidden_reference``, ``anchor35``, ``anchor70`` or ``test`` (blank);
            ``reference`` is read as ``hidden_reference`` (the open reference is not rated, so
            ratings of the reference system are the hidden reference's)
==========  ==================================================================================

Instead of a ``role`` column the roles may be given by system name (``roles`` argument, the
study's ``reference``, ``hidden_reference``, ``anchor35`` and ``anchor70`` names). A study
without a hidden reference is the reference-free variant (BS.2132 style): the hidden-reference
rule of the post-screening then does not apply, and the report says so.

The clustered machinery of ``variance`` (two-way CR2, listeners x sentences, Bell-McCaffrey
df) is the MOS report's. It is written for the 1-5 scale, so the scores enter it mapped
affinely onto that scale (1 + score / 25); means and contrasts are linear in the scores, so
the variances map back exactly (times 25^2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from listening.screening import MUSHRA_SCREENING

from .pairwise import holm_adjust
from .table import (
    Coded,
    _as_key,
    jsonable,
    num,
    pair,
    read_csv_text,
    require_columns,
    required_numbers,
    where,
)
from .variance import CI_LEVEL, SystemParts, contrast_variance, system_parts, t_quantile

MUSHRA_COLUMNS = ("listener", "sentence", "system", "score")
ROLES = ("hidden_reference", "test", "anchor70", "anchor35")
ROLE_NAMES = ("reference", "hidden_reference", "anchor35", "anchor70")
_SCALE = 25.0  # 0-100 onto the 1-5 scale of the clustered machinery: 1 + score / 25

METHOD = {
    "scale": (
        "ITU-R BS.1534-3 (MUSHRA): every condition of a trial rated on the 0-100 continuous "
        "quality scale (Bad 0-20, Poor 20-40, Fair 40-60, Good 60-80, Excellent 80-100)."
    ),
    "means": (
        "Per condition: mean, median and quartiles over all ratings; a naive 95 % Student-t "
        "interval over ratings (treats every rating as independent) and a 95 % interval from "
        "the two-way (listeners x sentences) cluster-robust CR2 variance with Bell-McCaffrey "
        "degrees of freedom (Cameron, Gelbach & Miller 2011; Bell & McCaffrey 2002), the "
        "machinery of the MOS report. Intervals are cut at 0 and 100."
    ),
    "pairs": (
        "Every pair of conditions, two tests, each Holm (1979) corrected across the pairs: "
        "(1) Wilcoxon signed-rank on the paired differences per listener and sentence (trials "
        "in which both conditions were rated; repeated ratings of a trial averaged; zero "
        "differences dropped, Wilcoxon's convention), as BS.1534-3 practice reports it; it "
        "treats trials as independent. (2) A t test on the difference of means with its "
        "two-way clustered variance (valid when listeners and sentences repeat across trials). "
        "'significant' follows the clustered test."
    ),
    "screening": (
        "Post-screening per ITU-R BS.1534-3, section 4.1.2: a listener is excluded who rates "
        "the hidden reference below 90 in more than 15 % of their trials, or the mid anchor "
        "(7 kHz) above 90 in more than 15 %; thresholds are settings. Results are given with "
        "and without the exclusions. Without a hidden reference (reference-free MUSHRA-like "
        "test, ITU-R BS.2132 style) the hidden-reference rule does not apply."
    ),
}


# --- Input ---------------------------------------------------------------------------------------


def _roles_from_names(roles: Mapping[str, str | None] | None) -> dict[str, str]:
    """{system name: role} from {role name: system name}; refuses unknown role names."""
    by_system: dict[str, str] = {}
    for role, system in (roles or {}).items():
        if role not in ROLE_NAMES:
            raise ValueError(
                f"Unknown MUSHRA role {role!r}; the roles are {', '.join(ROLE_NAMES)}."
            )
        if system in (None, ""):
            continue
        name = str(system).strip()
        resolved = "hidden_reference" if role == "reference" else role
        if by_system.get(name, resolved) != resolved:
            raise ValueError(f"System {name!r} is named for two roles; give each role its own.")
        by_system[name] = resolved
    return by_system


def validate_mushra(
    ratings: pd.DataFrame, *, roles: Mapping[str, str | None] | None = None
) -> pd.DataFrame:
    """Check a MUSHRA table and return a normalised copy with a ``role`` column.

    Keys become text, score float in 0-100, role one of :data:`ROLES`. Raises ``ValueError``
    naming the column and the rows (CSV lines) when something is missing or out of range, when
    a system has two roles, or when a named system has no ratings. Extra columns are kept."""
    if not isinstance(ratings, pd.DataFrame):
        raise ValueError(f"Expected a pandas DataFrame of ratings, got {type(ratings).__name__}.")
    require_columns(
        ratings,
        MUSHRA_COLUMNS,
        "The MUSHRA table",
        needs=f"{', '.join(MUSHRA_COLUMNS)} and optionally role",
        rows="ratings",
    )
    frame = ratings.copy()
    for column in ("listener", "sentence", "system"):
        frame[column] = _as_key(frame, column)
    score = required_numbers(frame, "score")
    bad = (score < 0) | (score > 100)
    if bad.any():
        raise ValueError(
            f"Score outside 0-100 at {where(frame, bad)} (first: "
            f"{str(ratings['score'][bad].iloc[0])!r}); MUSHRA scores use BS.1534's 0-100 scale."
        )
    frame["score"] = score

    named = _roles_from_names(roles)
    unknown = sorted(set(named) - set(frame["system"]))
    if unknown:
        raise ValueError(
            f"No ratings of the system(s) named for a role: {', '.join(unknown)}. "
            f"Systems in the table: {', '.join(sorted(set(frame['system'])))}."
        )
    if "role" in frame.columns:
        role = frame["role"].astype("string").str.strip().str.lower().fillna("")
        role = role.mask(role.eq("reference"), "hidden_reference")
        bad = ~(role.isin(ROLES) | role.eq("")).to_numpy()
        if bad.any():
            raise ValueError(
                f"Unknown role at {where(frame, bad)} (first: "
                f"{str(frame['role'][bad].iloc[0])!r}); use reference, hidden_reference, "
                "anchor35, anchor70, test or leave it blank."
            )
        from_names = frame["system"].map(lambda s: named.get(s, ""))
        clash = (role.ne("") & from_names.ne("") & role.ne(from_names)).to_numpy()
        if clash.any():
            raise ValueError(
                f"The role column disagrees with the role names at {where(frame, clash)}; "
                "give the roles one way."
            )
        role = role.mask(role.eq(""), from_names)
    else:
        role = frame["system"].map(lambda s: named.get(s, ""))
    frame["role"] = role.mask(role.eq(""), "test").astype(str)
    two = frame.groupby("system")["role"].nunique()
    if (two > 1).any():
        system = two[two > 1].index[0]
        rows = frame["system"].eq(system).to_numpy()
        raise ValueError(
            f"System {system!r} has more than one role (at {where(frame, rows)}); a condition "
            "has one role throughout."
        )
    return frame


def read_mushra_csv(source: Any, *, roles: Mapping[str, str | None] | None = None) -> pd.DataFrame:
    """Read a MUSHRA CSV (``listener,sentence,system,score[,role]``); errors name CSV lines."""
    return validate_mushra(read_csv_text(source, "MUSHRA ratings"), roles=roles)


# --- Per condition -------------------------------------------------------------------------------


def _condition_order(frame: pd.DataFrame, order: Sequence[str] | None = None) -> list[str]:
    """Hidden reference first, then the systems under test, then the mid (70) and the low (35)
    anchor: BS.1534-3's scale from the top down, so the box plot, the table and the JSON read
    the same way whatever order the ratings came in. Within a role the systems follow
    ``order`` (the study's own order on the site); those it does not name come after, by name."""
    place = {str(name): i for i, name in enumerate(order or [])}
    first = frame.drop_duplicates("system")
    keyed = first.assign(
        rank=first["role"].map({r: i for i, r in enumerate(ROLES)}),
        place=first["system"].map(lambda s: place.get(str(s), len(place))),
        name=first["system"].astype(str),
    )
    return list(keyed.sort_values(["rank", "place", "name"], kind="stable")["system"])


def _coded(frame: pd.DataFrame, systems: list[str]) -> Coded:
    listener_codes, listeners = pd.factorize(frame["listener"], sort=False)
    sentence_codes, sentences = pd.factorize(frame["sentence"], sort=False)
    roles = frame.drop_duplicates("system").set_index("system")["role"]
    return Coded(
        listener=np.asarray(listener_codes, dtype=np.int64),
        sentence=np.asarray(sentence_codes, dtype=np.int64),
        system=pd.Index(systems).get_indexer(frame["system"]).astype(np.int64),
        score=1.0 + frame["score"].to_numpy(dtype=np.float64) / _SCALE,
        listener_names=[str(x) for x in listeners],
        sentence_names=[str(x) for x in sentences],
        system_names=list(systems),
        system_kinds=[str(roles.get(s, "test")) for s in systems],
    )


def _bounded(lo: float, hi: float) -> list[float | None]:
    return pair(min(max(lo, 0.0), 100.0), min(max(hi, 0.0), 100.0))


def _box(values: np.ndarray) -> dict[str, Any]:
    """Tukey box: quartiles, whiskers at the furthest ratings within 1.5 IQR, the rest outliers."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    inside = values[(values >= q1 - reach) & (values <= q3 + reach)]
    outliers = np.unique(values[(values < q1 - reach) | (values > q3 + reach)])
    return {
        "q1": num(q1),
        "median": num(median),
        "q3": num(q3),
        "whisker_low": num(inside.min()),
        "whisker_high": num(inside.max()),
        "outliers": [num(v) for v in outliers],
    }


def condition_summaries(t: Coded, raw: np.ndarray, parts: SystemParts) -> list[dict]:
    """One entry per condition: n, mean, median, SD, both 95 % intervals and the box.
    ``raw`` holds the 0-100 scores of ``t``'s rows (exact, not mapped back from ``t.score``)."""
    out = []
    for k, name in enumerate(t.system_names):
        rows = t.system == k
        scores = raw[rows]
        n = int(rows.sum())
        entry: dict[str, Any] = {
            "system": name,
            "role": t.system_kinds[k],
            "n": n,
            "n_listeners": int(np.unique(t.listener[rows]).size),
            "n_sentences": int(np.unique(t.sentence[rows]).size),
            "mean": None,
            "median": None,
            "sd": None,
            "ci95": [None, None],
            "ci95_clustered": [None, None],
            "se_clustered": None,
            "df_clustered": None,
            "box": None,
            "notes": [],
        }
        out.append(entry)
        if n == 0:
            entry["notes"].append("no ratings after the exclusions")
            continue
        mean = float(scores.mean())
        entry.update(mean=num(mean), median=num(np.median(scores)), box=_box(scores))
        if n > 1:
            sd = float(scores.std(ddof=1))
            half = float(t_quantile(n - 1)) * sd / math.sqrt(n)
            entry.update(sd=num(sd), ci95=_bounded(mean - half, mean + half))
        cv = contrast_variance(parts, {k: 1.0})
        if np.ptp(scores) == 0 and entry["n_listeners"] > 1 and entry["n_sentences"] > 1:
            # Every rating the same (a hidden reference at 100 throughout): nothing varies.
            entry.update(ci95_clustered=pair(mean, mean), se_clustered=0.0)
        elif math.isfinite(cv.variance) and math.isfinite(cv.df):
            se = math.sqrt(cv.variance) * _SCALE
            half = float(t_quantile(cv.df)) * se
            entry.update(
                ci95_clustered=_bounded(mean - half, mean + half),
                se_clustered=num(se),
                df_clustered=num(cv.df),
            )
        else:
            entry["notes"].append(
                "no clustered interval: it needs ratings from at least two listeners and two "
                "sentences"
            )
    return out


# --- Pairs ---------------------------------------------------------------------------------------


def _cell_means(t: Coded, raw: np.ndarray) -> np.ndarray:
    """Mean score per trial (listener x sentence) and condition: (trials, conditions), NaN
    where the trial did not rate the condition."""
    _, cell = np.unique(t.listener * max(t.n_sentences, 1) + t.sentence, return_inverse=True)
    n_cells, k = int(cell.max(initial=-1)) + 1, t.n_systems
    key = cell * k + t.system
    total = np.bincount(key, weights=raw, minlength=n_cells * k).reshape(n_cells, k)
    count = np.bincount(key, minlength=n_cells * k).reshape(n_cells, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _wilcoxon_all(diffs: list[np.ndarray]) -> list[tuple[float, float] | None]:
    """Wilcoxon signed-rank (two-sided, zero differences dropped) of each array of paired
    differences, in one call of scipy (rows padded with NaN, which it omits); None where every
    difference is zero."""
    kept = [d[d != 0] for d in diffs]
    testable = [i for i, d in enumerate(kept) if d.size]
    out: list[tuple[float, float] | None] = [None] * len(diffs)
    if not testable:
        return out
    width = max(kept[i].size for i in testable)
    matrix = np.full((len(testable), width), np.nan)
    for row, i in enumerate(testable):
        matrix[row, : kept[i].size] = kept[i]
    result = sps.wilcoxon(matrix, axis=1, nan_policy="omit", zero_method="wilcox")
    for row, i in enumerate(testable):
        out[i] = (float(result.statistic[row]), float(result.pvalue[row]))
    return out


def condition_pairs(t: Coded, raw: np.ndarray, parts: SystemParts, *, alpha: float) -> list[dict]:
    """Every pair of conditions: paired Wilcoxon and clustered t, each Holm-corrected."""
    cells = _cell_means(t, raw)
    means = np.bincount(t.system, weights=raw, minlength=t.n_systems) / np.maximum(parts.n, 1)
    pairs: list[dict] = []
    paired: list[tuple[dict, np.ndarray]] = []
    for a in range(t.n_systems):
        for b in range(a + 1, t.n_systems):
            entry: dict[str, Any] = {
                "system_a": t.system_names[a],
                "system_b": t.system_names[b],
                "role_a": t.system_kinds[a],
                "role_b": t.system_kinds[b],
                "mean_difference": None,
                "n_pairs": 0,
                "median_paired_difference": None,
                "wilcoxon_statistic": None,
                "wilcoxon_p": None,
                "clustered_se": None,
                "clustered_df": None,
                "clustered_p": None,
                "mean_difference_ci95_clustered": [None, None],
                "notes": [],
            }
            pairs.append(entry)
            if parts.n[a] == 0 or parts.n[b] == 0:
                entry["notes"].append("a condition of the pair has no ratings")
                continue
            diff = float(means[a] - means[b])
            entry["mean_difference"] = num(diff)
            d = cells[:, a] - cells[:, b]
            d = d[~np.isnan(d)]
            entry["n_pairs"] = int(d.size)
            if d.size:
                entry["median_paired_difference"] = num(np.median(d))
                paired.append((entry, d))
            else:
                entry["notes"].append("no Wilcoxon test: the two were never rated in one trial")
            cv = contrast_variance(parts, {a: 1.0, b: -1.0})
            if math.isfinite(cv.variance):
                se = math.sqrt(cv.variance) * _SCALE
                if se == 0:
                    p = 1.0 if diff == 0 else 0.0
                    entry.update(clustered_se=0.0, clustered_p=p)
                    entry["mean_difference_ci95_clustered"] = pair(diff, diff)
                else:
                    p = float(2 * sps.t.sf(abs(diff) / se, cv.df))
                    half = float(t_quantile(cv.df)) * se
                    entry.update(clustered_se=num(se), clustered_df=num(cv.df), clustered_p=p)
                    entry["mean_difference_ci95_clustered"] = pair(diff - half, diff + half)
            else:
                entry["notes"].append(
                    "no clustered test: it needs ratings of the pair from at least two "
                    "listeners and two sentences"
                )
    for (entry, _), result in zip(paired, _wilcoxon_all([d for _, d in paired])):
        if result is None:
            entry["notes"].append("no Wilcoxon test: every paired difference is zero")
        else:
            entry.update(wilcoxon_statistic=num(result[0]), wilcoxon_p=num(result[1]))
    for test in ("wilcoxon", "clustered"):
        testable = [e for e in pairs if e[f"{test}_p"] is not None]
        adjusted = holm_adjust([e[f"{test}_p"] for e in testable])
        for entry in pairs:
            entry[f"{test}_p_holm"] = None
            entry[f"significant_{test}"] = False
        for entry, p_holm in zip(testable, adjusted):
            entry[f"{test}_p_holm"] = num(p_holm)
            entry[f"significant_{test}"] = bool(p_holm < alpha)
    for entry in pairs:
        entry["significant"] = entry["significant_clustered"]
        better = None
        if entry["significant"] and entry["mean_difference"]:
            better = entry["system_a"] if entry["mean_difference"] > 0 else entry["system_b"]
        entry["better"] = better
    return pairs


# --- Post-screening ------------------------------------------------------------------------------


def mushra_screening(frame: pd.DataFrame, rules: Mapping[str, Any]) -> list[dict]:
    """Per listener: trials with the hidden reference / mid anchor, the misses, and the rules
    that fire (BS.1534-3 section 4.1.2). ``rules`` is a cleaned settings dict."""
    codes, listeners = pd.factorize(frame["listener"], sort=False)
    size = len(listeners)
    score = frame["score"].to_numpy(dtype=np.float64)
    role = frame["role"].to_numpy()

    def tally(which: str, miss: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        rows = role == which
        trials = np.bincount(codes[rows], minlength=size)
        if miss is None:
            return trials, np.zeros(size, dtype=np.int64)
        return trials, np.bincount(codes[rows & miss], minlength=size)

    below, above = rules["hidden_reference_below"], rules["mid_anchor_above"]
    hidden, hidden_miss = tally("hidden_reference", None if below is None else score < below)
    mid, mid_miss = tally("anchor70", None if above is None else score > above)
    ratings = np.bincount(codes, minlength=size)
    out = []
    for j, listener in enumerate(listeners):
        row: dict[str, Any] = {
            "listener": str(listener),
            "n_ratings": int(ratings[j]),
            "n_hidden_reference_trials": int(hidden[j]),
            "hidden_reference_misses": int(hidden_miss[j]),
            "n_mid_anchor_trials": int(mid[j]),
            "mid_anchor_misses": int(mid_miss[j]),
            "rules": [],
            "reasons": [],
        }
        fired = {
            "hidden_reference_missed": below is not None
            and hidden[j] > 0
            and hidden_miss[j] / hidden[j] > rules["max_hidden_reference_share"],
            "mid_anchor_high": above is not None
            and mid[j] > 0
            and mid_miss[j] / mid[j] > rules["max_mid_anchor_share"],
        }
        for rule in MUSHRA_SCREENING.rules:
            if fired[rule.name]:
                row["rules"].append(rule.name)
                row["reasons"].append(rule.explain(row, rules))
        out.append(row)
    return out


# The trials each rule judges and the threshold that switches it off when None.
_JUDGED = {
    "hidden_reference_missed": ("n_hidden_reference_trials", "hidden_reference_below"),
    "mid_anchor_high": ("n_mid_anchor_trials", "mid_anchor_above"),
}


def screening_counts(screening: Mapping[str, Any]) -> dict[str, Any]:
    """The counts of a report's ``screening`` section in the shape every site report's
    screening has (the report pages and the accompanying information read them): per rule the
    listeners it could judge (``evaluated``) and those it flagged (``fired``), and how many the
    post-screening excluded (``n_excluded``; 0 when it is not applied)."""
    rules, listeners = screening["rules"], screening["listeners"]
    applied = bool(screening["applied"])
    return {
        "enabled": applied,
        "evaluated": {
            rule: sum(1 for r in listeners if r[trials] and rules[threshold] is not None)
            for rule, (trials, threshold) in _JUDGED.items()
        },
        "fired": {rule: sum(rule in r["rules"] for r in listeners) for rule in _JUDGED},
        "n_excluded": sum(1 for r in listeners if r["rules"]) if applied else 0,
    }


# --- The report ----------------------------------------------------------------------------------


def _analyse(frame: pd.DataFrame, systems: list[str], alpha: float) -> tuple[list, list]:
    t = _coded(frame, systems)
    raw = frame["score"].to_numpy(dtype=np.float64)
    parts = system_parts(t)
    return condition_summaries(t, raw, parts), condition_pairs(t, raw, parts, alpha=alpha)


def mushra_report(
    ratings: pd.DataFrame,
    *,
    roles: Mapping[str, str | None] | None = None,
    rules: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
    order: Sequence[str] | None = None,
) -> dict:
    """The MUSHRA report (JSON-ready dict) of a ratings table; see the module docstring.

    ``roles``: {"reference" | "hidden_reference" | "anchor35" | "anchor70": system name};
    ``rules``: post-screening settings (``listening.screening.MUSHRA_SCREENING``; None for the
    defaults). ``systems`` and ``pairs`` are after the exclusions (when screening is enabled),
    ``without_exclusions`` holds both for every listener. ``order``: the systems' order
    within a role (:func:`_condition_order`; by name when None)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}.")
    cleaned = MUSHRA_SCREENING.clean(dict(rules) if rules is not None else None)
    frame = validate_mushra(ratings, roles=roles)
    systems = _condition_order(frame, order)
    per_listener = mushra_screening(frame, cleaned)
    excluded = [
        {"listener": r["listener"], "rules": r["rules"], "reason": "; ".join(r["reasons"])}
        for r in per_listener
        if r["rules"]
    ]
    warnings: list[str] = []
    has_hidden = bool(frame["role"].eq("hidden_reference").any())
    if not has_hidden:
        warnings.append(
            "No hidden reference: a reference-free (MUSHRA-like, ITU-R BS.2132 style) test; "
            "the hidden-reference rule of the post-screening does not apply."
        )
    if not frame["role"].eq("anchor35").any():
        warnings.append("No low anchor (3.5 kHz): BS.1534-3 asks for one in every trial.")
    applied = bool(cleaned["enabled"])
    gone = {e["listener"] for e in excluded} if applied else set()
    kept = frame[~frame["listener"].isin(gone)]
    if applied and kept.empty:
        warnings.append(
            "The post-screening excludes every listener; the results after exclusion are empty. "
            "Check the roles (is the hidden reference the right system?) or the thresholds."
        )
    all_systems, all_pairs = _analyse(frame, systems, alpha)
    if kept.empty:
        systems_after, pairs_after = [], []
    elif gone:
        systems_after, pairs_after = _analyse(kept, systems, alpha)
    else:
        systems_after, pairs_after = all_systems, all_pairs
    report = {
        "test": "mushra",
        "variant": "reference" if has_hidden else "reference_free",
        "n_ratings": int(len(frame)),
        "n_listeners": int(frame["listener"].nunique()),
        "n_sentences": int(frame["sentence"].nunique()),
        "n_listeners_after_exclusion": int(kept["listener"].nunique()),
        "alpha": alpha,
        "ci_level": CI_LEVEL,
        "systems": systems_after,
        "pairs": pairs_after,
        "excluded_listeners": excluded,
        "screening": {
            "applied": applied,
            "rules": cleaned,
            "rule_labels": MUSHRA_SCREENING.labels,
            "listeners": per_listener,
        },
        "without_exclusions": {"systems": all_systems, "pairs": all_pairs},
        "warnings": warnings,
        "method": METHOD,
    }
    return jsonable(report)
