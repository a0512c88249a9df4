"""A listener's whole session of each comparison type (CCR, AB, ABX, SMOS) in real headless
Chromium: every sound of every trial played to its end (short clips, as the ACR walk uses),
answers by click and by key, the completion code; then the database.

Screenshots of each type's trial page at 360 px and 1280 px go to /tmp/shots14/ (and to
var/screenshots/ like the other browser tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from listening.models import Listener, Playlist, PlaylistItem, Rating
from tests.browser.conftest import DESKTOP, LIVE_SERVER_MARKS, PHONE, console_errors, screenshot
from tests.trial_factories import correct_answer, open_trial_study

pytestmark = LIVE_SERVER_MARKS

SHOTS = Path("/tmp/shots14")
KEY_OF = {"a": "a", "b": "b", "tie": "n"}
LABELS = {
    "ccr": ["Much better", "About the same", "Much worse"],
    "ab": ["No preference"],
    "abx": ["X is A", "X is B"],
    "smos": ["Extremely similar", "Not at all similar"],
}


def shoot_trial(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        path = screenshot(page, f"listener-trial-{name}-{width}")
        (SHOTS / f"{name}-{width}.png").write_bytes(path.read_bytes())
    page.set_viewport_size(PHONE)


def play_all(page, by_key: bool) -> None:
    """Play each sound of the trial to its end, one after the other."""
    n = page.locator("section.sound").count()
    for k in range(n):
        if by_key:
            page.locator("h1").click()  # focus off the buttons: Space plays the next sound
            page.keyboard.press("Space")
        else:
            page.locator("section.sound").nth(k).get_by_role(
                "button", name=re.compile("^Play")
            ).click()
        page.wait_for_function(
            f"() => document.querySelectorAll('section.sound audio')[{k}].ended", timeout=15_000
        )
    page.wait_for_function("() => !document.querySelector('fieldset.answer').disabled")


def answer(page, study, value: str, by_key: bool) -> None:
    if by_key:
        if study.test_type in ("ab", "abx"):
            key = KEY_OF[value]
        else:
            key = page.locator(f"fieldset.answer input[value='{value}']").get_attribute("data-key")
        page.keyboard.press(key)
    else:
        page.locator(f"fieldset.answer label.acr-option:has(input[value='{value}'])").click()
    assert page.locator(f"fieldset.answer input[value='{value}']").is_checked()


@pytest.mark.parametrize(
    "test_type, extra",
    [
        ("ccr", {"comparison": "reference"}),
        ("ab", {"allow_tie": True}),
        ("abx", {}),
        ("smos", {"reference_text": "different"}),
    ],
)
def test_whole_comparison_session(live_server, page_factory, test_type, extra):
    study = open_trial_study(
        test_type, slug=f"walk-{test_type}", questionnaire=False, headphone_check=False, **extra
    )
    page = page_factory(PHONE)
    errors = console_errors(page)
    page.goto(f"{live_server.url}/t/{study.slug}/")
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/rate/$"))

    sent: dict[int, str] = {}
    n_page = 0
    while "/rate/" in page.url:
        item = PlaylistItem.objects.get(pk=page.locator("input[name=item_0]").input_value())
        html = page.content()
        for system in study.systems.all():
            assert system.name not in html
        for sentence in study.sentences.all():
            assert sentence.text not in html and f"/{sentence.key}/" not in html
        for label in LABELS[test_type]:
            assert page.locator("fieldset.answer").get_by_text(label, exact=False).count()
        # Before the sounds have ended the answer is locked, and a key press says why.
        assert page.locator("fieldset.answer input").first.is_disabled()
        page.keyboard.press(page.locator("fieldset.answer input").first.get_attribute("data-key"))
        page.wait_for_function(
            "() => document.getElementById('rate-live').textContent.includes('to its end first')"
        )
        assert not page.locator("fieldset.answer input:checked").count()
        by_key = n_page % 2 == 1
        play_all(page, by_key)
        value = correct_answer(item, study)
        if n_page == 1:
            page.locator("section.sound").first.get_by_role("button", name="Play again").click()
            page.wait_for_function(
                "() => document.querySelector('input[name=plays_0_0]').value === '2' && "
                "document.querySelectorAll('section.sound audio')[0].ended",
                timeout=15_000,
            )
            shoot_trial(page, test_type)
        answer(page, study, value, by_key)
        with page.expect_navigation():
            if by_key:
                page.keyboard.press("Enter")  # on the chosen answer: Next
            else:
                page.get_by_role("button", name="Next").click()
        sent[item.pk] = value
        n_page += 1

    page.wait_for_url(re.compile(r"/done/$"))
    assert page.locator("#completion-code").inner_text() == "HARKEN-42"
    assert errors == []

    listener = Listener.objects.get(study=study)
    assert listener.stage == Listener.Stage.COMPLETED
    assert listener.attention_failures == 0
    playlist = Playlist.objects.get(listener=listener)
    assert playlist.status == Playlist.Status.COMPLETED
    items = list(playlist.items.order_by("position"))
    assert set(sent) == {i.pk for i in items}
    for item in items:
        rating = Rating.objects.get(listener=listener, item=item)
        n_clips = item.trial_clips.count()
        assert rating.test_type == test_type
        assert len(rating.play_counts) == n_clips and min(rating.play_counts) >= 1
        assert rating.play_count == sum(rating.play_counts)
        if test_type in ("ccr", "smos"):
            assert rating.score == int(sent[item.pk]) and rating.choice == ""
        else:
            assert rating.choice == sent[item.pk] and rating.score is None
        assert (rating.clip_id is not None) == (test_type == "smos")
    assert any(r.play_counts[0] == 2 for r in Rating.objects.filter(listener=listener))
    assert {i.purpose for i in items} >= {"training", "test"}
