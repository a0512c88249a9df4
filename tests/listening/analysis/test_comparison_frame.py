"""The database -> analysis table of comparison studies (CCR, AB, ABX, SMOS): responses and the clips their
trials presented become the issue's CSV columns, with system names in the presented order."""

import pandas as pd
import pytest

from listening.analysis.selectors import comparison_columns, study_comparison_frame
from listening.models import PlaylistItem
from tests.factories import (
    StudyFactory,
    TypedRatingFactory,
    comparison_study,
    listener_with_playlist,
    trial_with,
)
from tests.trial_factories import ab_trial

GOLD, TRAINING = PlaylistItem.Purpose.GOLD, PlaylistItem.Purpose.TRAINING
_study = comparison_study
_listener = listener_with_playlist


@pytest.mark.django_db
def test_ccr_rows_name_the_systems_as_presented_and_keep_the_score_as_given():
    study, clips = _study("ccr")
    one, playlist = _listener(study, "p1")
    # Reference heard first on s0, second on s1: the score stays as the listener gave it.
    first = ab_trial(playlist, clips, ("natural", "s0"), ("alpha", "s0"))
    second = ab_trial(playlist, clips, ("beta", "s1"), ("natural", "s1"))
    alpha = ("alpha", "s1")
    gold = ab_trial(playlist, clips, alpha, alpha, purpose=GOLD, expected_score=0)
    training = ab_trial(playlist, clips, ("natural", "s1"), ("beta", "s0"), purpose=TRAINING)
    TypedRatingFactory(item=first, listener=one, score=-2, response_seconds=2.25)
    TypedRatingFactory(item=second, listener=one, score=3)
    TypedRatingFactory(item=gold, listener=one, score=1)
    TypedRatingFactory(item=training, listener=one, score=0)

    frame = study_comparison_frame(study)

    assert list(frame.columns) == comparison_columns("ccr")
    assert list(frame.columns[:5]) == ["listener", "sentence", "a", "b", "score"]
    expected = pd.DataFrame(
        {
            "listener": ["prolific:p1"] * 3,
            "sentence": ["s0", "s1", "s1"],
            "a": ["natural", "beta", "alpha"],
            "b": ["alpha", "natural", "alpha"],
            "score": [-2, 3, 1],
            "purpose": ["test", "test", "gold"],
            "expected": [float("nan"), float("nan"), 0.0],
            "response_seconds": [2.25, 1.5, 1.5],
            "clip_a": [
                clips["natural", "s0"].token,
                clips["beta", "s1"].token,
                clips["alpha", "s1"].token,
            ],
            "clip_b": [
                clips["alpha", "s0"].token,
                clips["natural", "s1"].token,
                clips["alpha", "s1"].token,
            ],
        }
    )
    pd.testing.assert_frame_equal(frame, expected)
    # Training responses only when asked for.
    assert len(study_comparison_frame(study, training=True)) == 4


@pytest.mark.django_db
def test_ccr_trial_with_reference_and_test_roles_reads_in_play_order():
    study, clips = _study("ccr")
    one, playlist = _listener(study, "p1")
    trial = trial_with(
        playlist, [("test", clips["beta", "s0"]), ("reference", clips["natural", "s0"])]
    )
    TypedRatingFactory(item=trial, listener=one, score=2)
    row = study_comparison_frame(study).iloc[0]
    assert (row["a"], row["b"], row["score"]) == ("beta", "natural", 2)


@pytest.mark.django_db
def test_ab_rows_keep_the_choice_and_a_gold_trials_expected_choice():
    study, clips = _study("ab")
    one, first_list = _listener(study, "p1")
    two, second_list = _listener(study, "p2")
    ab = ab_trial(first_list, clips, ("alpha", "s0"), ("beta", "s0"))
    ba = ab_trial(second_list, clips, ("beta", "s0"), ("alpha", "s0"))
    natural, alpha = ("natural", "s1"), ("alpha", "s1")
    gold = ab_trial(second_list, clips, natural, alpha, purpose=GOLD, expected_choice="a")
    TypedRatingFactory(item=ab, listener=one, choice="tie")
    TypedRatingFactory(item=ba, listener=two, choice="b")
    TypedRatingFactory(item=gold, listener=two, choice="a")

    frame = study_comparison_frame(study)

    assert list(frame.columns[:5]) == ["listener", "sentence", "a", "b", "choice"]
    # No expectation is missing (NaN), as in any table the statistics read.
    frame["expected"] = frame["expected"].fillna("-")
    rows = frame[["listener", "a", "b", "choice", "purpose", "expected"]].values.tolist()
    assert rows == [
        ["prolific:p1", "alpha", "beta", "tie", "test", "-"],
        ["prolific:p2", "beta", "alpha", "b", "test", "-"],
        ["prolific:p2", "natural", "alpha", "a", "gold", "a"],
    ]


@pytest.mark.django_db
def test_abx_rows_name_the_system_x_really_was():
    study, clips = _study("abx")
    one, playlist = _listener(study, "p1")
    x_is_b = trial_with(
        playlist,
        [("a", clips["alpha", "s0"]), ("b", clips["beta", "s0"]), ("x", clips["beta", "s0"])],
    )
    x_is_a = trial_with(
        playlist,
        [("a", clips["beta", "s1"]), ("b", clips["alpha", "s1"]), ("x", clips["beta", "s1"])],
    )
    TypedRatingFactory(item=x_is_b, listener=one, choice="b")
    TypedRatingFactory(item=x_is_a, listener=one, choice="b")

    frame = study_comparison_frame(study)

    assert list(frame.columns[:6]) == ["listener", "sentence", "a", "b", "x", "choice"]
    assert frame[["sentence", "a", "b", "x", "choice"]].values.tolist() == [
        ["s0", "alpha", "beta", "beta", "b"],
        ["s1", "beta", "alpha", "beta", "b"],
    ]
    # Right, then wrong: what X was against what the listener said.
    said = frame["a"].where(frame["choice"] == "a", frame["b"])
    assert (said == frame["x"]).tolist() == [True, False]


@pytest.mark.django_db
def test_smos_rows_carry_the_reference_clips_sentence():
    study, clips = _study("smos", reference_text="different")
    one, playlist = _listener(study, "p1")
    trial = trial_with(
        playlist, [("reference", clips["natural", "s1"]), ("test", clips["alpha", "s0"])]
    )
    same = trial_with(
        playlist, [("reference", clips["natural", "s0"]), ("test", clips["beta", "s0"])]
    )
    TypedRatingFactory(item=trial, listener=one, score=4)
    TypedRatingFactory(item=same, listener=one, score=2)

    frame = study_comparison_frame(study)

    assert list(frame.columns[:5]) == ["listener", "sentence", "system", "score", "reference"]
    assert frame[["sentence", "system", "score", "reference"]].values.tolist() == [
        ["s0", "alpha", 4, "s1"],
        ["s0", "beta", 2, "s0"],
    ]
    assert frame["clip_b"].tolist() == [clips["alpha", "s0"].token, clips["beta", "s0"].token]


@pytest.mark.django_db
def test_an_acr_study_is_refused_with_the_function_to_use():
    study = StudyFactory(slug="plain")
    with pytest.raises(ValueError, match="study_ratings_frame"):
        study_comparison_frame(study)


@pytest.mark.django_db
def test_a_study_without_responses_gives_the_empty_table_of_its_type():
    study, _ = _study("ab")
    frame = study_comparison_frame(study)
    assert frame.empty
    assert list(frame.columns) == comparison_columns("ab")
