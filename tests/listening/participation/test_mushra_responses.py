"""MUSHRA and transcription on PostgreSQL: opening writes the trials, the pages show letters
only, sounds go out under per-listener tokens, and the answer POST is refused until everything
was played, written once, and refused politely when sent again."""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from listening.errors import ServiceError
from listening.models import (
    ConditionScore,
    Listener,
    Playlist,
    PlaylistItem,
    Rating,
    Study,
    System,
    TestType,
    TrialClip,
)
from listening.studies.lifecycle import study_open
from tests.factories import consented_client, hidden_fields, served_earlier
from tests.mushra_factories import mushra_study, transcription_study

pytestmark = pytest.mark.django_db

SOURCES = re.compile(r'data-position="(\d+)" data-src="([^"]+)"')


def mushra_form(html: str, *, score=lambda position: 70, played: float = 0.6) -> dict:
    fields = hidden_fields(html)
    for name in list(fields):
        if name.startswith("score_"):
            fields[name] = str(score(int(name[6:])))
        if name.startswith("plays_"):
            fields[name] = "1"
        if name.startswith("played_"):
            fields[name] = str(played)
    return fields


def test_opening_writes_one_trial_per_sentence_with_every_condition_in_a_recorded_order():
    study = mushra_study(n_systems=4, n_sentences=3, ratings_per_clip=2)
    trials = PlaylistItem.objects.filter(playlist__study=study)
    assert trials.count() == 2 * 3 and all(t.clip_id is None for t in trials)
    reference = study.systems.get(kind=System.Kind.REFERENCE)
    orders = set()
    for trial in trials:
        clips = list(trial.trial_clips.select_related("clip__system").order_by("position"))
        roles = [c.role for c in clips]
        assert roles[0] == TrialClip.Role.REFERENCE and clips[0].clip.system == reference
        assert roles.count(TrialClip.Role.HIDDEN_REFERENCE) == 1 and roles.count("anchor") == 2
        assert roles.count(TrialClip.Role.TEST) == 3
        assert {c.clip.sentence_id for c in clips} == {clips[0].clip.sentence_id}
        orders.add(tuple(roles))
    assert len(orders) > 1, "the conditions' order changes from trial to trial"
    for playlist in Playlist.objects.filter(study=study):
        sentences = [t.trial_clips.first().clip.sentence_id for t in playlist.items.all()]
        assert len(sentences) == len(set(sentences))


def test_a_mushra_study_without_a_reference_is_refused_unless_reference_free():
    study = mushra_study(slug="noref", open_it=False)
    study.systems.filter(kind=System.Kind.REFERENCE).update(kind=System.Kind.UPLOADED)
    with pytest.raises(ServiceError, match="reference-free"):
        study_open(study=study)
    Study.objects.filter(pk=study.pk).update(mushra_reference_free=True)
    study.refresh_from_db()
    study_open(study=study)
    roles = set(
        TrialClip.objects.filter(trial__playlist__study=study).values_list("role", flat=True)
    )
    assert roles == {"test", "anchor"}


def test_the_page_names_no_system_and_the_hidden_reference_has_its_own_url():
    study = mushra_study(slug="page", ratings_per_clip=2)
    client, listener = consented_client(study)
    html = client.get(f"/t/{study.slug}/rate/").content.decode()
    for name in study.systems.values_list("name", flat=True):
        assert name not in html
    assert "Play A" in html and "Reference" in html and "Excellent" in html
    sources = dict(SOURCES.findall(html))
    item = PlaylistItem.objects.get(pk=hidden_fields(html)["item"])
    roles = dict(item.trial_clips.values_list("position", "role"))
    urls = {roles[int(p)]: url for p, url in sources.items()}
    assert urls["reference"] != urls["hidden_reference"]
    assert len(set(sources.values())) == len(sources) == 6
    for url in sources.values():
        assert client.get(url).status_code == 200
    # Another listener (with a page of their own) gets none of these sounds, nor does a
    # browser without the listener's cookie.
    other, other_listener = consented_client(study)
    assert other_listener != listener and other.get(f"/t/{study.slug}/rate/").status_code == 200
    assert other.get(next(iter(sources.values()))).status_code == 403
    assert Client().get(next(iter(sources.values()))).status_code != 200


