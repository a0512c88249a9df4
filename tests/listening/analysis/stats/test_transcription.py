"""Transcription analysis: WER/CER on hand-computed cases, the normalisation list, intervals,
the per-word table, follow-up proportions and clear messages for bad input."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from listening.analysis.render_transcription import answers_csv, word_errors_csv
from listening.analysis.stats.followups import add_followups, followup_summary
from listening.analysis.stats.transcription import (
    read_sentences_csv,
    read_transcriptions_csv,
    score_answer,
    scored_answers,
    transcription_report,
    validate_transcriptions,
)
from listening.analysis.stats.wording import normalise_words
from tests.listening.analysis.stats.by_hand import crossed_cgm_variance


@pytest.mark.parametrize(
    "reference, typed, words, errors",
    [
        # One substitution in six words.
        ("The cat sat on the mat.", "the cat sat on a mat", 6, 1),
        # Case and punctuation do not count.
        ("Hello, World! How are you?", "hello world how are you", 5, 0),
        # Numbers are compared as spoken: digits and words match.
        ("He paid $5 for 2 apples.", "he paid five dollars for two apples", 7, 0),
        ("He paid five dollars for two apples.", "He paid $5 for 2 apples", 7, 0),
        ("It was 1984.", "it was nineteen eighty four", 5, 0),
        ("Take the 3rd exit.", "take the third exit", 4, 0),
        ("He is 105.", "he is one hundred and five", 5, 0),
        # British and American spellings, hyphens and contractions.
        ("The colour of the centre.", "the color of the center", 5, 0),
        ("We're organising a catalogue.", "we are organizing a catalog", 5, 0),
        ("A well-known theatre.", "a well known theater", 4, 0),
        ("I can't go; it's late.", "I cannot go it is late", 7, 0),
        ("I can't go; it's late.", "i can not go it is late", 7, 0),
        # A deletion and an insertion: two errors in four words.
        ("The quick brown fox.", "the brown fox jumps", 4, 2),
        # Nothing typed: every word missed.
        ("Glue the sheet.", "", 3, 3),
    ],
)
def test_word_errors_on_hand_computed_cases(reference, typed, words, errors):
    scored = score_answer(reference, typed)
    assert scored["words"] == words
    assert scored["errors"] == errors


def test_the_kinds_of_error_are_counted_apart():
    scored = score_answer("the quick brown fox", "the brown fox jumps")
    assert (scored["substitutions"], scored["deletions"], scored["insertions"]) == (0, 1, 1)
    assert ("deletion", "quick", None) in scored["ops"]
    assert ("insertion", None, "jumps") in scored["ops"]
    scored = score_answer("the cat sat", "the hat sat")
    assert scored["ops"] == [("substitution", "cat", "hat")]


def test_character_error_rate_by_hand():
    # kitten -> sitting: k->s, e->i, +g: three edits on six characters.
    scored = score_answer("kitten", "sitting")
    assert (scored["characters"], scored["character_errors"]) == (6, 3)
    # Spaces count as characters of the normalised text: "a b" -> "ab" is one edit of three.
    scored = score_answer("a b", "ab")
    assert (scored["characters"], scored["character_errors"]) == (3, 1)


def test_normalisation_keeps_words_it_must_not_merge():
    assert normalise_words("four hours of your tour") == ["four", "hours", "of", "your", "tour"]
    assert normalise_words("The floor was scoured") == ["the", "floor", "was", "scoured"]
    assert normalise_words("John's dog") == ["john's", "dog"]
    assert normalise_words("\u2018Grey\u2019 \u2013 analysed") == ["gray", "analyzed"]


SENTENCES = {
    "s1": "The birch canoe slid on the smooth planks.",
    "s2": "Glue the sheet to the dark blue background.",
    "s3": "It's easy to tell the depth of a well.",
    "s4": "He paid $5 for 2 colours.",
}


def answers(seed: int = 0, n_listeners: int = 8) -> pd.DataFrame:
    """System "clear" heard right, "muffled" loses words at random (per listener rates)."""
    rng = np.random.default_rng(seed)
    rows = []
    for listener in range(n_listeners):
        loss = rng.uniform(0.05, 0.4)
        for key, text in SENTENCES.items():
            for system in ("clear", "muffled"):
                words = text.split()
                if system == "muffled":
                    words = [w for w in words if rng.random() > loss]
                rows.append((f"L{listener}", key, system, " ".join(words)))
    return pd.DataFrame(rows, columns=["listener", "sentence", "system", "text"])


def test_wer_of_a_system_is_errors_over_reference_words_summed_over_answers():
    frame = pd.DataFrame(
        [
            ("L1", "a", "x", "the cat sat on a mat"),  # 1 of 6
            ("L2", "b", "x", "the brown fox jumps"),  # 2 of 4
        ],
        columns=["listener", "sentence", "system", "text"],
    )
    sentences = {"a": "The cat sat on the mat.", "b": "The quick brown fox."}
    report = transcription_report(frame, sentences)
    (system,) = report["systems"]
    assert report["test"] == "transcription"
    assert system["wer"] == pytest.approx(3 / 10)  # not the mean of 1/6 and 1/2
    assert {"system", "n", "wer", "cer", "ci95_clustered"} <= set(system)


def test_clustered_interval_of_wer_is_the_linearised_two_way_interval():
    frame = answers(seed=3)
    report = transcription_report(frame, SENTENCES)
    scored, _ = scored_answers(validate_transcriptions(frame, SENTENCES))
    rows = scored[scored["system"] == "muffled"]
    ratio = rows["errors"].sum() / rows["words"].sum()
    u = (rows["errors"] - ratio * rows["words"]) / rows["words"].mean()
    # Fully crossed with one answer per cell.
    variance = crossed_cgm_variance(rows, u - u.mean())
    half = sps.t.ppf(0.975, min(8, 4) - 1) * math.sqrt(variance)
    muffled = {s["system"]: s for s in report["systems"]}["muffled"]
    assert muffled["wer"] == pytest.approx(ratio)
    assert muffled["ci95_clustered"] == pytest.approx([max(ratio - half, 0), ratio + half])
    clear = {s["system"]: s for s in report["systems"]}["clear"]
    assert clear["wer"] == 0 and clear["ci95_clustered"] == [0.0, 0.0]


def test_per_word_table_names_the_missed_and_substituted_words():
    frame = pd.DataFrame(
        [
            ("L1", "s1", "x", "the birch canoe slid on the smooth banks"),
            ("L2", "s1", "x", "the birch canoe slid on the smooth"),
            ("L3", "s1", "x", "the birch canoe slid on the smooth planks"),
        ],
        columns=["listener", "sentence", "system", "text"],
    )
    report = transcription_report(frame, SENTENCES)
    top = report["word_errors"][0]
    assert top["word"] == "planks"
    assert (top["n"], top["correct"], top["substituted"], top["deleted"]) == (3, 1, 1, 1)
    assert top["typed_instead"] == [["banks", 1]]
    assert report["word_errors_by_system"]["x"][0]["word"] == "planks"
    rows = list(csv.DictReader(io.StringIO(word_errors_csv(report))))
    assert rows[0]["word"] == "planks" and rows[0]["typed"] == "banks (1)"


def test_answers_download_is_formula_safe_and_keeps_what_was_typed():
    frame = answers(n_listeners=2)
    frame.loc[0, "text"] = '=HYPERLINK("http://x")'
    scored, _ = scored_answers(validate_transcriptions(frame, SENTENCES))
    rows = list(csv.DictReader(io.StringIO(answers_csv(scored))))
    assert len(rows) == len(frame)
    assert rows[0]["text"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["reference"] == SENTENCES["s1"]
    assert rows[7]["normalised_reference"] == "he paid five dollars for two colors"


def test_sentence_and_answer_csvs_read_and_bad_ones_name_the_line():
    sentences = read_sentences_csv(b"key,text\ns1,Hello world.\ns2,Good night.\n")
    assert sentences == {"s1": "Hello world.", "s2": "Good night."}
    frame = read_transcriptions_csv(
        b"listener,sentence,system,text\nL1,s1,a,hello world\nL1,s2,a,\n", sentences
    )
    assert list(frame["reference"]) == ["Hello world.", "Good night."]
    assert list(frame["text"]) == ["hello world", ""]


def read_answers(content: bytes) -> pd.DataFrame:
    return read_transcriptions_csv(content, {"s1": "Hello world."})


SENTENCES_CSV, ANSWERS_CSV = b"key,text\n", b"listener,sentence,system,text\n"


@pytest.mark.parametrize(
    ("read", "content", "message"),
    [
        (read_sentences_csv, b"id,text\ns1,Hello\n", r"lacks column\(s\) key"),
        (
            read_sentences_csv,
            SENTENCES_CSV + b"s1,Hello\ns1,Again\n",
            "Sentence key 's1' appears more than once",
        ),
        (read_sentences_csv, SENTENCES_CSV + b"s1,\n", "Column 'text' is empty at line 2"),
        (read_sentences_csv, SENTENCES_CSV, "no sentences"),
        (read_sentences_csv, b"", "sentences CSV is empty"),
        (read_answers, b"listener,sentence,system\nL1,s1,a\n", r"lacks column\(s\) text"),
        (read_answers, ANSWERS_CSV + b"L1,s9,a,hi\n", "Sentence 's9' \\(at line 2\\) is not"),
        (read_answers, ANSWERS_CSV + b",s1,a,hi\n", "Column 'listener' is empty at line 2"),
        (read_answers, ANSWERS_CSV, "no answers"),
        (read_answers, ANSWERS_CSV + b"L1,s1,a,\xff\n", "transcription CSV is not UTF-8"),
    ],
    ids=[
        "sentences without key",
        "sentence key twice",
        "sentence text empty",
        "no sentences",
        "sentences empty",
        "answers without text",
        "answer to an unknown sentence",
        "answer listener empty",
        "no answers",
        "answers not utf-8",
    ],
)
def test_bad_sentence_and_answer_files_are_refused(read, content, message):
    with pytest.raises(ValueError, match=message):
        read(content)


def test_a_sentence_of_only_punctuation_is_refused():
    frame = pd.DataFrame(
        [("L", "s", "a", "hi")], columns=["listener", "sentence", "system", "text"]
    )
    with pytest.raises(ValueError, match="no words after normalisation"):
        transcription_report(frame, {"s": "?!"})


# --- follow-up questions ------------------------------------------------------------------------


def test_followup_proportions_per_system_with_blanks_not_asked():
    frame = pd.DataFrame(
        {
            "listener": ["L1", "L2", "L3", "L4", "L1", "L2", "L3", "L4"],
            "sentence": ["s1", "s2", "s1", "s2", "s1", "s2", "s1", "s2"],
            "system": ["a"] * 4 + ["b"] * 4,
            "score": [4, 5, 3, 4, 2, 1, 2, 3],
            "followup_mispronounced": ["no", "No", "", "yes", "yes", "y", "1", "true"],
        }
    )
    section = followup_summary(frame)["mispronounced"]
    a, b = section["systems"]
    assert (a["system"], a["n"], a["yes"], a["proportion"]) == ("a", 3, 1, pytest.approx(1 / 3))
    assert (b["n"], b["yes"], b["proportion"]) == (4, 4, 1.0)
    # Every answer yes: Wilson's interval at n_eff = the 4 listeners, t with 3 df (by hand:
    # z^2/n = 10.13/4, centre (1 + z^2/2n) / (1 + z^2/n), half z/(1 + z^2/n) sqrt(z^2/4n^2)).
    z = sps.t.ppf(0.975, 3)
    z2n = z * z / 4
    low = (1 + z2n / 2) / (1 + z2n) - z / (1 + z2n) * math.sqrt(z2n / 16)
    assert b["ci95_clustered"] == [pytest.approx(low), 1.0]
    assert b["ci95_clustered"][0] == pytest.approx(0.2831, abs=1e-4)
    lo, hi = a["ci95_clustered"]
    assert lo is None or 0 <= lo <= 1 / 3 <= hi <= 1


def test_a_share_of_all_yes_or_all_no_gets_a_real_interval_not_a_point():
    """15 "yes" of 15 from 5 listeners: a Wald interval would be [1, 1]; Wilson's at the 5
    listeners with t(4) is [0.394, 1] (centre 0.697, half-width 0.303 by hand)."""
    rows = [(f"L{i}", f"s{j}", "a", "yes") for i in range(5) for j in range(3)]
    rows += [(f"L{i}", f"s{j}", "b", "no") for i in range(5) for j in range(3)]
    frame = pd.DataFrame(rows, columns=["listener", "sentence", "system", "followup_odd"])
    a, b = followup_summary(frame)["odd"]["systems"]
    assert a["proportion"] == 1.0 and b["proportion"] == 0.0
    assert a["ci95_clustered"][0] == pytest.approx(0.3935, abs=1e-4)
    assert a["ci95_clustered"][1] == 1.0
    assert b["ci95_clustered"] == [0.0, pytest.approx(1 - 0.3935, abs=1e-4)]


def test_a_share_from_one_listener_has_no_interval():
    frame = pd.DataFrame(
        {
            "listener": ["L1"] * 3,
            "sentence": ["s1", "s2", "s3"],
            "system": ["a"] * 3,
            "followup_odd": ["yes"] * 3,
        }
    )
    assert followup_summary(frame)["odd"]["systems"][0]["ci95_clustered"] == [None, None]


def test_followup_interval_is_clustered_and_stays_in_0_1():
    rng = np.random.default_rng(5)
    rows = []
    for listener in range(20):
        tendency = rng.uniform(0, 0.6)
        for sentence in range(8):
            for system, base in (("a", 0.1), ("b", 0.3)):
                yes = rng.random() < min(base + tendency, 1)
                rows.append((f"L{listener}", f"s{sentence}", system, "yes" if yes else "no"))
    frame = pd.DataFrame(rows, columns=["listener", "sentence", "system", "followup_odd"])
    report = add_followups({"test": "acr"}, frame)
    for entry in report["followups"]["odd"]["systems"]:
        lo, hi = entry["ci95_clustered"]
        assert 0 <= lo < entry["proportion"] < hi <= 1
        p, n = entry["proportion"], entry["n"]
        naive = 2 * 1.96 * math.sqrt(p * (1 - p) / n)
        assert hi - lo > naive  # listeners' own tendencies widen it


def test_a_report_without_followup_columns_gets_an_empty_section():
    frame = pd.DataFrame({"listener": ["L"], "sentence": ["s"], "system": ["a"]})
    assert add_followups({}, frame)["followups"] == {}


def test_a_followup_answer_that_is_not_yes_or_no_is_named():
    frame = pd.DataFrame(
        {"listener": ["L"], "sentence": ["s"], "system": ["a"], "followup_odd": ["maybe"]}
    )
    with pytest.raises(ValueError, match="'followup_odd' must be yes or no .* 'maybe'"):
        followup_summary(frame)
