"""Page tokens (``listening.participation.page_tokens``): a token gives back the page it was
signed for, to its own listener, within its own family of pages only."""

from __future__ import annotations

import pytest
from django.core import signing

from listening.participation.page_tokens import (
    RATE_PAGE_SALT,
    TRIAL_PAGE_SALT,
    page_claims,
    page_token,
)
from tests.factories import open_study, rating_listener

pytestmark = pytest.mark.django_db


def test_a_token_gives_back_its_nonce_and_items():
    study = open_study(slug="tokens")
    listener = rating_listener(study)
    token = page_token(listener, items=[3, 5], nonce="abc", salt=RATE_PAGE_SALT)
    assert page_claims(token, listener, study, salt=RATE_PAGE_SALT) == ("abc", [3, 5])


def test_a_token_of_one_page_family_is_refused_by_the_other():
    study = open_study(slug="tokens")
    listener = rating_listener(study)
    token = page_token(listener, items=[3], nonce="abc", salt=TRIAL_PAGE_SALT)
    with pytest.raises(signing.BadSignature):
        page_claims(token, listener, study, salt=RATE_PAGE_SALT)


def test_a_token_of_another_listener_is_refused():
    study = open_study(slug="tokens", ratings_per_clip=2)
    listener, other = rating_listener(study, "P1"), rating_listener(study, "P2")
    token = page_token(other, items=[3], nonce="abc", salt=TRIAL_PAGE_SALT)
    with pytest.raises(signing.BadSignature):
        page_claims(token, listener, study, salt=TRIAL_PAGE_SALT)
