"""Join limits: how many listeners one client address, and everyone together, may start in a
study within a short time, so one client cannot drain a study's playlists.

Where it sits: the welcome page's consent (``views.entry``) asks :func:`join_allowed` before a
new listener is created; a refused join changes nothing and the page says when to try again.
Counts live in Django's cache (fixed windows), so no table grows; the limits are the settings
``LISTENER_JOINS_PER_ADDRESS`` and ``LISTENER_JOINS_PER_STUDY`` ("count/seconds", "0" off).
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def parse_limit(text: str) -> tuple[int, int] | None:
    """ "10/600" -> (10, 600); "0", "" or "off" -> None (no limit). Raises ValueError with the
    expected form otherwise."""
    text = (text or "").strip().lower()
    if text in ("", "0", "off", "none"):
        return None
    try:
        count, seconds = (int(part) for part in text.split("/", 1))
    except ValueError:
        raise ValueError(
            f"join limit {text!r}: write it as count/seconds, e.g. 10/600, or 0 for no limit"
        ) from None
    if count < 1 or seconds < 1:
        raise ValueError(f"join limit {text!r}: count and seconds must be at least 1")
    return count, seconds


def _hit(key: str, limit: tuple[int, int], now: float) -> tuple[bool, int]:
    """Count one join in the current window; (allowed, seconds until the window ends)."""
    count, seconds = limit
    window = int(now // seconds)
    full_key = f"harken:joins:{key}:{window}"
    retry = seconds - int(now % seconds)
    if cache.add(full_key, 1, timeout=seconds + 5):
        return True, retry
    try:
        n = cache.incr(full_key)
    except ValueError:  # expired between add and incr
        cache.add(full_key, 1, timeout=seconds + 5)
        n = 1
    return n <= count, retry


def join_allowed(*, study_slug: str, address: str) -> tuple[bool, int]:
    """Whether a new listener may join ``study_slug`` from ``address`` now; and, if not, in how
    many seconds to try again. Each call counts as one join attempt."""
    now = time.time()
    per_address = parse_limit(settings.LISTENER_JOINS_PER_ADDRESS)
    per_study = parse_limit(settings.LISTENER_JOINS_PER_STUDY)
    if per_address:
        # The address is hashed: the cache never holds listeners' IP addresses.
        who = hashlib.blake2b(address.encode(), digest_size=12).hexdigest()
        ok, retry = _hit(f"{study_slug}:addr:{who}", per_address, now)
        if not ok:
            return False, retry
    if per_study:
        ok, retry = _hit(f"{study_slug}:all", per_study, now)
        if not ok:
            return False, retry
    return True, 0
