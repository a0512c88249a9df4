"""Each test type's answer is held to its range by the database, and a trial's clips to their
roles, whatever code path writes (the trial/response model)."""

import pytest
from django.db import IntegrityError, transaction

from listening.models import Clip, Listener, Playlist, PlaylistItem, Rating, TrialClip
from tests.factories import SentenceFactory, StudyFactory, VoiceSystemFactory


@pytest.fixture
def trial(db):
    study = StudyFactory(slug="pairs", title="Pairs")
    sentence = SentenceFactory(study=study, key="a", text="Hello there.")
    one = Clip.objects.create(system=VoiceSystemFactory(study=study, name="one"), sentence=sentence)
    two = Clip.objects.create(system=VoiceSystemFactory(study=study, name="two"), sentence=sentence)
    playlist = Playlist.objects.create(study=study, index=0, seed=1)
    item = PlaylistItem.objects.create(playlist=playlist, position=0)
    TrialClip.objects.create(trial=item, position=0, role="a", clip=one)
    TrialClip.objects.create(trial=item, position=1, role="b", clip=two)
    return item


@pytest.fixture
def listener(trial):
    return Listener.objects.create(study=trial.playlist.study)


def _answer(listener, trial, **answer):
    return Rating.objects.create(listener=listener, item=trial, **answer)


ACCEPTED = [
    {"test_type": "acr", "score": 1},
    {"test_type": "acr", "score": 5},
    {"test_type": "smos", "score": 3},
    {"test_type": "ccr", "score": -3},
    {"test_type": "ccr", "score": 0},
    {"test_type": "ccr", "score": 3},
    {"test_type": "ab", "choice": "a"},
    {"test_type": "ab", "choice": "tie"},
    {"test_type": "abx", "choice": "b"},
]
REFUSED = [
    {"test_type": "acr", "score": 0},
    {"test_type": "acr", "score": 6},
    {"test_type": "acr", "score": None},
    {"test_type": "acr", "score": 4, "choice": "a"},
    {"test_type": "smos", "score": -1},
    {"test_type": "ccr", "score": 4},
    {"test_type": "ccr", "score": -4},
    {"test_type": "ccr", "score": None},
    {"test_type": "ab", "choice": ""},
    {"test_type": "ab", "choice": "x"},
    {"test_type": "ab", "choice": "a", "score": 2},
    {"test_type": "abx", "choice": "tie"},
    {"test_type": "mushra", "score": 50},
]


@pytest.mark.parametrize("answer", ACCEPTED, ids=lambda a: "-".join(map(str, a.values())))
def test_each_type_accepts_its_own_answers(trial, listener, answer):
    _answer(listener, trial, **answer)
    stored = Rating.objects.get()
    assert (stored.test_type, stored.score, stored.choice) == (
        answer["test_type"],
        answer.get("score"),
        answer.get("choice", ""),
    )


@pytest.mark.parametrize("answer", REFUSED, ids=lambda a: "-".join(map(str, a.values())))
def test_each_type_refuses_what_it_does_not_ask(trial, listener, answer):
    with pytest.raises(IntegrityError), transaction.atomic():
        _answer(listener, trial, **answer)
    assert not Rating.objects.exists()


def test_one_response_per_listener_and_trial(trial, listener):
    _answer(listener, trial, test_type="ab", choice="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        _answer(listener, trial, test_type="ab", choice="b")
    assert Rating.objects.get().choice == "a"


def test_a_trial_has_one_a_and_one_b_but_may_hold_several_conditions(trial):
    clip = trial.trial_clips.first().clip
    with pytest.raises(IntegrityError), transaction.atomic():
        TrialClip.objects.create(trial=trial, position=2, role="a", clip=clip)
    with pytest.raises(IntegrityError), transaction.atomic():
        TrialClip.objects.create(trial=trial, position=1, role="x", clip=clip)
    with pytest.raises(IntegrityError), transaction.atomic():
        TrialClip.objects.create(trial=trial, position=2, role="narrator", clip=clip)
    # A multi-stimulus trial (MUSHRA) presents several test clips and anchors.
    TrialClip.objects.create(trial=trial, position=2, role="test", clip=clip)
    TrialClip.objects.create(trial=trial, position=3, role="test", clip=clip)
    TrialClip.objects.create(trial=trial, position=4, role="anchor", clip=clip)
    TrialClip.objects.create(trial=trial, position=5, role="anchor", clip=clip)
    assert [c.role for c in trial.trial_clips.all()] == [
        "a",
        "b",
        "test",
        "test",
        "anchor",
        "anchor",
    ]


@pytest.mark.parametrize(("expected_score", "expected_choice"), [(6, ""), (-4, ""), (None, "x")])
def test_a_gold_trial_expects_an_answer_some_type_can_give(trial, expected_score, expected_choice):
    trial.expected_score, trial.expected_choice = expected_score, expected_choice
    with pytest.raises(IntegrityError), transaction.atomic():
        trial.save()
