"""The database itself refuses what must never happen, whatever code path writes."""

import pytest
from django.db import IntegrityError, transaction

from listening.models import Clip, Listener, Playlist, PlaylistItem, Rating, Sentence, System
from tests.factories import SentenceFactory, StudyFactory, VoiceSystemFactory


@pytest.fixture
def clip(db):
    study = StudyFactory(slug="s1", title="S1")
    sentence = SentenceFactory(study=study, key="a", text="Hello there.")
    system = VoiceSystemFactory(study=study, name="sys")
    return Clip.objects.create(system=system, sentence=sentence)


@pytest.fixture
def listener(clip):
    return Listener.objects.create(study=clip.system.study)


def test_second_rating_by_same_listener_for_same_clip_is_refused(clip, listener):
    Rating.objects.create(listener=listener, clip=clip, score=4)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(listener=listener, clip=clip, score=2)
    assert Rating.objects.get().score == 4


@pytest.mark.parametrize("score", [0, 6])
def test_score_outside_acr_scale_is_refused(clip, listener, score):
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(listener=listener, clip=clip, score=score)
    assert not Rating.objects.exists()


@pytest.mark.parametrize("score", [1, 5])
def test_scale_ends_are_accepted(clip, listener, score):
    Rating.objects.create(listener=listener, clip=clip, score=score)
    assert Rating.objects.get().score == score


def test_second_clip_for_same_system_and_sentence_is_refused(clip):
    with pytest.raises(IntegrityError), transaction.atomic():
        Clip.objects.create(system=clip.system, sentence=clip.sentence)
    assert Clip.objects.count() == 1


def test_repeat_item_may_rate_a_clip_again_but_each_item_only_once(clip, listener):
    playlist = Playlist.objects.create(study=clip.system.study, index=0, seed=1)
    first = PlaylistItem.objects.create(playlist=playlist, position=0, clip=clip)
    repeat = PlaylistItem.objects.create(
        playlist=playlist, position=5, clip=clip, purpose=PlaylistItem.Purpose.REPEAT
    )
    Rating.objects.create(listener=listener, clip=clip, item=first, score=3)
    Rating.objects.create(listener=listener, clip=clip, item=repeat, score=4, purpose="repeat")
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(listener=listener, clip=clip, item=repeat, score=1, purpose="repeat")
    assert Rating.objects.count() == 2


def test_sentence_key_is_unique_per_study(clip):
    with pytest.raises(IntegrityError), transaction.atomic():
        Sentence.objects.create(study=clip.system.study, key="a", text="Again.")


def test_the_same_attempt_cannot_join_a_study_twice(clip):
    """One listener per platform attempt (external id with its attempt id: Prolific's
    SESSION_ID, MTurk's assignmentId). Another attempt under the same id is a row of its own:
    the join service decides, politely, whether it may take part."""
    study = clip.system.study
    Listener.objects.create(study=study, platform="prolific", external_id="PID1", attempt_id="S1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Listener.objects.create(
            study=study, platform="prolific", external_id="PID1", attempt_id="S1"
        )
    Listener.objects.create(study=study, platform="prolific", external_id="PID1", attempt_id="S2")
    # Anonymous listeners (no external id) are many.
    Listener.objects.create(study=study)
    Listener.objects.create(study=study)


def test_a_listener_holds_at_most_one_playlist(clip, listener):
    study = clip.system.study
    Playlist.objects.create(study=study, index=0, seed=1, status="claimed", listener=listener)
    with pytest.raises(IntegrityError), transaction.atomic():
        Playlist.objects.create(study=study, index=1, seed=2, status="claimed", listener=listener)


def test_free_playlist_cannot_belong_to_a_listener(clip, listener):
    with pytest.raises(IntegrityError), transaction.atomic():
        Playlist.objects.create(
            study=clip.system.study, index=0, seed=1, status="free", listener=listener
        )


def test_voice_system_needs_a_voice_and_anchor_needs_source(clip):
    study = clip.system.study
    with pytest.raises(IntegrityError), transaction.atomic():
        System.objects.create(study=study, name="novoice", kind=System.Kind.VOICE)
    with pytest.raises(IntegrityError), transaction.atomic():
        System.objects.create(study=study, name="anchor", kind=System.Kind.ANCHOR, anchor_q_db=5)


def test_ready_clip_must_have_audio(clip):
    clip.status = Clip.Status.READY
    with pytest.raises(IntegrityError), transaction.atomic():
        clip.save()
