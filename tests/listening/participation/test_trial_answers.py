"""Comparison trials (CCR, AB, ABX, SMOS) on the listener's side: opening a study of each type,
the trial page, its sounds, the answer POST and its refusals, and the checks per type."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from listening.errors import ServiceError
from listening.models import Listener, PlaylistItem, Rating, System, TrialClip
from listening.participation import answers, refusals, selectors
from listening.participation.views_trials import SOUND_SALT
from listening.studies.lifecycle import study_open
from tests.factories import (
    consented_client,
    hidden_fields,
    rate_page,
    rating_listener,
    served_earlier,
)
from tests.trial_factories import correct_answer, open_trial_study

pytestmark = pytest.mark.django_db

TYPES = ["ccr", "ab", "abx", "smos"]


def post_answer(client, study, listener, fields, answer, *, age=5.0, plays=None, played=0.4):
    served_earlier(listener, age, missing_ok=True)  # some tests post a used-up page again
    data = {"page": fields["page"], "item_0": fields["item_0"], "ended_0": "900"}
    n = sum(1 for key in fields if key.startswith("plays_0_"))
    for k in range(n):
        data[f"plays_0_{k}"] = 1 if plays is None else plays[k]
        data[f"played_0_{k}"] = played
    if answer is not None:
        data["answer_0"] = answer
    return client.post(f"/t/{study.slug}/rate/", data)


def submit(listener, item, answer, **overrides):
    """Answer a trial as the page would after every sound played to its end."""
    clips = list(item.trial_clips.select_related("clip"))
    total = sum(c.clip.duration_s or 0 for c in clips)
    now = timezone.now()
    fields = dict(
        listener=listener,
        item_id=item.pk,
        answer=answer,
        play_counts=[1] * len(clips),
        played=[c.clip.duration_s or 0 for c in clips],
        first_play_ended_at=now - timedelta(seconds=1),
        page_issued_at=now - timedelta(seconds=total + 2),
    )
    fields.update(overrides)
    return answers.trial_answer_submit(**fields)


def answer_until(listener, study, purpose: str) -> PlaylistItem | None:
    """Answer attentively up to the first trial of ``purpose``; return it (None: none)."""
    while (item := selectors.listener_next_item(listener=listener)) is not None:
        if item.purpose == purpose:
            return item
        submit(listener, item, correct_answer(item, study))
        listener.refresh_from_db()
    return None


# --- Opening ----------------------------------------------------------------------------------


@pytest.mark.parametrize("test_type", TYPES)
def test_opening_writes_each_trial_with_its_clips_in_roles(test_type):
    study = open_trial_study(test_type)
    items = PlaylistItem.objects.filter(playlist__study=study)
    roles = {"ccr": ["a", "b"], "ab": ["a", "b"], "abx": ["a", "b", "x"]}
    roles["smos"] = ["reference", "test"]
    assert items.filter(purpose="test").exists() and items.filter(purpose="gold").exists()
    for item in items:
        clips = list(item.trial_clips.order_by("position"))
        assert [c.role for c in clips] == roles[test_type]
        # The rated clip is set for SMOS only (its test clip), never for a comparison.
        if test_type == "smos":
            assert item.clip_id == clips[1].clip_id
        else:
            assert item.clip_id is None
    reference = System.objects.get(study=study, name="system-0")
    if test_type == "ccr":  # against the reference: every test trial holds the reference
        for item in items.filter(purpose="test"):
            assert reference.pk in {c.clip.system_id for c in item.trial_clips.all()}


def test_acr_opening_is_unchanged_one_test_clip_per_trial():
    study = open_trial_study("acr")
    for item in PlaylistItem.objects.filter(playlist__study=study):
        assert [(c.role, c.clip_id) for c in item.trial_clips.all()] == [("test", item.clip_id)]


@pytest.mark.parametrize(
    "test_type, fields, change, message",
    [
        ("ccr", {}, "no_reference", "natural recordings"),
        ("smos", {}, "no_reference", "natural recordings"),
        ("ab", {"n_systems": 1}, None, "add another system"),
        ("abx", {"n_systems": 1}, None, "add another system"),
        ("smos", {"n_sentences": 1, "reference_text": "different"}, None, "two sentences"),
    ],
)
def test_a_study_that_cannot_run_is_refused_naming_the_fix(test_type, fields, change, message):
    study = open_trial_study(test_type, opened=False, **fields)
    if change == "no_reference":
        System.objects.filter(study=study, name="system-0").update(kind=System.Kind.UPLOADED)
        study.reference_system = None
        study.save(update_fields=["reference_system"])
    with pytest.raises(ServiceError, match=message):
        study_open(study=study)
    study.refresh_from_db()
    assert study.status == study.Status.READY and not study.playlists.exists()


# --- The page and its sounds -------------------------------------------------------------------


@pytest.mark.parametrize(
    "test_type, values, words",
    [
        ("ccr", ["3", "0", "-3"], ["Much better", "About the same", "Much worse"]),
        ("ab", ["a", "b", "tie"], ["A is better", "B is better", "No preference"]),
        ("abx", ["a", "b"], ["X is A", "X is B"]),
        ("smos", ["5", "1"], ["How similar are the two voices?", "Extremely similar"]),
    ],
)
def test_trial_page_offers_the_answers_of_its_type_and_names_nothing(test_type, values, words):
    study = open_trial_study(test_type)
    client, listener = consented_client(study)
    html, fields = rate_page(client, study)
    item = selectors.listener_next_item(listener=listener)
    assert fields["item_0"] == str(item.pk)
    for value in values:
        assert f'name="answer_0" value="{value}"' in html
    for word in words:
        assert word in html
    assert '<fieldset class="acr answer answer-' in html and "disabled>" in html
    n_clips = item.trial_clips.count()
    assert sum(1 for key in fields if key.startswith("plays_0_")) == n_clips
    assert len(re.findall(r'<audio src="/t/[^/]+/sound/[^/"]+/"', html)) == n_clips
    for system in study.systems.all():
        assert system.name not in html
    for sentence in study.sentences.all():
        assert sentence.text not in html
    for clip in TrialClip.objects.filter(trial__playlist__study=study).select_related("clip"):
        assert clip.clip.token not in html


def test_ab_without_ties_offers_no_no_preference():
    study = open_trial_study("ab", allow_tie=False)
    client, _listener = consented_client(study)
    html, _fields = rate_page(client, study)
    assert "No preference" not in html and 'value="tie"' not in html


def test_own_scale_labels_replace_the_standard_ones():
    labels = ["Same speaker", "Likely same", "Unsure", "Likely other", "Other speaker"]
    study = open_trial_study("smos", scale_labels=labels)
    client, _listener = consented_client(study)
    html, _fields = rate_page(client, study)
    assert all(label in html for label in labels) and "Extremely similar" not in html


def test_a_clip_heard_twice_in_a_trial_has_two_addresses_and_only_its_listener_hears_it():
    study = open_trial_study("ccr")
    client, listener = consented_client(study)
    gold = PlaylistItem.objects.filter(playlist__listener=listener, purpose="gold").first()
    first, second = gold.trial_clips.order_by("position")
    assert first.clip_id == second.clip_id  # the identical pair
    urls = [
        f"/t/{study.slug}/sound/{signing.dumps(c.pk, salt=SOUND_SALT)}/" for c in (first, second)
    ]
    assert urls[0] != urls[1]
    bodies = [client.get(url) for url in urls]
    assert [r.status_code for r in bodies] == [200, 200]
    assert bodies[0]["ETag"] != bodies[1]["ETag"]
    assert b"".join(bodies[0].streaming_content) == b"".join(bodies[1].streaming_content)
    stranger, _other = consented_client(study)
    assert stranger.get(urls[0]).status_code == 403
    assert client.get(urls[0][:-2] + "x/").status_code == 403
    other_trial = (
        TrialClip.objects.exclude(trial__playlist__listener=listener)
        .filter(trial__playlist__study=study)
        .first()
    )
    url = f"/t/{study.slug}/sound/{signing.dumps(other_trial.pk, salt=SOUND_SALT)}/"
    assert client.get(url).status_code == 403


# --- The answer POST -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "test_type, answer, score, choice",
    [
        ("ccr", "-2", -2, ""),
        ("ab", "tie", None, "tie"),
        ("abx", "b", None, "b"),
        ("smos", "4", 4, ""),
    ],
)
def test_an_answer_is_recorded_with_its_type_plays_per_clip_and_server_times(
    test_type, answer, score, choice
):
    study = open_trial_study(test_type, training_clips=0)
    client, listener = consented_client(study)
    _html, fields = rate_page(client, study)
    item = PlaylistItem.objects.get(pk=fields["item_0"])
    n = item.trial_clips.count()
    if item.purpose == "gold":  # the gold check's own answer, to keep this about recording
        answer = correct_answer(item, study)
        score = int(answer) if test_type in ("ccr", "smos") else None
        choice = "" if test_type in ("ccr", "smos") else answer
    response = post_answer(client, study, listener, fields, answer, plays=[2] + [1] * (n - 1))
    assert response.status_code == 302, response.content[:400]
    rating = Rating.objects.get(listener=listener, item=item)
    assert (rating.test_type, rating.score, rating.choice) == (test_type, score, choice)
    assert rating.play_counts == [2] + [1] * (n - 1) and rating.play_count == n + 1
    assert rating.clip_id == (item.clip_id if test_type == "smos" else None)
    total = sum(c.clip.duration_s for c in item.trial_clips.all())
    assert rating.earliest_answer_at == rating.served_at + timedelta(seconds=total)
    assert rating.response_seconds >= 0


@pytest.mark.parametrize(
    "test_type, fields, answer",
    [
        ("ccr", {}, "4"),
        ("ccr", {}, "much better"),
        ("smos", {}, "0"),
        ("smos", {}, "6"),
        ("ab", {"allow_tie": False}, "tie"),
        ("ab", {}, "c"),
        ("abx", {}, "tie"),
        ("abx", {}, None),
    ],
)
def test_an_answer_outside_the_type_is_refused_and_nothing_changes(test_type, fields, answer):
    study = open_trial_study(test_type, **fields)
    client, listener = consented_client(study)
    _html, page = rate_page(client, study)
    response = post_answer(client, study, listener, page, answer)
    assert response.status_code == 400
    assert "choose" in response.content.decode()
    assert not Rating.objects.exists()


@pytest.mark.parametrize("test_type", TYPES)
def test_an_answer_before_every_sound_could_have_ended_is_refused(test_type):
    study = open_trial_study(test_type, seconds=20.0, training_clips=0, attention_check_rate=0)
    client, listener = consented_client(study)
    _html, page = rate_page(client, study)
    # Clips of 20 s play one after the other: 25 s after serving is too early for two (or
    # three), though any one of them alone could have ended (and each says it was heard).
    answer = "a" if "ab" in test_type else "1"
    response = post_answer(client, study, listener, page, answer, age=25.0, played=20.0)
    assert response.status_code == 400
    assert "to its end" in response.content.decode()
    assert not Rating.objects.exists()


@pytest.mark.parametrize("plays", [[1, 0], [0, 1]])
def test_an_answer_with_a_sound_never_played_is_refused(plays):
    study = open_trial_study("ab")
    client, listener = consented_client(study)
    _html, page = rate_page(client, study)
    response = post_answer(client, study, listener, page, "a", plays=plays)
    assert response.status_code == 400
    assert not Rating.objects.exists()


def test_a_replayed_post_is_refused_politely_and_the_first_answer_kept():
    study = open_trial_study("abx")
    client, listener = consented_client(study)
    _html, page = rate_page(client, study)
    assert post_answer(client, study, listener, page, "a").status_code == 302
    again = post_answer(client, study, listener, page, "b")
    assert again.status_code == 409
    assert "already" in again.content.decode()
    assert list(Rating.objects.values_list("choice", flat=True)) == ["a"]


def test_a_page_token_of_another_trial_is_refused():
    study = open_trial_study("ccr")
    client, listener = consented_client(study)
    _html, page = rate_page(client, study)
    other = PlaylistItem.objects.filter(playlist__listener=listener).exclude(pk=page["item_0"])
    forged = dict(page, item_0=str(other.first().pk))
    response = post_answer(client, study, listener, forged, "0")
    assert response.status_code == 409 and "out of date" in response.content.decode()
    assert not Rating.objects.exists()


def test_a_whole_session_completes_with_the_completion_code():
    study = open_trial_study("smos", reference_text="different")
    client, listener = consented_client(study)
    while True:
        response = client.get(f"/t/{study.slug}/rate/")
        if response.status_code != 200:
            break
        page = hidden_fields(response.content.decode())
        item = PlaylistItem.objects.get(pk=page["item_0"])
        assert (
            post_answer(client, study, listener, page, correct_answer(item, study)).status_code
            == 302
        )
    listener.refresh_from_db()
    assert listener.stage == Listener.Stage.COMPLETED and listener.attention_failures == 0
    assert "HARKEN-42" in client.get(f"/t/{study.slug}/done/").content.decode()
    assert Rating.objects.filter(listener=listener).count() == listener.playlist.items.count()


# --- Attention checks per type -------------------------------------------------------------------


@pytest.mark.parametrize(
    "test_type, answer, fails",
    [
        ("ccr", "0", False),
        ("ccr", "1", False),  # one category off an identical pair: a judgement, not inattention
        ("ccr", "-2", True),
        ("smos", "5", False),
        ("smos", "3", True),
        ("ab", "expected", False),
        ("ab", "other", True),
        ("ab", "tie", True),
        ("abx", "expected", False),
        ("abx", "other", True),
    ],
)
def test_gold_trials_count_a_failure_for_an_answer_the_type_does_not_expect(
    test_type, answer, fails
):
    study = open_trial_study(test_type, max_attention_failures=0)
    listener = rating_listener(study)
    gold = answer_until(listener, study, "gold")
    assert gold is not None
    if answer == "expected":
        answer = gold.expected_choice
    elif answer == "other":
        answer = "b" if gold.expected_choice == "a" else "a"
    submit(listener, gold, answer)
    listener.refresh_from_db()
    assert (listener.attention_failures, listener.flagged) == ((1, True) if fails else (0, False))


@pytest.mark.parametrize("consistent", [True, False])
def test_ab_without_reference_and_anchor_repeats_a_trial_swapped_and_checks_the_system(consistent):
    study = open_trial_study("ab", anchors=(), clips_per_listener=4, attention_check_rate=0.3)
    listener = rating_listener(study)
    repeat = answer_until(listener, study, "repeat")  # every test trial so far answered "a"
    assert repeat is not None
    clips = [c.clip_id for c in repeat.trial_clips.order_by("position")]
    source = next(
        r.item
        for r in Rating.objects.filter(listener=listener, purpose="test")
        if [c.clip_id for c in r.item.trial_clips.order_by("position")] == clips[::-1]
    )
    assert repeat.position - source.position >= 3
    # "a" first time named the source's A clip, which the repeat plays as B.
    submit(listener, repeat, "b" if consistent else "a")
    listener.refresh_from_db()
    assert listener.attention_failures == (0 if consistent else 1)


def test_the_service_refuses_a_trial_not_next_on_the_page():
    study = open_trial_study("ccr")
    listener = rating_listener(study)
    later = PlaylistItem.objects.filter(playlist__listener=listener).order_by("-position").first()
    with pytest.raises(refusals.ItemOutOfOrderError):
        submit(listener, later, "0")
    assert not Rating.objects.exists()


def test_the_welcome_page_describes_comparisons_and_counts_every_sound():
    study = open_trial_study("abx", seconds=20.0)
    html = Client().get(f"/t/{study.slug}/").content.decode()
    assert "You will compare short sounds of speech" in html
    assert "practice comparison" in html and "For each clip you answer" not in html
    # The estimate counts all three sounds of each ABX trial: more minutes than one clip each.
    size = selectors.study_task_size(study=study)
    assert size["comparison"] is True
    TrialClip.objects.filter(trial__playlist__study=study).exclude(role="a").delete()
    cache.clear()  # the size is cached per opening; this study changed under it
    fewer = selectors.study_task_size(study=study)
    assert fewer["rated_max"] == size["rated_max"] and fewer["minutes"] < size["minutes"]
