"""The listener's other pages in Chromium: several clips per page, a second tab, and the
polite endings (preview, paused, full, failed check, timed out), each screenshotted at phone
and desktop width."""

from __future__ import annotations

import re

from listening.models import Listener, Playlist, Rating, Study
from tests.browser.conftest import (
    DESKTOP,
    LIVE_SERVER_MARKS,
    PHONE,
    console_errors,
    current_item,
    play_and_rate,
    shoot,
    wait_until_rateable,
)
from tests.factories import open_study, rating_only_study

pytestmark = LIVE_SERVER_MARKS


def start(page, url: str) -> Listener:
    page.goto(url)
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_load_state()
    return Listener.objects.order_by("-pk").first()


def test_several_clips_on_one_page_each_unlock_after_their_own_end(live_server, page_factory):
    study = rating_only_study(
        slug="browser-multi",
        clips_per_page=2,
    )
    page = page_factory(PHONE)
    listener = start(page, f"{live_server.url}/t/{study.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    sections = page.locator("section.clip")
    assert sections.count() == 2
    sections.nth(0).get_by_role("button", name="Play").click()
    wait_until_rateable(page, 0)
    # The second clip is still locked: it has not been heard.
    assert sections.nth(1).locator("fieldset.acr input").first.is_disabled()
    sections.nth(0).locator("label.acr-option:has(input[value='5'])").click()
    assert page.get_by_role("button", name="Next").is_disabled()
    sections.nth(1).get_by_role("button", name="Play").click()
    wait_until_rateable(page, 1)
    sections.nth(1).locator("label.acr-option:has(input[value='2'])").click()
    shoot(page, "rate-two-clips")
    page.get_by_role("button", name="Next").click()
    page.wait_for_load_state()
    scores = sorted(Rating.objects.filter(listener=listener).values_list("score", flat=True))
    assert scores == [2, 5]


def test_an_older_tab_is_told_its_page_is_out_of_date(live_server, page_factory):
    """The page served last is the one that counts (single-use page tokens)."""
    study = open_study(
        slug="browser-tabs", questionnaire=False, headphone_check=False, training_clips=0
    )
    first = page_factory(DESKTOP)
    listener = start(first, f"{live_server.url}/t/{study.slug}/")
    second = first.context.new_page()
    second.goto(f"{live_server.url}/t/{study.slug}/rate/")
    item = current_item(second)
    assert current_item(first) == item
    play_and_rate(first, 4)
    assert first.get_by_role("heading", name="Not saved").is_visible()
    assert "another tab" in first.get_by_role("alert").inner_text()
    shoot(first, "refused")
    assert not Rating.objects.filter(listener=listener).exists()
    play_and_rate(second, 1)
    assert Rating.objects.get(listener=listener, item=item).score == 1
    first.get_by_role("link", name="Continue the test").click()
    assert current_item(first) != item


def test_polite_pages_for_preview_pause_full_failed_check_and_timeout(live_server, page_factory):
    study = open_study(slug="browser-ends", questionnaire=False)
    base = f"{live_server.url}/t/{study.slug}/"
    page = page_factory(PHONE)
    errors = console_errors(page)

    page.goto(base + "?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1")
    assert page.get_by_text("This is a preview").is_visible()
    shoot(page, "preview")

    listener = start(page, base)
    page.wait_for_url(re.compile(r"/headphones/$"))

    Listener.objects.filter(pk=listener.pk).update(stage=Listener.Stage.FAILED_CHECK)
    page.goto(base)
    page.wait_for_url(re.compile(r"/ended/$"))
    assert page.get_by_role("heading", name="Thank you").is_visible()
    shoot(page, "failed-check")

    Listener.objects.filter(pk=listener.pk).update(stage=Listener.Stage.NO_PLAYLIST)
    page.goto(base)
    page.wait_for_url(re.compile(r"/full/$"))
    assert page.get_by_role("button", name="Try again").is_visible()
    shoot(page, "full")

    # Rating, but the playlist went to someone else after the timeout.
    Listener.objects.filter(pk=listener.pk).update(stage=Listener.Stage.RATING)
    assert not Playlist.objects.filter(listener=listener).exists()
    page.goto(base + "rate/")
    assert page.get_by_role("heading", name="Session timed out").is_visible()
    shoot(page, "timed-out")

    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    page.goto(base)
    assert page.get_by_text("paused for the moment").is_visible()
    shoot(page, "paused")
    # 4xx/5xx answers of these polite pages are logged by Chromium as failed loads; anything
    # else (a script error, a missing favicon) would be a bug.
    assert [e for e in errors if "status of 4" not in e and "status of 5" not in e] == []
