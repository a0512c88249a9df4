"""During a real database outage (the connection pointed at a port where no PostgreSQL
listens; the shared server is never stopped) a listener gets 503 with Retry-After and a page
that says to wait and reload, in their language, naming no host or port; any other failure
gets the friendly 500 page."""

from __future__ import annotations

import socket

import pytest
from django.db import OperationalError, connections
from django.test import Client, RequestFactory, override_settings

from mos_site.outage import RETRY_AFTER_S, server_error
from tests.factories import StudyFactory

pytestmark = pytest.mark.postgres


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def database_away(transactional_db):
    """The default connection re-pointed at a port nobody listens on, for this test only."""
    connection = connections["default"]
    original = dict(connection.settings_dict)
    port = _closed_port()
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
    yield port
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(original)


def _assert_friendly_503(response, port: int) -> str:
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_S)
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "Back in a moment" in html and "reload this page" in html
    assert f"wait about {RETRY_AFTER_S} seconds" in html
    # Nothing of the raw error: no host, no port, no driver message.
    assert str(port) not in html and "127.0.0.1" not in html and "connection" not in html
    return html


def test_a_listener_page_answers_503_while_the_database_is_away(database_away):
    study_slug = "any-study"
    response = Client(raise_request_exception=False).get(f"/t/{study_slug}/")
    _assert_friendly_503(response, database_away)


def test_a_researcher_page_answers_503_too(database_away):
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a" * 32  # a logged-in researcher's cookie
    response = client.get("/studies/")
    # The login check reads the session table: the same outage, the same answer.
    _assert_friendly_503(response, database_away)


@override_settings(LANGUAGES=[("en", "English"), ("de", "Deutsch")])
def test_the_page_is_in_the_language_the_browser_asks_for(database_away):
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="de")
    html = _assert_friendly_503(client.get("/t/any-study/"), database_away)
    assert '<html lang="de">' in html


def test_the_site_works_again_once_the_database_is_back(db, client):
    StudyFactory(slug="back", status="open")
    assert client.get("/t/back/").status_code in (200, 302)


def test_handler500_answers_503_for_a_database_error_raised_outside_a_view(database_away):
    request = RequestFactory().get("/t/any-study/")
    try:
        connections["default"].ensure_connection()
    except OperationalError:
        response = server_error(request)
    else:  # pragma: no cover - the port was closed a moment ago
        pytest.fail("the database answered on a closed port")
    _assert_friendly_503(response, database_away)


def test_any_other_failure_gets_the_friendly_500_page(db):
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and not response.has_header("Retry-After")
    html = response.content.decode()
    assert "Something went wrong" in html and "wait a moment and reload" in html
    assert "a bug" not in html


def test_the_api_answers_503_in_json(database_away):
    response = Client(raise_request_exception=False).get(
        "/api/v1/voices/", HTTP_AUTHORIZATION="Token " + "a" * 40
    )
    assert response.status_code == 503 and response["Retry-After"] == str(RETRY_AFTER_S)
    detail = response.json()["detail"]
    assert "retry after" in detail and str(database_away) not in detail
