"""Reading and checking the comparative tests' tables: columns, ranges, and messages naming the
CSV line and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from listening.analysis import stats


def csv(text: str) -> bytes:
    return text.strip().encode("utf-8") + b"\n"


def test_ccr_csv_reads_keys_as_text_and_keeps_extra_columns():
    frame = stats.read_comparison_csv(
        csv("listener,sentence,a,b,score,note\n007,s1,ref,X,-2,hi\n008,s1,X,ref,3,"), "ccr"
    )
    assert frame["listener"].tolist() == ["007", "008"]
    assert frame["score"].tolist() == [-2, 3]
    assert frame["note"].tolist() == ["hi", ""]
    assert frame["purpose"].tolist() == ["test", "test"]
    assert frame.index.tolist() == [2, 3]
    assert frame["clip_a"].iloc[0] == "ref\x1fs1"


@pytest.mark.parametrize(
    ("test", "body", "message"),
    [
        ("ccr", "listener,sentence,a,b,score\nL1,s1,ref,X,4", "line 2"),
        ("ccr", "listener,sentence,a,b,score\nL1,s1,ref,X,1.5", "from -3 to 3"),
        ("ccr", "listener,sentence,a,b,score\nL1,s1,ref,X,", "empty at line 2"),
        ("ccr", "listener,sentence,a,b\nL1,s1,ref,X", "lacks column(s) score"),
        ("ccr", "listener,sentence,a,b,score\nL1,s1,X,X,0", "purpose=gold"),
        ("ab", "listener,sentence,a,b,choice\nL1,s1,A,B,left", "one of a, b, tie"),
        ("abx", "listener,sentence,a,b,x,choice\nL1,s1,A,B,C,a", "name system a or system b"),
        ("abx", "listener,sentence,a,b,x,choice\nL1,s1,A,B,A,tie", "one of a, b at line 2"),
        ("smos", "listener,sentence,system,score\nL1,s1,X,0", "from 1 to 5"),
        ("ccr", "listener,sentence,a,b,score,purpose\nL1,s1,X,X,0,gold", "expected score"),
        ("ab", "listener,sentence,a,b,choice,purpose\nL1,s1,A,B,a,gold", "expected answer"),
        ("ab", "listener,sentence,a,b,choice,purpose\nL1,s1,A,B,a,warmup", "Unknown purpose"),
    ],
)
def test_bad_tables_are_refused_with_the_line_and_the_fix(test, body, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stats.read_comparison_csv(csv(body), test)


def test_not_utf8_empty_and_header_only_files_are_named():
    with pytest.raises(ValueError, match="not UTF-8"):
        stats.read_comparison_csv(b"listener,sentence,a,b,score\nL\xe9,s,a,b,0\n", "ccr")
    with pytest.raises(ValueError, match="empty"):
        stats.read_comparison_csv(b"  \n", "ab")
    with pytest.raises(ValueError, match="header but no answers"):
        stats.read_comparison_csv(csv("listener,sentence,a,b,choice"), "ab")
    with pytest.raises(ValueError, match="Unknown test"):
        stats.read_comparison_csv(csv("listener"), "mushy")


def test_ab_gold_expected_may_name_the_system_that_should_win():
    frame = stats.validate_comparison(
        pd.DataFrame(
            {
                "listener": ["L1", "L1", "L1"],
                "sentence": ["s1", "s2", "s3"],
                "a": ["anchor", "ref", "A"],
                "b": ["ref", "anchor", "B"],
                "choice": ["B", "a", "tie"],
                "purpose": ["gold", "gold", "test"],
                "expected": ["ref", "ref", ""],
            }
        ),
        "ab",
    )
    assert frame["expected"].tolist() == ["b", "a", ""]
    assert frame["choice"].tolist() == ["b", "a", "tie"]


def test_abx_gold_without_expected_takes_x_and_smos_reference_defaults_to_the_sentence():
    abx = stats.validate_comparison(
        pd.DataFrame(
            {
                "listener": ["L1"],
                "sentence": ["s"],
                "a": ["A"],
                "b": ["B"],
                "x": ["B"],
                "choice": ["a"],
                "purpose": ["gold"],
            }
        ),
        "abx",
    )
    assert abx["expected"].tolist() == ["b"]
    smos = stats.validate_comparison(
        pd.DataFrame(
            {
                "listener": ["L1", "L1"],
                "sentence": ["s1", "s2"],
                "system": ["X", "X"],
                "score": [4, "5"],
                "reference": ["", "s9"],
            }
        ),
        "smos",
    )
    assert smos["reference"].tolist() == ["s1", "s9"]
    assert smos["score"].dtype == np.int64
