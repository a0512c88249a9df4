"""MUSHRA's playback options in real Chromium (ITU-R BS.1534-3 lets the listener switch between
conditions at will and loop a part of the sound): switching keeps the playback position when
the study says so (the default) and starts again otherwise; a loop keeps the position inside
its part, and a loop that is not valid is refused with a message and does not loop; only the
selected condition's slider can be moved.

The page's script writes the playback position, in seconds, to the form's
data-playback-seconds; a switch is made and read in one script call, so the machine's load
between two Playwright calls does not move the figures. Positions are compared within
``TOLERANCE`` seconds.
"""

from __future__ import annotations

import re

from tests.browser.conftest import DESKTOP, LIVE_SERVER_MARKS, consent, console_errors
from tests.mushra_factories import mushra_study

pytestmark = LIVE_SERVER_MARKS

TOLERANCE = 0.15
SECONDS = 1.5  # every clip's length: long enough for a loop well inside it

# Click the button named NAME and wait until its sound plays; return the position just before
# the click and where the sound then started, both in seconds.
SWITCH = """async (name) => {
  const form = document.getElementById("mushra-form");
  const button = [...form.querySelectorAll("button.mushra-play")]
    .find((b) => b.textContent.trim() === name);
  const before = Number(form.dataset.playbackSeconds);
  button.click();
  const until = Date.now() + 15000;
  while (!button.classList.contains("playing")) {
    if (Date.now() > until) throw new Error(`${name} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return [before, Number(form.dataset.playbackSeconds)];
}"""

# The positions seen every 20 ms for MS milliseconds.
SAMPLE = """async (ms) => {
  const form = document.getElementById("mushra-form");
  const seen = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    seen.push(Number(form.dataset.playbackSeconds));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return seen;
}"""


def switch_to(page, label: str) -> tuple[float, float]:
    return tuple(page.evaluate(SWITCH, f"Play {label}"))


def position(page) -> float:
    return float(page.locator("#mushra-form").get_attribute("data-playback-seconds"))


def wait_until_at(page, seconds: float) -> None:
    page.wait_for_function(
        "(s) => Number(document.getElementById('mushra-form').dataset.playbackSeconds) >= s",
        arg=seconds,
        timeout=15_000,
    )


def slider(page, label: str):
    return page.get_by_label(f"Rating of sound {label}")


def enabled_sliders(page) -> list[str]:
    return [
        label
        for label in ("A", "B", "C", "D", "E")
        if slider(page, label).count() and slider(page, label).is_enabled()
    ]


def rating_page(live_server, page_factory, **fields):
    study = mushra_study(n_sentences=1, seconds=SECONDS, **fields)
    page = page_factory(DESKTOP)
    errors = console_errors(page)
    consent(page, f"{live_server.url}/t/{study.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    return page, errors


def loop_set(page, start: str, end: str) -> None:
    """Turn the loop off, type its bounds, turn it on again (the live region emptied first, so a
    message that follows is a new one)."""
    page.locator("input.loop-on").uncheck()
    page.evaluate("() => (document.getElementById('mushra-live').textContent = '')")
    page.locator("input.loop-start").fill(start)
    page.locator("input.loop-end").fill(end)
    page.locator("input.loop-on").check()


LOOP_BAD = "The loop must start before it ends, within the sound."


def test_switching_keeps_the_position_by_default(live_server, page_factory):
    page, errors = rating_page(live_server, page_factory, slug="b-keep")
    assert enabled_sliders(page) == [], "nothing can be rated before it is played"

    _, started = switch_to(page, "A")
    assert started < TOLERANCE
    assert enabled_sliders(page) == ["A"]
    wait_until_at(page, 0.3)

    before, started = switch_to(page, "B")
    assert before >= 0.3
    assert abs(started - before) <= TOLERANCE, "B goes on from where A was"
    assert enabled_sliders(page) == ["B"]

    wait_until_at(page, started + 0.2)
    before, started = switch_to(page, "A")
    assert started >= 0.5
    assert abs(started - before) <= TOLERANCE, "back to A, still from where B was"
    assert enabled_sliders(page) == ["A"]

    # Stopped, the sound played last can still be rated; no other.
    page.get_by_role("button", name="Stop").click()
    assert enabled_sliders(page) == ["A"]
    assert not errors, errors


def test_switching_starts_again_when_the_study_says_so(live_server, page_factory):
    page, errors = rating_page(
        live_server, page_factory, slug="b-restart", mushra_keep_position=False
    )
    switch_to(page, "A")
    wait_until_at(page, 0.3)
    before, started = switch_to(page, "B")
    assert before >= 0.3
    assert started < TOLERANCE, "B starts from its beginning"
    wait_until_at(page, 0.3)
    before, started = switch_to(page, "A")
    assert before >= 0.3
    assert started < TOLERANCE, "and so does A again"
    assert enabled_sliders(page) == ["A"]
    assert not errors, errors


def test_a_loop_keeps_the_position_inside_its_part(live_server, page_factory):
    page, errors = rating_page(live_server, page_factory, slug="b-loop")
    loop_set(page, "0.1", "0.3")
    _, started = switch_to(page, "A")
    # At the loop's start, give or take the frames a loaded machine lets pass before the read.
    assert 0.1 - 0.02 <= started <= 0.1 + TOLERANCE, "a sound starts at the loop's start"
    # Well past the loop's end (0.3 s, three passes of its 0.2 s and more), it is still inside.
    page.wait_for_timeout(700)
    seen = page.evaluate(SAMPLE, 600)
    assert seen and all(0.1 - 0.02 <= s <= 0.3 + 0.02 for s in seen), seen
    assert max(seen) - min(seen) >= 0.1, f"it plays on while it loops: {seen}"
    assert page.locator("#mushra-live").inner_text() == ""
    assert not errors, errors


def test_a_loop_that_is_not_valid_is_refused_and_does_not_loop(live_server, page_factory):
    page, errors = rating_page(live_server, page_factory, slug="b-loop-bad")
    live = page.locator("#mushra-live")

    # Its start after its end.
    loop_set(page, "0.5", "0.2")
    page.get_by_text(LOOP_BAD).wait_for(timeout=5_000)
    switch_to(page, "A")
    wait_until_at(page, 0.7)
    assert live.inner_text() == LOOP_BAD
    page.get_by_role("button", name="Stop").click()

    # Beyond the sound's end (1.5 s): refused too, and the sound plays on from where it was.
    loop_set(page, "2.0", "3.0")
    page.get_by_text(LOOP_BAD).wait_for(timeout=5_000)
    before, started = switch_to(page, "B")
    assert before >= 0.7
    assert abs(started - before) <= TOLERANCE, (before, started)
    wait_until_at(page, started + 0.3)
    assert live.inner_text() == LOOP_BAD
    assert not errors, errors
