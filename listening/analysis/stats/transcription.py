"""Intelligibility from typed transcriptions: word and character error rates per system.

Where it sits: ``mos_report --test transcription`` (and later the site's transcription
studies) build one DataFrame of typed answers and a {sentence key: text} mapping and call
:func:`transcription_report`; ``render_transcription`` writes the CSVs and HTML. Nothing here
imports Django or draws random numbers.

Input, one row per answer: ``listener``, ``sentence`` (the key of the sentence file),
``system``, ``text`` (what the listener typed; blank means they typed nothing, which counts as
every word missed). The sentence file has ``key,text``.

Per answer, both texts are normalised (``wording.normalise_words``: spoken forms of numbers,
case, punctuation, hyphens, contractions, British/American spellings) and aligned word by word
with the Levenshtein distance (rapidfuzz's edit operations: substitutions, deletions and
insertions, each costing 1). Per system:

- WER = (S + D + I) / N, summed over the system's answers (N the reference words): a ratio
  estimator, so long sentences weigh by their length, as in speech-recognition scoring;
- CER the same on characters of the normalised texts (words joined by single spaces);
- a 95 % interval for each from the two-way (listeners x sentences) clustered variance of the
  ratio, by linearisation: R = sum e / sum n has the influence values
  u_i = (e_i - R n_i) / mean(n), and Var(R) is the clustered variance of the mean of u (the
  machinery of the MOS report, ``clustered``), with Bell-McCaffrey df. Cut at 0 below; a WER
  may exceed 1 (insertions), so it is not cut above.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein

from .clustered import clustered_group_means
from .table import _as_key, jsonable, num, read_csv_text, require_columns, where
from .wording import normalise_words

TRANSCRIPTION_COLUMNS = ("listener", "sentence", "system", "text")
SENTENCE_COLUMNS = ("key", "text")
TOP_WORDS = 30

METHOD = {
    "normalisation": (
        "Both the typed answer and the sentence text: numbers, currencies, times and common "
        "abbreviations written out as spoken (the voices' own text front-end, inflect for "
        "numbers); lower case; hyphens separate words; contractions expanded (n't, 're, 've, "
        "'ll, 'm, 'd, it's/that's/..., let's); punctuation removed; 'and' inside a number "
        "dropped; British spellings made American (-our, -ise/-isation, -yse and a list of "
        "words such as centre, grey, programme, travelled). See docs/statistics.md."
    ),
    "alignment": (
        "Word-level Levenshtein alignment (rapidfuzz): substitutions, deletions and insertions "
        "cost 1 each. WER = (S + D + I) / reference words, CER the same on characters, both "
        "summed over a system's answers (a ratio estimator)."
    ),
    "intervals": (
        "95 % intervals from the two-way (listeners x sentences) cluster-robust CR2 variance "
        "of the ratio, linearised (influence values (e_i - R n_i) / mean n), with "
        "Bell-McCaffrey degrees of freedom; cut at 0."
    ),
    "word_errors": (
        "Per reference word (after normalisation): how often it was heard correctly, "
        "substituted (with the words typed instead) or missed (deleted)."
    ),
}


# --- Input ---------------------------------------------------------------------------------------


def sentences_from_frame(frame: pd.DataFrame) -> dict[str, str]:
    """{key: text} from a ``key,text`` table; raises ``ValueError`` naming the rows at fault."""
    require_columns(
        frame, SENTENCE_COLUMNS, "The sentence file", needs="key,text", rows="sentences"
    )
    keys = _as_key(frame, "key")
    texts = _as_key(frame, "text")
    twice = keys.duplicated(keep=False).to_numpy()
    if twice.any():
        raise ValueError(
            f"Sentence key {keys[twice].iloc[0]!r} appears more than once (at "
            f"{where(frame, twice)}); each key names one text."
        )
    return dict(zip(keys, texts))


def read_sentences_csv(source: Any) -> dict[str, str]:
    """Read a ``key,text`` CSV of sentence texts; errors name CSV lines."""
    return sentences_from_frame(read_csv_text(source, "sentences"))


def validate_transcriptions(frame: pd.DataFrame, sentences: Mapping[str, str]) -> pd.DataFrame:
    """Check a table of typed answers against the sentence texts; a normalised copy with the
    reference text in ``reference``. Raises ``ValueError`` naming the column and rows."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"Expected a pandas DataFrame of answers, got {type(frame).__name__}.")
    require_columns(frame, TRANSCRIPTION_COLUMNS, "The transcription table", rows="answers")
    out = frame.copy()
    for column in ("listener", "sentence", "system"):
        out[column] = _as_key(out, column)
    out["text"] = out["text"].astype("string").fillna("").astype(str)
    unknown = ~out["sentence"].isin(list(sentences)).to_numpy()
    if unknown.any():
        raise ValueError(
            f"Sentence {out['sentence'][unknown].iloc[0]!r} (at {where(out, unknown)}) is not in "
            "the sentence file; add its key,text line or fix the key."
        )
    out["reference"] = out["sentence"].map(dict(sentences))
    return out


