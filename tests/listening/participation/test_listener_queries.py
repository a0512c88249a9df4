"""The listener path at crowd scale: a rating POST, a rating page and a clip's audio each run
a handful of queries, and none of them waits on a row that other listeners share."""

from __future__ import annotations

import re
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection, transaction
from django.test import Client

from listening.models import Listener, Playlist, Rating, Study
from listening.participation.playlists import listener_lock, playlist_for_answer
from tests.conftest import require
from tests.factories import open_study, pass_checks, served_earlier

# Not inside a test transaction: the view's transaction is then the outermost one, as in
# production, and the counts hold no SAVEPOINT of the test's own making.
pytestmark = pytest.mark.django_db(transaction=True)

MAX_QUERIES = 5


@contextmanager
def at_most(n: int, django_assert_max_num_queries):
    """At most ``n`` SQL statements besides the BEGIN and COMMIT of at most one transaction
    (Django 5.2 lists those two as well)."""
    with django_assert_max_num_queries(n + 2) as captured:
        yield
    sqls = [q["sql"] for q in captured.captured_queries]
    assert sqls.count("BEGIN") <= 1, sqls
    statements = [sql for sql in sqls if sql not in ("BEGIN", "COMMIT")]
    assert len(statements) <= n, "\n\n".join(statements)


FIELD_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def listener_client(study: Study) -> tuple[Client, Listener]:
    client = Client()
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    listener = pass_checks(Listener.objects.order_by("-pk").first())
    return client, listener


def page_fields(client: Client, study: Study) -> dict[str, str]:
    response = client.get(f"/t/{study.slug}/rate/")
    assert response.status_code == 200, response.content[:300]
    return dict(FIELD_RE.findall(response.content.decode()))


def answers(fields: dict[str, str], score: int = 4) -> dict[str, str]:
    data = {k: v for k, v in fields.items() if k.startswith(("item_", "clip_", "page"))}
    for key in [k for k in fields if k.startswith("item_")]:
        n = key[5:]
        data.update({f"score_{n}": score, f"plays_{n}": 1, f"played_{n}": 5, f"ended_{n}": 900})
    return data


def rate_page(client: Client, study: Study, listener: Listener, fields: dict[str, str]):
    served_earlier(listener, 30.0)
    return client.post(f"/t/{study.slug}/rate/", answers(fields))


@pytest.fixture
def study():
    # Practice, a gold item and repeats: every kind of item and check is on the path.
    return open_study(slug="crowd", clips_per_listener=6, attention_check_rate=0.4)


def test_rating_post_and_page_each_run_at_most_a_handful_of_queries(
    study, django_assert_max_num_queries
):
    client, listener = listener_client(study)
    fields = page_fields(client, study)  # the first page claims the place (more queries)
    assert rate_page(client, study, listener, fields).status_code == 302
    n_items = listener.playlist.items.count()
    for _page in range(1, n_items):
        with at_most(MAX_QUERIES, django_assert_max_num_queries):
            fields = page_fields(client, study)
        served_earlier(listener, 30.0)
        with at_most(MAX_QUERIES, django_assert_max_num_queries):
            response = client.post(f"/t/{study.slug}/rate/", answers(fields))
        assert response.status_code == 302, response.content[:300]
    # The last POST finished the playlist: every item rated once, the listener done.
    listener.refresh_from_db()
    assert listener.stage == Listener.Stage.COMPLETED
    assert Rating.objects.filter(listener=listener).count() == n_items
    assert Playlist.objects.get(listener=listener).status == Playlist.Status.COMPLETED


def test_a_page_of_several_clips_is_saved_in_a_handful_of_queries(django_assert_max_num_queries):
    study = open_study(slug="crowd-multi", clips_per_page=3, training_clips=0, gold=False)
    client, listener = listener_client(study)
    fields = page_fields(client, study)
    assert rate_page(client, study, listener, fields).status_code == 302
    fields = page_fields(client, study)
    assert len([k for k in fields if k.startswith("item_")]) > 1
    served_earlier(listener, 30.0)
    with at_most(MAX_QUERIES, django_assert_max_num_queries):
        response = client.post(f"/t/{study.slug}/rate/", answers(fields))
    assert response.status_code == 302
    assert Rating.objects.filter(listener=listener).count() == 3 + (
        len([k for k in fields if k.startswith("item_")])
    )


def test_a_clips_audio_is_checked_in_one_query(study, django_assert_max_num_queries):
    client, listener = listener_client(study)
    clip = listener.playlist.items.first().clip
    with at_most(1, django_assert_max_num_queries):
        response = client.get(f"/t/{study.slug}/clip/{clip.token}/")
    assert response.status_code == 200 and response["Content-Type"] == "audio/flac"
    # Another listener of the study, who holds no playlist yet: still refused.
    stranger = Client()
    stranger.post(f"/t/{study.slug}/", {"consent": "yes"})
    with at_most(2, django_assert_max_num_queries):
        assert stranger.get(f"/t/{study.slug}/clip/{clip.token}/").status_code == 403


def test_ratings_never_wait_on_the_study_row():
    """Another transaction holds the study's row (as an UPDATE of the study would): listeners
    still get their pages, their clips and save their ratings, since nothing on their path
    locks a row that every listener of the study shares."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    study = open_study(slug="crowd-lock", training_clips=0, gold=False, attention_check_rate=0.0)
    client, listener = listener_client(study)
    fields = page_fields(client, study)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as other:
        other.execute("SELECT id FROM listening_study WHERE id = %s FOR UPDATE", [study.pk])
        with connection.cursor() as cursor:
            # A wait for the study's row fails the request after 2 s instead of hanging.
            cursor.execute("SET lock_timeout = '2s'")
        try:
            assert rate_page(client, study, listener, fields).status_code == 302
            fields = page_fields(client, study)
            clip = fields["clip_0"]
            assert client.get(f"/t/{study.slug}/clip/{clip}/").status_code == 200
            assert rate_page(client, study, listener, fields).status_code == 302
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    assert Rating.objects.filter(listener=listener).count() == 2


def test_a_trial_answer_locks_its_playlist_not_the_study_row():
    """The comparison, MUSHRA and transcription answers lock the listener's playlist; through
    Playlist's default ordering (by study) that lock used to join, and hold, the study's row."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    study = open_study(slug="trial-lock", training_clips=0, gold=False, attention_check_rate=0.0)
    _client, listener = listener_client(study)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as other:
        other.execute("SELECT id FROM listening_study WHERE id = %s FOR UPDATE", [study.pk])
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            playlist = playlist_for_answer(listener_lock(listener))
    assert playlist.listener_id == listener.pk
