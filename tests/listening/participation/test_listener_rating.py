"""Rating pages: what they show, what a rating records, and every refusal (nothing changes)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone
from prometheus_client import REGISTRY

from listening.models import Listener, Playlist, PlaylistItem, Rating, Sentence, System
from listening.participation import refusals, selectors
from listening.participation.page_tokens import RATE_PAGE_SALT
from listening.studies.lifecycle import study_close
from tests.factories import (
    consented_client,
    open_study,
    rate,
    rate_everything,
    rate_page,
    rating_listener,
    served_earlier,
)

pytestmark = pytest.mark.django_db


def aged(token: str, seconds: float) -> str:
    """The page the token names, as if the server had served it ``seconds`` earlier (a listener
    who took their time): the served time lives on the server, not in the token."""
    payload = signing.loads(token, salt=RATE_PAGE_SALT)
    listener = Listener.objects.get(token=payload["l"])
    if listener.current_page.get("nonce") == payload["n"]:
        served_earlier(listener, seconds)
    return token


@pytest.fixture
def study():
    return open_study(slug="rating")


def post_page(client, study, fields, scores, *, age=5.0, plays=1, ended_ms=1000, played=0.6):
    """POST the page as the script would, the page having been issued ``age`` seconds ago."""
    data = {k: v for k, v in fields.items() if k.startswith(("item_", "clip_"))}
    data["page"] = aged(fields["page"], age)
    for n, score in enumerate(scores):
        if score is not None:
            data[f"score_{n}"] = score
        data[f"plays_{n}"] = plays
        data[f"played_{n}"] = played
        data[f"ended_{n}"] = "" if ended_ms is None else ended_ms
    return client.post(f"/t/{study.slug}/rate/", data)


def snapshot():
    return list(Rating.objects.order_by("pk").values_list("pk", "item_id", "score", "play_count"))


def listener_state(listener):
    listener.refresh_from_db()
    return (listener.stage, listener.attention_failures, listener.flagged)


# --- The page --------------------------------------------------------------------------------


def test_rating_page_shows_the_acr_scale_and_nothing_that_identifies_the_clip(study):
    client, listener = consented_client(study)
    html, fields = rate_page(client, study)
    item = selectors.listener_next_item(listener=listener)
    for value, label in [(5, "Excellent"), (4, "Good"), (3, "Fair"), (2, "Poor"), (1, "Bad")]:
        assert re.search(
            rf'value="{value}" required><span class="acr-key">{value}</span>'
            rf'<span class="acr-label">{label}</span>',
            html,
        )
    assert '<fieldset class="acr" disabled>' in html  # unlocked by the script after the end
    assert f'src="/t/{study.slug}/clip/{item.clip.token}/"' in html
    assert "<progress" in html and '<label for="progress">' in html
    assert "<title>Listening test</title>" in html
    for system in System.objects.filter(study=study):
        assert system.name not in html
    for sentence in Sentence.objects.filter(study=study):
        assert sentence.text not in html and f"/{sentence.key}" not in html
    assert fields["item_0"] == str(item.pk)
    assert "Practice" in html  # the study has a training clip first


def test_valid_rating_is_recorded_with_server_side_response_time(study):
    client, listener = consented_client(study)
    _, fields = rate_page(client, study)
    response = post_page(client, study, fields, [4], age=5.0, ended_ms=1200, plays=2)
    assert response.status_code == 302
    rating = Rating.objects.get()
    assert rating.score == 4
    assert rating.purpose == "training"
    assert rating.play_count == 2
    assert rating.played_seconds == pytest.approx(0.6)
    # Served 5 s ago, the clip lasts 0.6 s: on the server's clock about 4.4 s. The browser
    # says its play ended 1.2 s after loading: about 3.8 s, kept as information only.
    assert rating.response_seconds == pytest.approx(4.4, abs=0.3)
    assert rating.client_response_seconds == pytest.approx(3.8, abs=0.3)


def test_training_comes_first_and_is_not_counted(study):
    listener = rating_listener(study)
    items = list(listener.playlist.items.order_by("position"))
    assert items[0].purpose == "training"
    assert listener.stage == Listener.Stage.TRAINING
    rate(listener, items[0], 5)
    listener.refresh_from_db()
    assert listener.stage == Listener.Stage.RATING
    assert Rating.objects.get().purpose == "training"


# --- Refusals: each one has a clear message and changes nothing --------------------------------


def test_replayed_post_is_refused_and_the_first_answer_kept(study):
    client, listener = consented_client(study)
    _, fields = rate_page(client, study)
    data_first = post_page(client, study, fields, [4])
    assert data_first.status_code == 302
    before, state = snapshot(), listener_state(listener)
    again = post_page(client, study, fields, [1])
    assert again.status_code == 409
    assert "already been rated" in again.content.decode()
    assert snapshot() == before and listener_state(listener) == state


def test_second_tab_cannot_rate_the_same_clip_again(study):
    client, listener = consented_client(study)
    _, tab_one = rate_page(client, study)
    _, tab_two = rate_page(client, study)  # serving the page again retires tab one's copy
    response = post_page(client, study, tab_one, [3])
    assert response.status_code == 409
    assert "another tab" in response.content.decode()
    assert not Rating.objects.exists()
    assert post_page(client, study, tab_two, [5]).status_code == 302
    before = snapshot()
    response = post_page(client, study, tab_two, [1])
    assert response.status_code == 409
    assert "another tab" in response.content.decode()
    assert snapshot() == before
    assert Rating.objects.get().score == 5


def forged_token(listener, fields):
    fields["clip_0"] = "AAAAAAAAAAAAAAAAAAAAAA"


def clip_of_another_playlist(listener, fields):
    foreign = PlaylistItem.objects.exclude(playlist__listener=listener).select_related("clip")
    foreign = foreign.exclude(clip__in=listener.playlist.items.values("clip")).first()
    fields["item_0"], fields["clip_0"] = str(foreign.pk), foreign.clip.token


def skipping_ahead(listener, fields):
    later = listener.playlist.items.order_by("-position").first()
    fields["item_0"], fields["clip_0"] = str(later.pk), later.clip.token


@pytest.mark.parametrize(
    ("tamper", "status", "message"),
    [
        (forged_token, 403, "not part of your listening test"),
        # The page token names the page's items: any other item is refused with the token.
        (clip_of_another_playlist, 409, "not issued to you"),
        (skipping_ahead, 409, "not issued to you"),
    ],
    ids=["forged clip token", "clip of another playlist", "skipping ahead"],
)
def test_a_tampered_rating_is_refused_and_nothing_is_saved(study, tamper, status, message):
    client, listener = consented_client(study)
    _, fields = rate_page(client, study)
    tamper(listener, fields)
    response = post_page(client, study, fields, [4])
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Rating.objects.exists()


@pytest.mark.parametrize(
    "plays, ended_ms, played, age",
    [
        (0, None, 0.0, 5.0),  # never played
        (1, None, 0.3, 5.0),  # started, never reached the end
        (1, 1000, 0.1, 5.0),  # reports an end but barely any listening
        (1, 700, 0.6, 0.0),  # claims a full play, but the page was issued just now
    ],
)
def test_rating_before_the_clip_has_played_to_its_end_is_refused(
    study, plays, ended_ms, played, age
):
    client, listener = consented_client(study)
    _, fields = rate_page(client, study)
    state = listener_state(listener)
    response = post_page(
        client, study, fields, [4], plays=plays, ended_ms=ended_ms, played=played, age=age
    )
    assert response.status_code == 400
    assert "listen to the clip to its end" in response.content.decode()
    assert not Rating.objects.exists()
    assert listener_state(listener) == state


@pytest.mark.parametrize("score", ["0", "6", "x", "", "4.5", None])
def test_score_outside_the_scale_is_refused(study, score):
    client, _ = consented_client(study)
    _, fields = rate_page(client, study)
    response = post_page(client, study, fields, [score])
    assert response.status_code == 400
    assert "from 1 (Bad) to 5 (Excellent)" in response.content.decode()
    assert not Rating.objects.exists()


def test_page_issued_to_another_listener_is_refused(study):
    client_a, _ = consented_client(study)
    client_b, _ = consented_client(study)
    _, fields_a = rate_page(client_a, study)
    response = post_page(client_b, study, fields_a, [4])
    assert response.status_code == 409
    assert "not issued to you" in response.content.decode()
    assert not Rating.objects.exists()


def test_tampered_page_token_is_refused(study):
    client, _ = consented_client(study)
    _, fields = rate_page(client, study)
    data = {k: v for k, v in fields.items() if k.startswith(("item_", "clip_"))}
    data.update(page=fields["page"] + "x", score_0="4", plays_0="1", played_0="1", ended_0="900")
    response = client.post(f"/t/{study.slug}/rate/", data)
    assert "out of date" in response.content.decode()
    assert not Rating.objects.exists()


def test_service_refuses_an_item_of_another_playlist_directly(study):
    listener = rating_listener(study)
    other = PlaylistItem.objects.exclude(playlist=listener.playlist).first()
    with pytest.raises(refusals.ItemNotInPlaylistError):
        rate(listener, other, 3, clip_token=other.clip.token)
    assert not Rating.objects.exists()


# --- Attention checks, completion ------------------------------------------------------------


def test_attention_checks_count_failures_and_flag_beyond_the_threshold(db):
    study = open_study(
        slug="attention", attention_check_rate=0.45, n_sentences=6, clips_per_listener=6
    )
    listener = rating_listener(study)
    purposes = list(listener.playlist.items.values_list("purpose", flat=True))
    assert "gold" in purposes and "repeat" in purposes

    def careless(item):
        if item.purpose == "gold":
            return item.expected_score % 5 + 1  # never the expected answer
        if item.purpose == "repeat":
            return 1  # test items get 5 below: a difference of 4
        return 5

    rate_everything(listener, careless)
    listener.refresh_from_db()
    checks = sum(p in ("gold", "repeat") for p in purposes)
    assert listener.attention_failures == checks
    assert listener.flagged == (checks > study.max_attention_failures)
    assert listener.stage == Listener.Stage.COMPLETED  # flagged listeners still finish


def test_attentive_listener_is_not_flagged(db):
    study = open_study(slug="attentive", attention_check_rate=0.45, n_sentences=6)
    listener = rating_listener(study)
    scores = {}

    def attentive(item):
        if item.purpose == "repeat":
            return max(1, scores[item.clip_id] - 1)  # within max_repeat_difference (1)
        score = item.expected_score or 4
        scores[item.clip_id] = score
        return score

    rate_everything(listener, attentive)
    listener.refresh_from_db()
    assert (listener.attention_failures, listener.flagged) == (0, False)


def _repeat_first(playlist) -> PlaylistItem:
    """Move the playlist's first repeat before the test item of the same clip (an order the
    design never makes, but which the rating service handles) and return that repeat."""
    repeat = playlist.items.filter(purpose="repeat").order_by("position").first()
    assert repeat is not None, "the design gave this playlist no repeated clip"
    test = playlist.items.get(purpose="test", clip_id=repeat.clip_id)
    assert test.position < repeat.position
    first, second = test.position, repeat.position
    PlaylistItem.objects.filter(pk=repeat.pk).update(position=30000)  # positions are unique
    PlaylistItem.objects.filter(pk=test.pk).update(position=second)
    PlaylistItem.objects.filter(pk=repeat.pk).update(position=first)
    repeat.refresh_from_db()
    return repeat


@pytest.mark.parametrize(
    ("repeat_score", "test_score", "failures"),
    [(5, 1, 1), (5, 4, 0)],
    ids=["inconsistent", "within max_repeat_difference"],
)
def test_a_repeat_met_before_its_test_item_is_judged_when_the_test_rating_arrives(
    db, repeat_score, test_score, failures
):
    study = open_study(
        slug="repeat-first", attention_check_rate=0.45, n_sentences=6, clips_per_listener=6
    )
    listener = rating_listener(study)
    repeat = _repeat_first(listener.playlist)

    def score_for(item):
        if item.clip_id != repeat.clip_id:
            return item.expected_score or 4
        return repeat_score if item.purpose == "repeat" else test_score

    while (item := selectors.listener_next_item(listener=listener)) is not None:
        rate(listener, item, score_for(item))
        listener.refresh_from_db()
        if item.pk == repeat.pk:
            # Nothing to compare the repeat with yet: no failure, whatever its score.
            assert listener.attention_failures == 0
    assert listener.attention_failures == failures
    assert listener.flagged == (failures > study.max_attention_failures)
    assert listener.stage == Listener.Stage.COMPLETED


def test_last_rating_completes_listener_and_playlist(study, django_capture_on_commit_callbacks):
    listener = rating_listener(study)
    counted = listener.playlist.items.filter(purpose="test").count()
    before = REGISTRY.get_sample_value("harken_ratings_submitted_total", {"study": study.slug})
    with django_capture_on_commit_callbacks(execute=True):
        rate_everything(listener)
    after = REGISTRY.get_sample_value("harken_ratings_submitted_total", {"study": study.slug})
    assert after - (before or 0) == counted  # test ratings only: not training nor checks
    listener.refresh_from_db()
    playlist = Playlist.objects.get(pk=listener.playlist.pk)
    assert listener.stage == Listener.Stage.COMPLETED and listener.completed_at
    assert playlist.status == Playlist.Status.COMPLETED and playlist.completed_at
    assert Rating.objects.filter(listener=listener).count() == playlist.items.count()
    with pytest.raises(refusals.AlreadyRatedError, match="already finished"):
        rate(listener, playlist.items.first(), 3)


def test_completion_shows_the_code_to_paste_for_mturk(study):
    client, listener = consented_client(study, "?workerId=W1&assignmentId=A1&hitId=H1")
    rate_everything(listener)
    response = client.get(f"/t/{study.slug}/rate/")
    assert response["Location"] == f"/t/{study.slug}/done/"
    page = client.get(f"/t/{study.slug}/done/").content.decode()
    assert "HARKEN-42" in page and "paste it into the HIT" in page


def test_prolific_listener_is_sent_to_the_completion_url(db):
    url = "https://app.prolific.com/submissions/complete?cc=C1234"
    study = open_study(slug="prolific-done", completion_url=url)
    client, listener = consented_client(study, "?PROLIFIC_PID=P1&STUDY_ID=S&SESSION_ID=X")
    rate_everything(listener)
    response = client.get(f"/t/{study.slug}/done/")
    assert response.status_code == 302 and response["Location"] == url


def test_completion_code_is_still_shown_after_the_study_closes(study):
    client, listener = consented_client(study)
    rate_everything(listener)
    study_close(study=study)
    assert "HARKEN-42" in client.get(f"/t/{study.slug}/done/").content.decode()


def test_replayed_last_post_after_completion_is_refused_with_a_message(study):
    client, listener = consented_client(study)
    while True:
        _, fields = rate_page(client, study)
        item = PlaylistItem.objects.get(pk=fields["item_0"])
        response = post_page(client, study, fields, [item.expected_score or 3])
        assert response.status_code == 302
        if response["Location"].endswith("/done/"):
            break
    before = snapshot()
    again = post_page(client, study, fields, [1])
    assert again.status_code == 409
    assert "already finished" in again.content.decode()
    assert snapshot() == before


# --- The server knows when a page was served --------------------------------------------------


def test_page_token_cannot_carry_another_page_and_is_used_once(study):
    """Today's code accepted page 2 posted with page 1's token and a client-chosen ended_0,
    0.02 s after page 2 was served."""
    client, listener = consented_client(study)
    _, page_one = rate_page(client, study)
    assert post_page(client, study, page_one, [4]).status_code == 302
    _, page_two = rate_page(client, study)
    forged = dict(page_two, page=page_one["page"])
    response = post_page(client, study, forged, [4], age=0.0, ended_ms=600)
    assert response.status_code == 409
    assert Rating.objects.count() == 1
    # Its own token, posted at once with a made-up end of play: the clip (0.6 s) cannot have
    # ended yet on the server's clock.
    response = post_page(client, study, page_two, [4], age=0.0, ended_ms=600)
    assert response.status_code == 400
    assert "listen to the clip to its end" in response.content.decode()
    assert post_page(client, study, page_two, [4], age=2.0).status_code == 302
    assert Rating.objects.count() == 2


def test_response_time_comes_from_server_facts(study):
    client, listener = consented_client(study)
    _, fields = rate_page(client, study)
    # The browser says it ended at 50 s (impossible; clamped) and took 0 s to answer.
    response = post_page(client, study, fields, [4], age=5.0, ended_ms=50_000)
    assert response.status_code == 302
    rating = Rating.objects.get()
    duration = rating.clip.duration_s
    assert rating.served_at is not None
    assert rating.earliest_answer_at == rating.served_at + timedelta(seconds=duration)
    assert rating.response_seconds == pytest.approx(5.0 - duration, abs=0.5)
    assert rating.client_response_seconds == pytest.approx(0.0, abs=0.1)


def test_page_token_expires_with_the_study_timeout(study):
    client, listener = consented_client(study)
    _, fields = rate_page(client, study)
    response = post_page(client, study, fields, [4], age=study.listener_timeout_minutes * 60 + 5)
    assert response.status_code == 409
    assert not Rating.objects.exists()


# --- Several clips per page -------------------------------------------------------------------


def test_several_clips_per_page_each_get_a_scale_and_save_together(db):
    study = open_study(
        slug="multi", clips_per_page=2, training_clips=0, gold=False, attention_check_rate=0.0
    )
    client, listener = consented_client(study)
    html, fields = rate_page(client, study)
    assert html.count('<fieldset class="acr" disabled>') == 2
    assert "Your rating of clip 2" in html
    # One bad score: the whole page is refused, the good one is not saved either.
    response = post_page(client, study, fields, [4, "9"])
    assert response.status_code == 400
    assert not Rating.objects.exists()
    assert post_page(client, study, fields, [4, 2]).status_code == 302
    assert sorted(Rating.objects.values_list("score", flat=True)) == [2, 4]
    _, page_two = rate_page(client, study)
    assert {page_two["item_0"], page_two["item_1"]}.isdisjoint({fields["item_0"], fields["item_1"]})


# --- A released playlist ---------------------------------------------------------------------


def test_listener_whose_playlist_was_released_is_told_and_keeps_their_ratings(db):
    study = open_study(slug="released", ratings_per_clip=1, n_sentences=2, clips_per_listener=4)
    client, slow = consented_client(study)
    _, fields = rate_page(client, study)
    assert post_page(client, study, fields, [4]).status_code == 302
    Playlist.objects.filter(listener=slow).update(
        claimed_at=timezone.now() - timedelta(minutes=study.listener_timeout_minutes + 1)
    )
    newcomer = rating_listener(study, "NEW")
    slow.refresh_from_db()
    assert not Playlist.objects.filter(listener=slow).exists()
    assert Playlist.objects.filter(listener=newcomer, times_released=1).exists()
    response = client.get(f"/t/{study.slug}/rate/")
    assert response.status_code == 410
    assert "timed out" in response.content.decode()
    assert Rating.objects.filter(listener=slow).count() == 1  # kept as valid ratings