def read_transcriptions_csv(source: Any, sentences: Mapping[str, str]) -> pd.DataFrame:
    """Read a ``listener,sentence,system,text`` CSV; errors name CSV lines."""
    frame = read_csv_text(source, "transcription")
    return validate_transcriptions(frame, sentences)


# --- Scoring -------------------------------------------------------------------------------------


def score_answer(reference: str, typed: str) -> dict[str, Any]:
    """One answer against its sentence: the normalised words, the counts and the word ops.

    ``ops`` lists (kind, reference word or None, typed word or None) for every substitution,
    deletion and insertion; ``correct`` the reference words heard right."""
    ref = normalise_words(reference)
    hyp = normalise_words(typed)
    ops: list[tuple[str, str | None, str | None]] = []
    touched: set[int] = set()
    for op in Levenshtein.editops(ref, hyp):
        if op.tag == "replace":
            ops.append(("substitution", ref[op.src_pos], hyp[op.dest_pos]))
            touched.add(op.src_pos)
        elif op.tag == "delete":
            ops.append(("deletion", ref[op.src_pos], None))
            touched.add(op.src_pos)
        else:
            ops.append(("insertion", None, hyp[op.dest_pos]))
    counts = Counter(kind for kind, _, _ in ops)
    ref_text, hyp_text = " ".join(ref), " ".join(hyp)
    return {
        "reference_words": ref,
        "typed_words": hyp,
        "words": len(ref),
        "substitutions": counts["substitution"],
        "deletions": counts["deletion"],
        "insertions": counts["insertion"],
        "errors": len(ops),
        "characters": len(ref_text),
        "character_errors": Levenshtein.distance(ref_text, hyp_text),
        "correct": [w for i, w in enumerate(ref) if i not in touched],
        "ops": ops,
    }


