"""A listener's whole session in real headless Chromium, with real audio played to its end.

The study is built like a researcher's (short FLAC clips in the default storage, then
``study_open``); the test clicks through as a Prolific participant would and then checks the
database. Screenshots of every page at phone and desktop width go to var/test/screenshots/.
"""

from __future__ import annotations

import re

from listening.models import Listener, Playlist, PlaylistItem, Rating
from tests.browser.conftest import (
    DESKTOP,
    LIVE_SERVER_MARKS,
    PHONE,
    answer_headphone_trials,
    console_errors,
    current_item,
    play_and_rate,
    screenshot,
    shoot,
    wait_until_rateable,
)
from tests.factories import open_study, rating_only_study

pytestmark = LIVE_SERVER_MARKS

PID = "60a1b2c3d4e5f6a7b8c9d0e1"


def test_whole_session_from_prolific_link_to_completion_code(live_server, page_factory):
    study = open_study(slug="browser-flow", seconds=0.6)
    page = page_factory(PHONE)
    errors = console_errors(page)  # no page may log a console error (favicon, CSP, script)
    page.goto(f"{live_server.url}/t/{study.slug}/?PROLIFIC_PID={PID}&STUDY_ID=S1&SESSION_ID=X1")

    # Welcome and consent.
    assert page.title() == "Listening test"
    assert page.locator(".prose strong", has_text="wear headphones").count() == 1
    shoot(page, "welcome")
    page.get_by_role("button", name="Start").click()  # without the box ticked: refused
    assert page.url.endswith("SESSION_ID=X1")
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()

    # Questionnaire.
    page.wait_for_url(re.compile(r"/about-you/$"))
    shoot(page, "questionnaire")
    page.get_by_label("What is your native language?").fill("English")
    page.get_by_label("25–34").check()
    page.get_by_label("Headphones (over or on the ear)").check()
    page.get_by_role("button", name="Continue").click()

    # Headphone check: set the volume, then answer the trials (answers read from the DB).
    page.wait_for_url(re.compile(r"/headphones/$"))
    assert page.locator("#check-form").is_hidden()
    shoot(page, "headphones-volume")
    page.get_by_role("button", name="Play the tone").click()
    page.get_by_role("button", name="My volume is set: continue").click()
    listener = Listener.objects.get(external_id=PID)
    correct = listener.headphone_check["correct"]
    assert "correct" not in page.content()
    trials = page.locator("fieldset.trial")
    assert trials.count() == len(correct) == 6
    answer_headphone_trials(page, correct)
    shoot(page, "headphones-trials")
    page.locator("#check-form").get_by_role("button", name="Continue").click()

    # Training, then every rating page with real audio played to its end.
    page.wait_for_url(re.compile(r"/rate/$"))
    assert page.get_by_role("heading", name="Practice").is_visible()
    assert page.locator("fieldset.acr input").first.is_disabled()
    shoot(page, "rate-training")
    # Trying to rate before listening: the scale stays locked and the status says why.
    page.locator("label.acr-option").first.click(force=True)
    page.wait_for_function(
        "() => document.getElementById('rate-live').textContent.includes('to its end first')"
    )
    assert page.locator("fieldset.acr input").first.is_disabled()
    rated: list[PlaylistItem] = [play_and_rate(page, 4)]
    first_test_page = True
    while "/rate/" in page.url:
        assert page.title() == "Listening test"
        item = current_item(page)
        if first_test_page:
            assert page.get_by_role("heading", name="How does it sound?").is_visible()
            page.get_by_role("button", name="Play").click()
            wait_until_rateable(page)
            shoot(page, "rate")
            page.get_by_role("button", name="Play again").click()  # a replay, counted
            wait_until_rateable(page)
            page.wait_for_function(
                "() => document.querySelector('input[name=plays_0]').value === '2' && "
                "document.querySelector('audio').ended"
            )
            score = item.expected_score or 3  # this page may be the gold item
            page.locator(f"label.acr-option:has(input[value='{score}'])").click()
            page.get_by_role("button", name="Next").click()
            page.wait_for_load_state()
            rated.append(item)
            first_test_page = False
            continue
        rated.append(play_and_rate(page, item.expected_score or 3))

    # Completion code.
    page.wait_for_url(re.compile(r"/done/$"))
    assert page.locator("#completion-code").inner_text() == "HARKEN-42"
    shoot(page, "done")

    # The database afterwards.
    listener.refresh_from_db()
    playlist = Playlist.objects.get(listener=listener)
    items = list(playlist.items.order_by("position"))
    assert [r.pk for r in rated] == [i.pk for i in items]  # every page, in order
    assert listener.stage == Listener.Stage.COMPLETED
    assert listener.questionnaire["native_language"] == "English"
    assert listener.headphone_check["passed"] is True
    assert listener.platform_params == {"STUDY_ID": "S1", "SESSION_ID": "X1"}
    assert playlist.status == Playlist.Status.COMPLETED
    ratings = {r.item_id: r for r in Rating.objects.filter(listener=listener)}
    assert len(ratings) == len(items)
    purposes = [i.purpose for i in items]
    assert purposes[0] == "training" and "gold" in purposes and "test" in purposes
    for item in items:
        rating = ratings[item.pk]
        assert rating.purpose == item.purpose
        assert rating.play_count >= 1
        assert rating.played_seconds >= 0.5  # the 0.6 s clip really played
        assert rating.response_seconds is not None and rating.response_seconds >= 0
        if item.purpose == "gold":
            assert rating.score == item.expected_score
    replayed = ratings[rated[1].pk]
    assert replayed.play_count == 2 and replayed.played_seconds >= 1.0
    assert (listener.attention_failures, listener.flagged) == (0, False)
    assert errors == []


