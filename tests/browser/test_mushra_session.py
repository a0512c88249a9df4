"""MUSHRA and transcription sessions in real headless Chromium, with real audio played: every
condition played, sliders set by mouse and by keyboard, a page refused by the server until all
were played, the text of a transcription typed and sent with Enter; the database checked after.
Screenshots at 360 px and 1280 px go to /tmp/shots15/ (and var/screenshots/)."""

from __future__ import annotations

import re
from pathlib import Path

from listening.models import ConditionScore, Listener, Rating, TestType
from tests.browser.conftest import (
    DESKTOP,
    LIVE_SERVER_MARKS,
    PHONE,
    consent,
    console_errors,
    screenshot,
)
from tests.mushra_factories import mushra_study, transcription_study

pytestmark = LIVE_SERVER_MARKS

SHOTS = Path("/tmp/shots15")


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        screenshot(page, f"listener-{name}-{label}")
    page.set_viewport_size(size)


def row(page, label: str):
    return page.locator(".mushra-row", has=page.get_by_role("button", name=f"Play {label}"))


def play_to_the_end(page, label: str) -> None:
    page.get_by_role("button", name=f"Play {label}").click()
    try:
        row(page, label).locator(".mushra-status", has_text=re.compile("^Played$")).wait_for(
            timeout=15_000
        )
    except Exception:
        print(page.locator(".mushra-status").all_inner_texts())
        raise


def labels_on(page) -> list[str]:
    names = page.locator(".mushra-row .mushra-play").all_inner_texts()
    return [name.removeprefix("Play ").strip() for name in names]