def scored_answers(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """The validated answers with their counts (columns ``words`` ... ``wer``, ``cer``) and
    the per-answer scoring (for the word table)."""
    scored = [score_answer(r, t) for r, t in zip(frame["reference"], frame["text"])]
    out = frame.copy()
    for column in (
        "words",
        "substitutions",
        "deletions",
        "insertions",
        "errors",
        "characters",
        "character_errors",
    ):
        out[column] = [s[column] for s in scored]
    out["normalised_reference"] = [" ".join(s["reference_words"]) for s in scored]
    out["normalised_text"] = [" ".join(s["typed_words"]) for s in scored]
    empty = out["words"].to_numpy() == 0
    if empty.any():
        raise ValueError(
            f"Sentence {out['sentence'][empty].iloc[0]!r} has no words after normalisation; "
            "its text in the sentence file is only punctuation. Fix the text."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["wer"] = out["errors"] / out["words"]
        out["cer"] = out["character_errors"] / out["characters"]
    return out, scored


def _ratio_interval(answers: pd.DataFrame, systems: list[str], errors: str, size: str) -> dict:
    """{system: (ratio, [lo, hi])} of sum errors / sum size, clustered by listener x sentence."""
    e = answers[errors].to_numpy(dtype=np.float64)
    n = answers[size].to_numpy(dtype=np.float64)
    ratio = answers.groupby("system")[errors].sum() / answers.groupby("system")[size].sum()
    mean_n = answers.groupby("system")[size].mean()
    system = answers["system"].to_numpy()
    r = ratio.reindex(system).to_numpy()
    u = (e - r * n) / mean_n.reindex(system).to_numpy()
    means = clustered_group_means(answers["listener"], answers["sentence"], system, u, systems)
    out = {}
    for entry in means:
        # The influence values have mean 0: their interval's half-width is the ratio's.
        estimate = float(ratio[entry.group])
        half = entry.half_width()
        interval = [None, None] if half is None else [max(estimate - half, 0.0), estimate + half]
        out[entry.group] = (estimate, [num(v) for v in interval])
    return out


def _word_table(rows: list[tuple[str, dict]], *, limit: int | None) -> list[dict[str, Any]]:
    stats: dict[str, Counter] = defaultdict(Counter)
    typed: dict[str, Counter] = defaultdict(Counter)
    for _system, scored in rows:
        for word in scored["correct"]:
            stats[word]["correct"] += 1
        for kind, ref, hyp in scored["ops"]:
            if kind == "substitution":
                stats[ref]["substituted"] += 1
                typed[ref][hyp] += 1
            elif kind == "deletion":
                stats[ref]["deleted"] += 1
    table = []
    for word, c in stats.items():
        n = c["correct"] + c["substituted"] + c["deleted"]
        errors = c["substituted"] + c["deleted"]
        table.append(
            {
                "word": word,
                "n": n,
                "correct": c["correct"],
                "substituted": c["substituted"],
                "deleted": c["deleted"],
                "error_rate": num(errors / n),
                "typed_instead": [
                    [w, k] for w, k in sorted(typed[word].items(), key=lambda x: (-x[1], x[0]))[:3]
                ],
            }
        )
    table.sort(key=lambda e: (-(e["substituted"] + e["deleted"]), -e["error_rate"], e["word"]))
    return table[:limit] if limit else table


def transcription_report(
    answers: pd.DataFrame, sentences: Mapping[str, str], *, word_limit: int = TOP_WORDS
) -> dict:
    """The transcription report (JSON-ready): per system n, wer, cer and their clustered 95 %
    intervals (``ci95_clustered`` is WER's, ``cer_ci95_clustered`` CER's), the per-word error
    table over all systems (``word_errors``, the ``word_limit`` most missed words) and per
    system (``word_errors_by_system``)."""
    frame = validate_transcriptions(answers, sentences)
    scored_frame, scored = scored_answers(frame)
    systems = list(pd.unique(scored_frame["system"]))
    wer = _ratio_interval(scored_frame, systems, "errors", "words")
    cer = _ratio_interval(scored_frame, systems, "character_errors", "characters")
    summaries = []
    for system in systems:
        rows = scored_frame[scored_frame["system"] == system]
        summaries.append(
            {
                "system": system,
                "n": int(len(rows)),
                "n_listeners": int(rows["listener"].nunique()),
                "n_sentences": int(rows["sentence"].nunique()),
                "words": int(rows["words"].sum()),
                "substitutions": int(rows["substitutions"].sum()),
                "deletions": int(rows["deletions"].sum()),
                "insertions": int(rows["insertions"].sum()),
                "wer": num(wer[system][0]),
                "ci95_clustered": wer[system][1],
                "cer": num(cer[system][0]),
                "cer_ci95_clustered": cer[system][1],
                "sentences_correct": num(float((rows["errors"] == 0).mean())),
            }
        )
    pairs = list(zip(scored_frame["system"], scored))
    report = {
        "test": "transcription",
        "n_answers": int(len(scored_frame)),
        "n_listeners": int(scored_frame["listener"].nunique()),
        "n_sentences": int(scored_frame["sentence"].nunique()),
        "systems": summaries,
        "word_errors": _word_table(pairs, limit=word_limit),
        "word_errors_by_system": {
            s: _word_table([p for p in pairs if p[0] == s], limit=word_limit) for s in systems
        },
        "method": METHOD,
    }
    return jsonable(report)
