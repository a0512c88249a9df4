"""Real headless Chromium (Debian's package) driven by Playwright against a live server.

Screenshots go to var/screenshots/ (kept after the run, so a failure can be seen as the browser
saw it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Error as PlaywrightError

from listening.models import PlaylistItem
from tests.conftest import CHROMIUM, require

# Playwright's sync API keeps an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is deliberate (tests only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Listeners must press play themselves in real browsers; tests still click play, but the
    # headless browser has no user-activation history, so allow audio without a gesture.
    "--autoplay-policy=no-user-gesture-required",
]

# The marks of a test whose pages read what it wrote: the live server runs in another thread, so
# it sees only committed rows (a transactional test, not one rolled back inside a transaction).
LIVE_SERVER_MARKS = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def browser():
    require(Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_factory(browser):
    """New isolated pages (own cookies) at a given viewport: page_factory(PHONE)."""
    # Load the URLconf (and what it imports: inflect instruments itself with typeguard, which
    # took 20 s on a loaded machine) before the first page, so no goto times out on imports.
    from django.urls import get_resolver

    assert get_resolver().url_patterns
    contexts = []

    def make(viewport: dict | None = None, **kwargs):
        context = browser.new_context(viewport=viewport or DESKTOP, **kwargs)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(page_factory):
    return page_factory(DESKTOP)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under var/test/screenshots/NAME.png and return its path.

    Chromium now and then refuses one capture ("Unable to capture screenshot", a CDP protocol
    error) and takes the same picture when asked again a moment later: asked up to three
    times, so a browser hiccup is not reported as the page failing."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    for _ in range(2):
        try:
            page.screenshot(path=str(path), full_page=True)
            return path
        except PlaywrightError as error:
            if "Unable to capture screenshot" not in str(error):
                raise
            page.wait_for_timeout(250)
    page.screenshot(path=str(path), full_page=True)  # the third time, whatever it raises
    return path


def researcher_log_in(page, base: str, username: str, password: str, next_url: str) -> None:
    """Log in through the login page as a researcher would, then follow ``next_url``."""
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def both_sizes(page, name: str) -> None:
    """Screenshots of a researcher's page at phone and desktop size; the page is left at desktop
    size."""
    page.set_viewport_size(PHONE)
    # Nothing may widen the page past the phone (long voice names and paths wrap).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    screenshot(page, f"researcher-{name}-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"researcher-{name}-desktop")


# --- The listener's pages ------------------------------------------------------------------


def shoot(page, name: str) -> None:
    """Screenshot the page at phone width and at desktop width, then return to phone width."""
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    screenshot(page, f"listener-{name}-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"listener-{name}-desktop")
    page.set_viewport_size(size)


def consent(page, url: str) -> None:
    """Open a study's link and consent, as a participant would; the next page is loading."""
    page.goto(url)
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_load_state()


def wait_until_rateable(page, n: int = 0) -> None:
    """The scale unlocks only when the page's script has seen the clip's `ended` event."""
    page.wait_for_function(
        f"() => !document.querySelectorAll('fieldset.acr')[{n}].disabled", timeout=15_000
    )


def current_item(page) -> PlaylistItem:
    return PlaylistItem.objects.get(pk=page.locator("input[name=item_0]").input_value())


def play_and_rate(page, score: int) -> PlaylistItem:
    item = current_item(page)
    page.get_by_role("button", name="Play").first.click()
    wait_until_rateable(page)
    page.locator(f"fieldset.acr label.acr-option:has(input[value='{score}'])").click()
    next_button = page.get_by_role("button", name="Next")
    assert next_button.is_enabled()
    next_button.click()
    page.wait_for_load_state()
    return item


def answer_headphone_trials(page, answers) -> None:
    """Play each trial of the check to its end (its answers unlock then), and answer it."""
    trials = page.locator("fieldset.trial")
    for i, answer in enumerate(answers):
        trials.nth(i).get_by_role("button", name=re.compile("^Play")).click()
        page.wait_for_function(
            f"() => !document.querySelector('input[name=trial_{i}]').disabled", timeout=15_000
        )
        trials.nth(i).get_by_label(f"Tone {answer}").check()


def console_errors(page) -> list[str]:
    """Collect the page's console errors and uncaught exceptions from now on (a live list)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
