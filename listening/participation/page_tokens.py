"""The signed token a listener page carries to its POST: which listener it was served to, the
playlist items on it and the nonce of that serving.

Where it sits: the page views (``views`` for ACR, ``views_trials`` for the comparison types,
``views_mushra`` for MUSHRA and transcription) sign the page they serve and read back the
claims of the page they are sent. The nonce is checked against the page the server served
last and works once (``ratings.page_redeem``, ``responses_mushra``); the signature only keeps
forged tokens out cheaply, and its age is bounded by the study's listener timeout. Each page
family signs with its own salt, so a token of one family is refused by the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core import signing

from listening.models import Listener, Study

RATE_PAGE_SALT = "listening.rate-page"  # ACR and comparison pages
TRIAL_PAGE_SALT = "listening.trial-page"  # MUSHRA and transcription pages


def page_token(listener: Listener, *, items: Sequence[int], nonce: str, salt: str) -> str:
    """The token of a page of ``items`` served to ``listener`` with ``nonce``."""
    payload = {"l": listener.token, "i": list(items), "n": nonce}
    return signing.dumps(payload, salt=salt, compress=True)


def page_claims(
    token: str, listener: Listener, study: Study, *, salt: str
) -> tuple[str, list[int]]:
    """(nonce, item ids) of a page token issued to ``listener``; raises BadSignature (also for
    a token older than the study's timeout or of another listener), KeyError, TypeError or
    ValueError for a malformed one."""
    max_age = study.listener_timeout_minutes * 60
    payload = signing.loads(token, salt=salt, max_age=max_age)
    if payload.get("l") != listener.token:
        raise signing.BadSignature("page of another listener")
    return str(payload["n"]), [int(i) for i in payload["i"]]
