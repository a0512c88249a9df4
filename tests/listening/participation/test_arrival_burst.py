"""The arrival path at crowd scale: the welcome, questionnaire and headphone pages every new
listener opens are rendered once and shared (each visitor with their own CSRF token), a new
participant id costs no taking-part subqueries, and each request of the headphone check reads
the listener once, with its lock."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.test import Client

from listening.models import Listener, Study
from tests.factories import open_study

# Not inside a test transaction: the view's transaction is the outermost one, as in
# production, and the counts hold no SAVEPOINT of the test's own making.
pytestmark = pytest.mark.django_db(transaction=True)

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
ANSWERS = {"native_language": "Welsh", "age_band": "35-44", "device": "earbuds"}


@contextmanager
def statements(django_assert_max_num_queries, n: int):
    """At most ``n`` SQL statements besides one BEGIN and COMMIT (Django lists those too)."""
    with django_assert_max_num_queries(n + 2) as captured:
        yield
    sqls = [q["sql"] for q in captured.captured_queries]
    assert sqls.count("BEGIN") <= 1 and not any("SAVEPOINT" in sql for sql in sqls), sqls
    assert len([sql for sql in sqls if sql not in ("BEGIN", "COMMIT")]) <= n, sqls


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def form_post(client: Client, url: str, page: str, data: dict):
    token = CSRF_RE.search(page).group(1)
    return client.post(url, {**data, "csrfmiddlewaretoken": token})


@pytest.fixture
def study() -> Study:
    return open_study(slug="burst")


def test_shared_pages_carry_each_visitors_own_working_csrf_token(study):
    url = f"/t/{study.slug}/"
    first, second = csrf_client(), csrf_client()
    pages = [c.get(url).content.decode() for c in (first, second)]
    tokens = [CSRF_RE.search(page).group(1) for page in pages]
    assert tokens[0] != tokens[1] and "csrfmark" not in pages[0] + pages[1]
    for client, page in zip((first, second), pages):
        assert form_post(client, url, page, {"consent": "yes"}).status_code == 302
        about = client.get(url + "about-you/").content.decode()
        assert form_post(client, url + "about-you/", about, ANSWERS).status_code == 302
    assert Listener.objects.filter(stage=Listener.Stage.HEADPHONES).count() == 2
    # Another client's token does not pass: the page is shared, the token is not.
    third = csrf_client()
    third.get(url)
    assert third.post(url, {"consent": "yes", "csrfmiddlewaretoken": tokens[0]}).status_code == 403


def test_a_changed_study_shows_its_new_text_on_the_next_welcome(study):
    url = f"/t/{study.slug}/?PROLIFIC_PID=p1&SESSION_ID=s1"
    Client().get(url)
    study.instructions = "Listen **carefully** to every voice."
    study.save()
    assert "<strong>carefully</strong>" in Client().get(url).content.decode()


def test_a_new_participant_id_costs_a_few_short_statements(study, django_assert_max_num_queries):
    Client().get(f"/t/{study.slug}/?PROLIFIC_PID=warm&SESSION_ID=w")  # this process's copies
    link = f"/t/{study.slug}/?PROLIFIC_PID=new-one&STUDY_ID=x&SESSION_ID=s-1"
    client = Client()
    # The study's version, the id's attempts, the arrival count, a free playlist.
    with statements(django_assert_max_num_queries, 4):
        assert client.get(link).status_code == 200
    # The same reads, then the INSERT of a listener consented in it.
    with statements(django_assert_max_num_queries, 4):
        assert client.post(link, {"consent": "yes"}).status_code == 302
    assert Listener.objects.get(external_id="new-one").stage == Listener.Stage.QUESTIONNAIRE


def test_each_headphone_request_reads_the_listener_once(study, django_assert_max_num_queries):
    client = Client()
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    client.post(f"/t/{study.slug}/about-you/", ANSWERS)
    base = f"/t/{study.slug}/headphones/"
    with statements(django_assert_max_num_queries, 2):  # the locked read, the draw's UPDATE
        assert client.get(base).status_code == 200
    with statements(django_assert_max_num_queries, 2):
        assert client.post(base + "progress/", {"volume_done": "1"}).status_code == 200
    for index in range(2):
        with statements(django_assert_max_num_queries, 2):
            response = client.get(base + f"sound/{index}/")
        assert response.status_code == 200
        b"".join(response.streaming_content)
        with statements(django_assert_max_num_queries, 2):
            response = client.post(base + "progress/", {"trial": index, "answer": 2})
        assert response.json()["chosen"] == {str(i): 2 for i in range(index + 1)}
    with statements(django_assert_max_num_queries, 1):  # played before: nothing to write
        assert client.get(base + "sound/0/").status_code == 200
    check = Listener.objects.get().headphone_check
    assert check["played"] == [0, 1] and check["volume_done"] is True


def test_a_refused_progress_save_writes_nothing(study):
    client = Client()
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    client.post(f"/t/{study.slug}/about-you/", ANSWERS)
    base = f"/t/{study.slug}/headphones/"
    client.get(base)
    before = Listener.objects.get().headphone_check
    # Trial 3 was never played: refused, and the volume step sent with it is not saved either.
    response = client.post(base + "progress/", {"volume_done": "1", "trial": 3, "answer": 1})
    assert response.status_code == 409 and response.json()["ok"] is False
    assert Listener.objects.get().headphone_check == before


def test_a_check_under_way_is_rendered_with_the_listeners_own_state(study):
    """Only a check not begun is shared: a reload after answering shows this listener's
    answers and their step."""
    client = Client()
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    client.post(f"/t/{study.slug}/about-you/", ANSWERS)
    base = f"/t/{study.slug}/headphones/"
    assert 'data-step="volume"' in client.get(base).content.decode()
    b"".join(client.get(base + "sound/0/").streaming_content)
    client.post(base + "progress/", {"trial": 0, "answer": 3})
    page = client.get(base).content.decode()
    assert 'data-step="trials"' in page
    assert re.search(r'name="trial_0" value="3" required checked', page)
    other = Client()
    other.post(f"/t/{study.slug}/", {"consent": "yes"})
    other.post(f"/t/{study.slug}/about-you/", ANSWERS)
    fresh = other.get(base).content.decode()
    assert 'data-step="volume"' in fresh and " checked" not in fresh
