"""Researcher log-in with a throttle: failed attempts are counted in Django's cache, and a
username (from one address) or an address that failed too often is refused until its window
ends, with a message that says when to try again.

Two counters, both over ``LOGIN_THROTTLE_WINDOW_S`` seconds from the first failure:

- ``LOGIN_THROTTLE_FAILURES`` failures for one username from one address lock that pair (a
  password guesser at one account), without locking the real researcher out from elsewhere;
- ``LOGIN_THROTTLE_ADDRESS_FAILURES`` failures from one address, whatever the usernames, lock
  the address (one client spraying passwords over many accounts).

A successful log-in clears its username's counter. The throttle is in the log-in form, so the
site's log-in page and the admin's share it; API token authentication sends no password and is
not affected. The client address is ``REMOTE_ADDR``: behind a reverse proxy, make the proxy
pass the client's address (gunicorn's ``--forwarded-allow-ips``), or every client shares the
proxy's counter. 0 in either setting turns that counter off (tests that log in often do).
"""

from __future__ import annotations

import hashlib
import math
import time

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import ngettext


def _address(request: HttpRequest | None) -> str:
    return (request.META.get("REMOTE_ADDR", "") if request is not None else "") or "unknown"


def _key(*parts: str) -> str:
    # Hashed: a username may hold characters a cache key must not (memcached, spaces).
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"login-throttle:{digest}"


def _counters(request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    address = _address(request)
    pairs = [
        (_key("user", username.casefold(), address), settings.LOGIN_THROTTLE_FAILURES),
        (_key("address", address), settings.LOGIN_THROTTLE_ADDRESS_FAILURES),
    ]
    return [(key, limit) for key, limit in pairs if limit > 0]


def login_retry_after(request: HttpRequest | None, username: str) -> int:
    """Seconds until this username from this address may try again; 0 when it may now."""
    now = time.time()
    wait = 0.0
    for key, limit in _counters(request, username):
        state = cache.get(key)
        if state and state["failures"] >= limit:
            wait = max(wait, state["first"] + settings.LOGIN_THROTTLE_WINDOW_S - now)
    return max(math.ceil(wait), 0)


def login_failed(request: HttpRequest | None, username: str) -> None:
    """Count one failed log-in against the username (from this address) and the address."""
    now = time.time()
    window = settings.LOGIN_THROTTLE_WINDOW_S
    for key, _limit in _counters(request, username):
        state = cache.get(key)
        if not state or now - state["first"] >= window:
            state = {"first": now, "failures": 0}
        state["failures"] += 1
        # Not atomic across processes: two failures at the same instant may count as one,
        # which costs an attacker nothing worth having.
        cache.set(key, state, timeout=math.ceil(state["first"] + window - now) + 1)


def login_succeeded(request: HttpRequest | None, username: str) -> None:
    cache.delete(_key("user", username.casefold(), _address(request)))


def _throttled_message(seconds: int) -> str:
    minutes = max(math.ceil(seconds / 60), 1)
    return ngettext(
        "Too many failed log-ins from here. Try again in %(minutes)d minute, or ask an "
        "administrator to reset your password.",
        "Too many failed log-ins from here. Try again in %(minutes)d minutes, or ask an "
        "administrator to reset your password.",
        minutes,
    ) % {"minutes": minutes}


class ThrottledLoginMixin:
    """The throttle around ``AuthenticationForm.clean``: refused while locked (the password is
    not even checked, so a guess during the lock tells nothing), counted when it fails."""

    request: HttpRequest | None

    def clean(self):
        username = (self.cleaned_data.get("username") or "").strip()
        wait = login_retry_after(self.request, username)
        if wait:
            raise forms.ValidationError(_throttled_message(wait), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_failed(self.request, username)
            raise
        login_succeeded(self.request, username)
        return cleaned


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """The site's log-in form."""


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's log-in form (staff only, as Django's)."""