def test_a_mushra_answer_is_refused_until_every_sound_was_played_then_written_once():
    study = mushra_study(slug="post")
    client, listener = consented_client(study)
    url = f"/t/{study.slug}/rate/"
    html = client.get(url).content.decode()

    # One condition not played: refused, nothing written, the page still usable.
    fields = mushra_form(html)
    first_score = next(k for k in fields if k.startswith("score_"))
    fields["plays_" + first_score[6:]] = "0"
    fields["played_" + first_score[6:]] = "0"
    served_earlier(listener, 30)
    response = client.post(url, fields)
    assert response.status_code == 400 and "play every sound" in response.content.decode()
    assert not Rating.objects.filter(listener=listener).exists()

    # All played in the browser's account, but sooner than the sounds last: refused.
    served_earlier(listener, -30)
    response = client.post(url, mushra_form(html))
    assert response.status_code == 400
    assert not Rating.objects.filter(listener=listener).exists()

    # A slider never set: refused with the fix.
    served_earlier(listener, 60)
    fields = mushra_form(html)
    fields[first_score] = ""
    response = client.post(url, fields)
    assert response.status_code == 400 and "every slider" in response.content.decode()

    scores = lambda position: 10 * position  # noqa: E731
    final = {**mushra_form(html, score=scores), "plays_0": "2"}  # the reference, twice
    response = client.post(url, final)
    assert response.status_code == 302
    rating = Rating.objects.get(listener=listener)
    assert rating.test_type == TestType.MUSHRA and rating.score is None and rating.clip is None
    rows = list(ConditionScore.objects.filter(response=rating).select_related("trial_clip"))
    assert sorted(r.trial_clip.position for r in rows) == [1, 2, 3, 4, 5]
    assert all(r.score == 10 * r.trial_clip.position for r in rows)
    assert "reference" not in {r.trial_clip.role for r in rows}, "the open reference is not rated"
    assert rating.play_counts == [2, 1, 1, 1, 1, 1]

    # The same form again: refused politely, the first answer kept.
    response = client.post(url, mushra_form(html, score=lambda p: 99))
    assert response.status_code == 409 and "first answer is kept" in response.content.decode()
    assert ConditionScore.objects.filter(response__listener=listener, score=99).count() == 0


def test_a_whole_mushra_session_ends_with_the_completion_code():
    study = mushra_study(slug="whole", n_sentences=2)
    client, listener = consented_client(study)
    url = f"/t/{study.slug}/rate/"
    for _ in range(2):
        html = client.get(url).content.decode()
        served_earlier(listener, 60)
        assert client.post(url, mushra_form(html)).status_code == 302
    listener.refresh_from_db()
    assert listener.stage == Listener.Stage.COMPLETED
    assert "HARKEN-42" in client.get(url, follow=True).content.decode()
    assert ConditionScore.objects.filter(response__listener=listener).count() == 2 * 5


def test_a_score_outside_0_to_100_is_refused():
    study = mushra_study(slug="range")
    client, listener = consented_client(study)
    url = f"/t/{study.slug}/rate/"
    html = client.get(url).content.decode()
    served_earlier(listener, 60)
    response = client.post(url, mushra_form(html, score=lambda p: 101))
    assert response.status_code == 400
    assert not Rating.objects.filter(listener=listener).exists()


def test_the_database_holds_each_type_to_its_answer():
    study = mushra_study(slug="constraints")
    client, listener = consented_client(study)
    item = PlaylistItem.objects.filter(playlist__study=study).first()
    base = dict(listener=listener, item=item, purpose="test")
    for bad in (
        dict(test_type="mushra", score=50),
        dict(test_type="mushra", text="words"),
        dict(test_type="transcription", text=""),
        dict(test_type="transcription", text="hi", score=3),
        dict(test_type="acr", score=3, text="words"),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Rating.objects.create(**base, **bad)
    rating = Rating.objects.create(**base, test_type="mushra")
    trial_clip = item.trial_clips.exclude(role="reference").first()
    for score in (-1, 101):
        with pytest.raises(IntegrityError), transaction.atomic():
            ConditionScore.objects.create(response=rating, trial_clip=trial_clip, score=score)
    ConditionScore.objects.create(response=rating, trial_clip=trial_clip, score=100)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConditionScore.objects.create(response=rating, trial_clip=trial_clip, score=3)


def test_transcription_plays_are_counted_by_the_server_and_the_text_is_kept_as_typed():
    study = transcription_study(slug="words", transcription_max_plays=2)
    client, listener = consented_client(study)
    url = f"/t/{study.slug}/rate/"
    html = client.get(url).content.decode()
    audio = re.search(r'data-src="([^"]+)"', html).group(1)
    play = re.search(r'data-play-url="([^"]+)"', html).group(1)
    fields = hidden_fields(html)
    fields["played_0"] = "0.6"

    assert client.get(audio).status_code == 403, "no sound before a counted play"
    served_earlier(listener, 60)
    response = client.post(url, {**fields, "text": "a guess"})
    assert response.status_code == 400 and not Rating.objects.filter(listener=listener).exists()

    assert client.post(play).json() == {"plays": 1, "left": 1}
    assert client.get(audio).status_code == 200
    # A reload does not give the plays back.
    html = client.get(url).content.decode()
    fields = {**hidden_fields(html), "played_0": "0.6"}
    assert client.post(play).json() == {"plays": 2, "left": 0}
    refused = client.post(play)
    assert refused.status_code == 409 and "as often as this test allows" in refused.json()["error"]

    served_earlier(listener, 60)
    response = client.post(url, {**fields, "text": "   "})
    assert response.status_code == 400 and "type the words" in response.content.decode()
    typed = "The Birch canoe slid on the smooth planks,  "
    assert client.post(url, {**fields, "text": typed}).status_code == 302
    rating = Rating.objects.get(listener=listener)
    assert rating.test_type == TestType.TRANSCRIPTION and rating.text == typed
    assert rating.play_counts == [2] and rating.play_count == 2 and rating.score is None
    assert rating.clip_id == PlaylistItem.objects.get(pk=fields["item"]).clip_id
    again = client.post(url, {**fields, "text": "other"})
    assert again.status_code == 409 and Rating.objects.filter(listener=listener).count() == 1
