"""The Content-Security-Policy (mos_site.security) breaks no page: the listener's and the
researcher's main pages, driven in Chromium, log no console error (a blocked inline script or
style, or a refused image, shows up there as "Refused to ...")."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from listening.models import Study
from tests.browser.conftest import LIVE_SERVER_MARKS, PHONE, wait_until_rateable
from tests.factories import ResearcherFactory, open_study, rated_study, rating_only_study

pytestmark = LIVE_SERVER_MARKS

PASSWORD = "pw-researcher-123456"


@pytest.fixture(autouse=True)
def urls_loaded():
    # Import the URLconf (and the engine it pulls in) before the browser's first request, which
    # would otherwise spend most of its 20 s timeout on it when the machine is busy.
    reverse("home")


def watch(page) -> list[str]:
    """Every console error and uncaught exception of ``page`` from now on. The browser's own
    request for /favicon.ico (the site has none) is not the page's doing and is left out."""
    errors: list[str] = []

    def console(message) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not where.endswith("/favicon.ico"):
            errors.append(f"{page.url} ({where}): {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return errors


def start(page, url: str) -> None:
    page.goto(url)
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_load_state("networkidle")


def test_the_listener_pages_pass_the_policy(live_server, page_factory):
    rating = rating_only_study(
        slug="csp-rate",
        clips_per_listener=1,
    )
    Study.objects.filter(pk=rating.pk).update(
        instructions="Wear headphones. ![pixel](https://tracker.example/p.gif)"
    )
    page = page_factory(PHONE)
    errors = watch(page)
    response = page.goto(f"{live_server.url}/t/{rating.slug}/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    # The tracking pixel in the instructions is not even in the page; its alt text is.
    assert "tracker.example" not in page.content() and "pixel" in page.content()
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/rate/$"))
    page.get_by_role("button", name="Play").first.click()
    wait_until_rateable(page)
    page.locator("fieldset.acr label.acr-option:has(input[value='4'])").click()
    page.get_by_role("button", name="Next").click()
    page.wait_for_load_state("networkidle")
    assert "HARKEN-42" in page.content()  # the completion page

    questionnaire = open_study(
        slug="csp-questionnaire", gold=False, questionnaire=True, headphone_check=False
    )
    headphones = open_study(
        slug="csp-headphones", gold=False, questionnaire=False, headphone_check=True
    )
    for study in (questionnaire, headphones):
        other = page_factory(PHONE)
        errors += watch(other)
        start(other, f"{live_server.url}/t/{study.slug}/")
        assert other.locator("form").count() >= 1
    other.get_by_role("button", name=re.compile("Play")).first.click()
    other.wait_for_timeout(1000)
    assert errors == []


def test_the_researcher_pages_pass_the_policy(live_server, page_factory):
    grace = ResearcherFactory(username="grace", is_superuser=True)
    study = rated_study(grace, slug="csp-report")
    page = page_factory()
    errors = watch(page)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    urls = [
        reverse("researcher:dashboard"),
        reverse("researcher:study_new"),
        reverse("researcher:api_token"),
        reverse("researcher:api:docs"),
        *(
            reverse(name, args=[study.slug])
            for name in (
                "researcher:study",
                "researcher:study_edit",
                "researcher:sentences",
                "researcher:systems",
                "researcher:clips",
                "study_report",
            )
        ),
        reverse("admin:index"),
    ]
    for url in urls:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        assert "no-store" in response.headers["cache-control"], url
        page.wait_for_load_state("networkidle")
    assert Study.objects.filter(slug="csp-report").exists()
    assert errors == []
