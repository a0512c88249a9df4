"""The follow-up questions in real headless Chromium, with real audio played: an ACR page whose
Next waits for every question (answered by mouse and by keyboard), then a MUSHRA page asking
about each condition; the database holds every answer. Screenshots at 360 px and 1280 px go to
var/test/screenshots/ (listener-followups-*)."""

from __future__ import annotations

import re

from listening.models import ConditionScore, Listener, Rating
from tests.browser import conftest as chromium
from tests.factories import rating_only_study
from tests.mushra_factories import mushra_study

pytestmark = chromium.LIVE_SERVER_MARKS

QUESTIONS = [
    {"key": "mispronounced", "text": "Did you hear any mispronounced word?"},
    {"key": "noise", "text": "Was there background noise?"},
]


def test_acr_and_mushra_pages_take_the_followups_and_the_database_keeps_them(
    live_server, page_factory
):
    study = rating_only_study(
        slug="b-followups", n_sentences=2, clips_per_listener=2, followup_questions=QUESTIONS
    )
    page = page_factory(chromium.PHONE)
    errors = chromium.console_errors(page)
    chromium.consent(page, f"{live_server.url}/t/{study.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    listener = Listener.objects.get(study=study)
    item = chromium.current_item(page)

    group = page.get_by_role("group", name="About this clip")
    assert group.is_visible()
    assert page.get_by_role("radiogroup", name=QUESTIONS[0]["text"]).is_visible()
    page.get_by_role("button", name="Play").first.click()
    chromium.wait_until_rateable(page)
    page.locator("fieldset.acr label.acr-option:has(input[value='4'])").click()
    next_button = page.get_by_role("button", name="Next")
    assert next_button.is_disabled(), "Next waits for the follow-up questions"
    # By mouse: Yes to the first question.
    page.get_by_role("radiogroup", name=QUESTIONS[0]["text"]).get_by_label(
        "Yes", exact=True
    ).click()
    assert next_button.is_disabled()
    # By keyboard: focus the second question's Yes, arrow to No (a native radio group).
    second = page.get_by_role("radiogroup", name=QUESTIONS[1]["text"])
    second.get_by_label("Yes", exact=True).focus()
    page.keyboard.press("ArrowRight")
    assert second.get_by_label("No", exact=True).is_checked()
    chromium.shoot(page, "followups-acr-answered")
    assert page.evaluate("document.documentElement.scrollWidth") <= chromium.PHONE["width"]
    assert next_button.is_enabled()
    next_button.click()
    page.wait_for_load_state()
    page.wait_for_function(
        f"() => !document.querySelector('input[name=item_0]') || "
        f"document.querySelector('input[name=item_0]').value !== '{item.pk}'"
    )
    rating = Rating.objects.get(listener=listener, item=item)
    assert rating.score == 4 and rating.followups == {"mispronounced": "yes", "noise": "no"}
    assert not errors

    mushra = mushra_study(
        slug="b-followups-mushra", n_sentences=1, seconds=0.5, followup_questions=QUESTIONS[:1]
    )
    page = page_factory(chromium.DESKTOP)
    errors = chromium.console_errors(page)
    chromium.consent(page, f"{live_server.url}/t/{mushra.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    listener = Listener.objects.get(study=mushra)
    rows = page.locator(".mushra-row")
    labels = [
        t.removeprefix("Play ").strip() for t in rows.locator(".mushra-play").all_inner_texts()
    ]
    answers = {}
    for k, label in enumerate(labels):
        row = rows.nth(k)
        row.get_by_role("button", name=f"Play {label}").click()
        row.locator(".mushra-status", has_text=re.compile("^Played$")).wait_for(timeout=15_000)
        slider = row.locator("input[type=range]")
        slider.focus()
        slider.press("End")
        answer = "Yes" if k % 2 else "No"
        page.get_by_role("group", name=f"About sound {label}").get_by_label(
            answer, exact=True
        ).check()
        answers[int(slider.get_attribute("data-position"))] = answer.lower()
    chromium.shoot(page, "followups-mushra-answered")
    page.set_viewport_size(chromium.PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= chromium.PHONE["width"]
    page.set_viewport_size(chromium.DESKTOP)
    next_button = page.get_by_role("button", name="Next")
    assert next_button.is_enabled()
    with page.expect_navigation():
        next_button.click()
    response = Rating.objects.get(listener=listener)
    stored = {
        s.trial_clip.position: s.followups
        for s in ConditionScore.objects.filter(response=response).select_related("trial_clip")
    }
    assert stored == {p: {"mispronounced": a} for p, a in answers.items()}
    assert not errors
