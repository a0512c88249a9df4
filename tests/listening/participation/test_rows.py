"""The listener path's reads written once per process give what the ORM's querysets give."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.db.transaction import TransactionManagementError

from listening.models import Listener, Playlist, PlaylistItem, Rating
from listening.participation import rows
from tests.factories import join, open_study, rate, rating_listener

pytestmark = pytest.mark.django_db


def _concrete(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_listener_row_is_the_orms_with_its_playlist_and_the_studys_version():
    study = open_study(slug="rows-listener")
    listener = rating_listener(study, "p-rows")
    found, updated_at, status = rows.listener_row(study_slug=study.slug, token=listener.token)
    expected = Listener.objects.select_related("playlist").get(pk=listener.pk)
    assert _concrete(found) == _concrete(expected)
    assert isinstance(found.current_page, dict) and found.created_at.tzinfo is not None
    assert _concrete(found.playlist) == _concrete(expected.playlist)
    assert found.playlist.listener is found
    assert (updated_at, status) == (study.updated_at, study.status)


def test_a_listener_without_playlist_raises_as_after_select_related():
    study = open_study(slug="rows-no-playlist")
    listener = join(study)
    found, _updated_at, _status = rows.listener_row(study_slug=study.slug, token=listener.token)
    with pytest.raises(Playlist.DoesNotExist):
        found.playlist  # noqa: B018
    assert rows.listener_row(study_slug="another-study", token=listener.token) is None
    assert rows.listener_row(study_slug=study.slug, token="no-such-token") is None


@pytest.mark.django_db(transaction=True)
def test_locking_outside_a_transaction_is_refused_and_inside_reads_the_row():
    # Not in a test transaction: the ORM's select_for_update refuses to lock in autocommit.
    study = open_study(slug="rows-lock")
    listener = rating_listener(study, "p-lock")
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            rows.listener_row(study_slug=study.slug, token=listener.token, lock=True)
    with transaction.atomic():
        found, *_ = rows.listener_row(study_slug=study.slug, token=listener.token, lock=True)
    assert found.pk == listener.pk


def test_the_items_carry_their_clip_and_this_listeners_answer_in_order():
    study = open_study(slug="rows-items", clips_per_listener=4)
    listener = rating_listener(study, "p-items")
    playlist = Playlist.objects.get(listener=listener)
    first = playlist.items.order_by("position").first()
    rate(listener, first, 4)
    # Another listener's rating of a shared clip is not this listener's answer.
    other = rating_listener(study, "p-other")
    other_first = Playlist.objects.get(listener=other).items.order_by("position").first()
    rate(other, other_first, 2)

    items = rows.item_rows(listener_id=listener.pk, playlist_id=playlist.pk)
    own = Rating.objects.filter(listener=listener, item=OuterRef("pk"))
    expected = list(
        PlaylistItem.objects.filter(playlist=playlist)
        .select_related("clip")
        .annotate(listener_score=Subquery(own.values("score")[:1]), listener_answered=Exists(own))
        .order_by("position")
    )
    assert [_concrete(i) for i in items] == [_concrete(i) for i in expected]
    assert [(i.listener_score, i.listener_answered) for i in items] == [
        (i.listener_score, i.listener_answered) for i in expected
    ]
    assert items[0].listener_answered is True and items[0].listener_score == 4
    assert all(i.listener_answered is False for i in items[1:])
    for got, want in zip(items, expected, strict=True):
        assert (got.clip.token, got.clip.duration_s, got.clip.audio.name) == (
            want.clip.token,
            want.clip.duration_s,
            want.clip.audio.name,
        )
        # A field left out is deferred, not wrong: it loads on access.
        assert got.clip.seed == want.clip.seed


def test_a_clip_is_found_only_through_the_listeners_own_playlist():
    study = open_study(slug="rows-clip", n_sentences=8, clips_per_listener=2)
    listener = rating_listener(study, "p-clip")
    other = rating_listener(study, "p-clip-other")
    mine = {i.clip.token for i in Playlist.objects.get(listener=listener).items.all()}
    theirs = {i.clip.token for i in Playlist.objects.get(listener=other).items.all()} - mine
    token = sorted(mine)[0]
    clip = rows.clip_row(study_slug=study.slug, listener_token=listener.token, clip_token=token)
    assert clip is not None and clip.token == token and clip.audio.name
    assert theirs, "the two playlists should differ in a clip"
    assert (
        rows.clip_row(
            study_slug=study.slug, listener_token=listener.token, clip_token=sorted(theirs)[0]
        )
        is None
    )
    assert rows.clip_row(study_slug="nope", listener_token=listener.token, clip_token=token) is None


def test_a_listener_save_stamps_last_seen_and_writes_only_the_fields_named():
    study = open_study(slug="rows-save")
    listener = rating_listener(study, "p-save")
    before = Listener.objects.get(pk=listener.pk).last_seen_at
    listener.current_page = {"nonce": "n", "items": [1, 2]}
    listener.attention_failures = 3
    listener.excluded = True  # not named: stays as stored
    rows.listener_save(listener, ["current_page", "attention_failures", "last_seen_at"])
    stored = Listener.objects.get(pk=listener.pk)
    assert stored.current_page == {"nonce": "n", "items": [1, 2]}
    assert stored.attention_failures == 3 and stored.excluded is False
    assert stored.last_seen_at == listener.last_seen_at and stored.last_seen_at > before
    assert rows.listener_update(pk=listener.pk, values={"flagged": True}) == 1
    assert Listener.objects.get(pk=listener.pk).flagged is True
    gone = Listener(pk=listener.pk + 10_000, study=study)
    with pytest.raises(DatabaseError):
        rows.listener_save(gone, ["current_page"])


def test_ratings_inserted_at_once_are_the_orms_rows_with_their_ids_and_constraints():
    study = open_study(slug="rows-insert", clips_per_listener=4)
    listener = rating_listener(study, "p-insert")
    items = list(Playlist.objects.get(listener=listener).items.select_related("clip")[:2])
    new = [
        Rating(
            listener=listener,
            clip=item.clip,
            item=item,
            purpose=item.purpose,
            score=score,
            followups={"noise": "yes"},
            play_count=1,
            played_seconds=1.5,
        )
        for item, score in zip(items, (2, 5), strict=True)
    ]
    rows.ratings_insert(new)
    assert all(r.pk and not r._state.adding for r in new)
    stored = {r.pk: r for r in Rating.objects.filter(listener=listener)}
    assert sorted(stored) == sorted(r.pk for r in new)
    for rating in new:
        assert _concrete(stored[rating.pk]) == _concrete(rating)
    again = Rating(listener=listener, clip=items[0].clip, item=items[0], score=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.ratings_insert([again])