def test_listener_who_reloads_midway_resumes_at_the_same_item(live_server, page_factory):
    study = open_study(
        slug="browser-resume", questionnaire=False, headphone_check=False, seconds=0.6
    )
    page = page_factory(DESKTOP)
    link = f"{live_server.url}/t/{study.slug}/?PROLIFIC_PID=RESUME1&STUDY_ID=S&SESSION_ID=Y"
    page.goto(link)
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/rate/$"))
    play_and_rate(page, 4)
    play_and_rate(page, 2)
    waiting = current_item(page)
    progress = page.locator("progress").get_attribute("value")
    assert progress == "1"  # the practice clip, then one counted clip: "Clip 2 of N" now

    # Half-way through the clip, the listener reloads.
    page.get_by_role("button", name="Play").click()
    page.reload()
    assert current_item(page) == waiting
    assert page.locator(
        "fieldset.acr input"
    ).first.is_disabled()  # must listen again after a reload
    assert page.locator("progress").get_attribute("value") == "1"
    screenshot(page, "listener-rate-resumed-desktop")

    # Back to the study link (cookie) and from another browser with the same Prolific id.
    page.goto(f"{live_server.url}/t/{study.slug}/")
    assert page.url.endswith("/rate/") and current_item(page) == waiting
    other = page_factory(DESKTOP)
    other.goto(link)
    assert other.url.endswith("/rate/") and current_item(other) == waiting
    assert Listener.objects.filter(study=study).count() == 1

    play_and_rate(other, 5)
    assert Rating.objects.get(item=waiting).score == 5
    assert Rating.objects.filter(listener__study=study).count() == 3


def test_keyboard_alone_plays_and_rates(live_server, page_factory):
    study = rating_only_study(
        slug="browser-keys",
        n_sentences=2,
        clips_per_listener=2,
    )
    page = page_factory(PHONE)
    page.goto(f"{live_server.url}/t/{study.slug}/")
    for _ in range(20):  # Tab to the consent box
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "consent":
            break
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Start"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/rate/$"))

    for score in ("4", "1"):
        item = current_item(page)
        # The play button has the focus; a rating key before the end is refused out loud.
        assert page.evaluate("document.activeElement.classList.contains('play')")
        page.keyboard.press(score)
        page.wait_for_function(
            "() => document.getElementById('rate-live').textContent.includes('to its end first')"
        )
        page.keyboard.press("Space")
        wait_until_rateable(page)
        page.keyboard.press(score)
        assert page.locator(f"input[name=score_0][value='{score}']").is_checked()
        assert page.evaluate("document.activeElement.value") == score
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        page.wait_for_function(
            f"() => !document.querySelector('input[name=item_0]') || "
            f"document.querySelector('input[name=item_0]').value !== '{item.pk}'"
        )
        assert Rating.objects.get(item=item).score == int(score)
    page.wait_for_url(re.compile(r"/done/$"))
    assert page.locator("#completion-code").is_visible()
