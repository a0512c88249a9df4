"""The report's accompanying-information section (ITU-T P.800.2) in real Chromium, at desktop
and phone width: every item shown, nothing wider than the window, the paragraph box labelled.

Screenshots: var/screenshots/accompanying-desktop.png, accompanying-phone.png.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from listening.analysis.accompanying import ITEMS
from listening.studies.settings import study_update
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS
from tests.browser.test_report_page import PASSWORD, log_in
from tests.factories import ResearcherFactory, rated_study

pytestmark = [pytest.mark.browser]


@pytest.fixture
def study(db):
    study = rated_study(ResearcherFactory(username="ada", password=PASSWORD), slug="p800-2-page")
    return study_update(
        study=study,
        data={
            "instructions": "Rate how natural each sentence sounds. Use headphones.",
            "recruitment_platforms": "Prolific",
            "recruitment_filters": "First language English; UK and US; approval rate >= 95 %",
            "pay_per_hour": "12.00",
            "pay_currency": "GBP",
        },
    )


@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_accompanying_section_reads_well(live_server, page_factory, study, viewport, name):
    page = page_factory(viewport)
    log_in(page, live_server, "ada", reverse("study_report", args=[study.slug]))
    section = page.locator("section.accompanying")
    section.wait_for()
    for key in ITEMS:
        assert page.locator(f"#accompanying-{key} dd").inner_text().strip()
    assert "12.00 GBP" in page.locator("#accompanying-recruitment").inner_text()
    # The paragraph box has a visible label a screen reader announces.
    box = page.get_by_label("A paragraph to paste into the paper")
    assert "not comparable" in box.input_value()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SCREENSHOTS / f"accompanying-{name}.png"))
