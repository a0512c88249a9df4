"""The ACR rating page filled from this process's frame is the template's own output, for
every listener and page shape, and a change of the study is seen at once."""

from __future__ import annotations

import re

import pytest
from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.shortcuts import render
from django.test import RequestFactory

from listening.models import Study
from listening.participation import pages_acr, selectors
from mos_site import rendered
from tests.factories import open_study, rating_listener

pytestmark = pytest.mark.django_db

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
QUESTIONS = [{"key": "noise", "text": "Did you hear <noise> & clicks?"}]


def _request():
    request = RequestFactory().get("/t/x/rate/")
    request.COOKIES["csrftoken"] = "a" * 32
    return request


def _contexts(study, external_id: str):
    """The context of every page of a fresh listener, answered one after the other."""
    listener = rating_listener(study, external_id)
    playlist = selectors.held_playlist(
        selectors.listener_by_cookie(study_slug=study.slug, token=listener.token)
    )
    items = selectors.playlist_items_scored(listener=listener, playlist=playlist)
    for done in range(len(items)):
        for item in items[:done]:
            item.listener_answered, item.listener_score = True, 3
        page = selectors.page_of(items, study.clips_per_page)
        if not page:
            break
        token = f"token-{external_id}-{done}:<&>"
        yield pages_acr.acr_page_context(study, page, selectors.progress_of(items), token)


def _template_output(context) -> str:
    html = render(_request(), pages_acr.RATE_TEMPLATE, context).content.decode()
    return CSRF.sub("csrf", html)


def _framed(study, context) -> str:
    return CSRF.sub("csrf", pages_acr.acr_page_html(_request(), study, context))


@pytest.mark.parametrize("clips_per_page", [1, 3])
def test_every_page_of_two_listeners_is_the_templates_output(clips_per_page):
    study = open_study(
        slug=f"frames-{clips_per_page}",
        clips_per_page=clips_per_page,
        followup_questions=QUESTIONS,
    )
    rendered._FRAMES.clear()
    for external_id in ("p-one", "p-two"):  # the second is filled from the first's frames
        for context in _contexts(study, external_id):
            framed = _framed(study, context)
            assert framed == _template_output(context)
            for clip in context["clips"]:
                assert f'value="{clip["item"].pk}"' in framed and clip["url"] in framed
            assert "token-" in framed and "&lt;&amp;&gt;" in framed
    assert rendered._FRAMES, "the pages were not filled from frames"


def test_the_page_carries_a_csrf_token_and_asks_for_its_cookie():
    study = open_study(slug="frames-csrf")
    context = next(_contexts(study, "p-csrf"))
    request = RequestFactory().get("/t/x/rate/")
    html = pages_acr.acr_page_html(request, study, context)
    assert CSRF.search(html) and "\ue000" not in html
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True


def test_a_changed_study_is_drawn_anew():
    study = open_study(slug="frames-change")
    context = next(_contexts(study, "p-change"))
    assert "Is it clear?" not in _framed(study, context)
    study.question = "Is it clear?"
    study.save()
    changed = Study.objects.get(pk=study.pk)
    context = {**context, "study": changed, "question": pages_acr.study_question(changed)}
    assert "Is it clear?" in _framed(changed, context)


def test_a_visitor_with_messages_waiting_gets_the_page_in_full_with_them():
    study = open_study(slug="frames-messages")
    context = next(_contexts(study, "p-messages"))
    rendered._FRAMES.clear()
    _framed(study, context)  # the frame exists: a message must not be lost to it
    request = _request()
    request.session = {}
    request._messages = FallbackStorage(request)
    messages.info(request, "Signed in as <a researcher>")
    html = pages_acr.acr_page_html(request, study, context)
    assert "Signed in as &lt;a researcher&gt;" in html
    assert CSRF.sub("csrf", html) != _framed(study, context)


def test_a_study_text_that_looks_like_a_slot_is_shown_as_written():
    study = open_study(slug="frames-marks")
    study.question = "Is \ue000csrf\ue001 or \ue000nothing\ue001 clear?"
    study.save()
    study = Study.objects.get(pk=study.pk)
    rendered._FRAMES.clear()
    for _ in range(2):  # drawn, then filled from the frame
        context = next(_contexts(study, f"p-marks-{_}"))
        framed = _framed(study, context)
        assert framed == _template_output(context)
        assert "Is \ue000csrf\ue001 or \ue000nothing\ue001 clear?" in framed
