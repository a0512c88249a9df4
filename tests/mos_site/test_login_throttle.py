"""Failed log-ins are throttled (mos_site.login): after LOGIN_THROTTLE_FAILURES wrong passwords
even the right one is refused, with a message saying when to try again; the admin's log-in
page shares the counter; other accounts and API tokens are not affected."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token

from mos_site import login
from tests.factories import ResearcherFactory

PASSWORD = "pw-researcher-123456"


@pytest.fixture(autouse=True)
def fresh_counters(settings):
    # A fast hasher first: these tests check passwords dozens of times.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lin(db):
    """A researcher whose password was hashed with the fast hasher."""
    return ResearcherFactory(username="lin")


def log_in(client, username: str, password: str, url: str | None = None):
    return client.post(url or reverse("login"), {"username": username, "password": password})


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_right_password_after_five_wrong_ones_is_refused_with_when(client, lin):
    for _ in range(5):
        response = log_in(client, "lin", "wrong")
        assert response.status_code == 200 and "Please enter a correct username" in (
            response.content.decode()
        )
    response = log_in(client, "lin", PASSWORD)
    html = response.content.decode()
    assert not logged_in(client)
    assert "Too many failed log-ins from here. Try again in 15 minutes" in html
    assert 'role="alert"' in html


def test_the_lock_ends_with_its_window(client, lin, monkeypatch):
    for _ in range(5):
        log_in(client, "lin", "wrong")
    later = time.time() + 15 * 60 + 1
    monkeypatch.setattr(login.time, "time", lambda: later)
    log_in(client, "lin", PASSWORD)
    assert logged_in(client)


def test_a_success_resets_the_count(client, lin):
    for _ in range(4):
        log_in(client, "lin", "wrong")
    log_in(client, "lin", PASSWORD)
    assert logged_in(client)
    client.logout()
    for _ in range(4):
        log_in(client, "lin", "wrong")
    log_in(client, "lin", PASSWORD)
    assert logged_in(client)


def test_another_account_from_the_same_address_still_logs_in(client, lin):
    ResearcherFactory(username="grace")
    for _ in range(5):
        log_in(client, "lin", "wrong")
    log_in(client, "grace", PASSWORD)
    assert logged_in(client)


@override_settings(LOGIN_THROTTLE_ADDRESS_FAILURES=6)
def test_an_address_spraying_many_accounts_is_locked(client, lin):
    for i in range(6):
        log_in(client, f"nobody-{i}", "wrong")
    response = log_in(client, "lin", PASSWORD)
    assert not logged_in(client) and "Try again in" in response.content.decode()


def test_the_admin_log_in_shares_the_throttle(client, lin):
    admin_login = reverse("admin:login")
    for _ in range(5):
        log_in(client, "lin", "wrong", admin_login)
    response = log_in(client, "lin", PASSWORD, admin_login)
    assert not logged_in(client) and "Try again in" in response.content.decode()


def test_api_tokens_are_not_throttled(client, lin):
    token = Token.objects.create(user=lin).key
    for _ in range(10):
        log_in(client, "lin", "wrong")
    response = client.get(reverse("researcher:api:studies"), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200


@override_settings(LOGIN_THROTTLE_FAILURES=0, LOGIN_THROTTLE_ADDRESS_FAILURES=0)
def test_zero_turns_the_throttle_off(client, lin):
    for _ in range(10):
        log_in(client, "lin", "wrong")
    log_in(client, "lin", PASSWORD)
    assert logged_in(client)