def test_a_whole_mushra_session(live_server, page_factory):
    study = mushra_study(slug="b-mushra", n_sentences=2, seconds=1.2)
    page = page_factory(DESKTOP)
    errors = console_errors(page)
    consent(page, f"{live_server.url}/t/{study.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    listener = Listener.objects.get(study=study)

    labels = labels_on(page)
    assert labels == ["A", "B", "C", "D", "E"]
    assert page.get_by_role("button", name="Reference").is_visible()
    for name in study.systems.values_list("name", flat=True):
        assert name not in page.content()
    assert page.get_by_role("button", name="Next").is_disabled()
    assert all(page.locator("input[type=range]").nth(i).is_disabled() for i in range(5))
    shoot(page, "mushra-unplayed")

    # The server refuses the page too (the form forced past the script): nothing is written.
    page.evaluate(
        "() => HTMLFormElement.prototype.submit.call(document.getElementById('mushra-form'))"
    )
    page.get_by_text("play every sound", exact=False).wait_for()
    assert not Rating.objects.filter(listener=listener).exists()
    page.get_by_role("link", name="Continue the test").click()
    page.wait_for_url(re.compile(r"/rate/$"))

    # The reference to its end: the next sound then starts from its beginning.
    page.get_by_role("button", name="Reference").click()
    page.wait_for_function(
        "() => Number(document.querySelector('.time-now').textContent) >= 0.3", timeout=15_000
    )
    page.locator("button.mushra-reference:not(.playing)").wait_for(timeout=15_000)
    set_values = {}
    for k, label in enumerate(labels_on(page)):
        play_to_the_end(page, label)
        slider = row(page, label).locator("input[type=range]")
        assert slider.is_enabled(), "the sound played last can be rated"
        others = [lab for lab in labels_on(page) if lab != label]
        assert row(page, others[0]).locator("input[type=range]").is_disabled()
        if k % 2 == 0:
            # By keyboard: Home, two Page Ups (+10 each), three arrows right.
            slider.focus()
            slider.press("Home")
            slider.press("PageUp")
            slider.press("PageUp")
            for _ in range(3):
                slider.press("ArrowRight")
            assert slider.get_attribute("aria-valuetext") == "23, Poor"
            set_values[label] = 23
        else:
            # By mouse: a click at 80 % of the track.
            box = slider.bounding_box()
            page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
            value = int(slider.input_value())
            assert 70 <= value <= 90
            assert (
                slider.get_attribute("aria-valuetext")
                == f"{value}, {'Excellent' if value >= 80 else 'Good'}"
            )
            set_values[label] = value
        assert row(page, label).locator("output").inner_text() == str(set_values[label])
    shoot(page, "mushra-rated")
    next_button = page.get_by_role("button", name="Next")
    assert next_button.is_enabled()
    positions = {
        label: int(row(page, label).locator("input[type=range]").get_attribute("data-position"))
        for label in labels_on(page)
    }
    next_button.click()
    page.wait_for_url(re.compile(r"/rate/$"))
    first = Rating.objects.get(listener=listener)
    assert first.test_type == TestType.MUSHRA
    scores = {
        s.trial_clip.position: s.score
        for s in ConditionScore.objects.filter(response=first).select_related("trial_clip")
    }
    assert scores == {positions[label]: value for label, value in set_values.items()}
    assert first.play_counts[0] >= 1, "the reference was played"

    # Second page: switching keeps the playback position (the study's default).
    page.get_by_role("button", name="Play A").click()
    page.wait_for_function(
        "() => Number(document.querySelector('.time-now').textContent) >= 0.5", timeout=15_000
    )
    page.get_by_role("button", name="Play B").click()
    assert float(page.locator(".time-now").inner_text()) >= 0.4
    for label in labels_on(page):
        play_to_the_end(page, label)
        slider = row(page, label).locator("input[type=range]")
        slider.focus()
        slider.press("End")
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/done/$"))
    assert page.get_by_text("HARKEN-42").is_visible()
    listener.refresh_from_db()
    assert listener.stage == Listener.Stage.COMPLETED
    assert Rating.objects.filter(listener=listener).count() == 2
    assert ConditionScore.objects.filter(response__listener=listener, score=100).count() == 5
    # The one console error is the refused page's status (400), asked for above.
    assert [e for e in errors if "status of 400" not in e] == [], errors


def test_a_mushra_page_on_a_phone(live_server, page_factory):
    study = mushra_study(slug="b-mushra-phone", n_sentences=1, seconds=0.6, n_systems=6)
    page = page_factory(PHONE)
    consent(page, f"{live_server.url}/t/{study.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    # Nothing is wider than the phone's screen.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    play_to_the_end(page, "A")
    shoot(page, "mushra-phone-playing")


def test_a_whole_transcription_session(live_server, page_factory):
    study = transcription_study(slug="b-words", transcription_max_plays=2)
    page = page_factory(PHONE)
    errors = console_errors(page)
    consent(page, f"{live_server.url}/t/{study.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    listener = Listener.objects.get(study=study)
    shoot(page, "transcription-unplayed")

    box = page.get_by_label("What was said")
    box.fill("too soon")
    box.press("Enter")
    page.get_by_text("Please play the clip to its end first.").wait_for()
    assert not Rating.objects.filter(listener=listener).exists()

    typed = ["The birch canoe slid", "glue the SHEET to the dark blue background", "it's easy"]
    for n, words in enumerate(typed):
        play = page.get_by_role("button", name="Play")
        play.click()
        page.get_by_text("Played to the end.").wait_for(timeout=15_000)
        if n == 0:
            play.click()  # the second and last play of this clip
            page.get_by_text("No plays left.").wait_for(timeout=15_000)
            assert play.is_disabled()
            shoot(page, "transcription-played")
        page.get_by_label("What was said").fill(words)
        page.get_by_label("What was said").press("Enter")
        page.wait_for_url(re.compile(r"/(rate|done)/$"))
    assert page.get_by_text("HARKEN-42").is_visible()
    answers = list(Rating.objects.filter(listener=listener).order_by("item__position"))
    assert [a.text for a in answers] == typed
    assert [a.play_count for a in answers] == [2, 1, 1]
    assert {a.test_type for a in answers} == {TestType.TRANSCRIPTION}
    assert not errors, errors
