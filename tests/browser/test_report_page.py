"""The report page in real Chromium: a researcher logs in, watches a queued report's progress
bar until the page shows the report by itself, and reads it at desktop and phone width.

Screenshots: var/screenshots/report-desktop.png, report-phone.png, report-building.png.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from listening.analysis.reports import report_build
from listening.models import Clip, StudyReport
from listening.objective.cache import clips_objective_compute
from tests.browser.conftest import DESKTOP, PHONE, researcher_log_in, screenshot
from tests.factories import ResearcherFactory, expected_mos, rated_study
from tests.listening.analysis.test_followups_report import answered_ab_study

pytestmark = [pytest.mark.browser]

PASSWORD = "pw-ada-123456"


def log_in(page, live_server, username: str, next_url: str) -> None:
    researcher_log_in(page, live_server.url, username, PASSWORD, next_url)


@pytest.fixture
def study(db):
    return rated_study(ResearcherFactory(username="ada", password=PASSWORD), slug="browser-study")


def test_report_page_reads_well_on_desktop_and_phone(live_server, page_factory, study):
    # Objective metrics measured on the clips' audio, so their table is on the page too.
    clips_objective_compute(clip_ids=list(Clip.objects.values_list("id", flat=True)))
    url = reverse("study_report", args=[study.slug])
    page = page_factory(DESKTOP)
    log_in(page, live_server, "ada", url)
    page.wait_for_selector("#mos-heading")
    natural = f"{expected_mos('natural', straight_liner=False):.3f}"
    assert page.locator("td[data-mos]").first.inner_text() == natural
    # The charts are drawn by the server: SVG with a title, no script needed.
    assert page.locator(".chart-wide svg[role=img]").count() == 3
    assert not page.locator(".chart-compact svg").first.is_visible()
    assert "laptop speakers" in page.locator("#excluded-listeners").inner_text()
    assert "Duration" in page.locator("#objective-metrics").inner_text()
    # Nothing wider than the window: wide tables and charts scroll in their own boxes.
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    screenshot(page, "report-desktop")

    phone = page_factory(PHONE)
    log_in(phone, live_server, "ada", url)
    phone.wait_for_selector("#mos-heading")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # On a phone the server's compact chart shows, at its own size (12 px text), whole.
    wide = phone.locator("#mos-heading ~ figure .chart-wide svg")
    compact = phone.locator("#mos-heading ~ figure .chart-compact svg")
    assert not wide.is_visible() and compact.is_visible()
    box = compact.bounding_box()
    assert box["width"] == 320 and box["x"] + box["width"] <= PHONE["width"]
    screenshot(phone, "report-phone")


def test_progress_bar_then_the_report_without_a_manual_reload(live_server, page_factory, study):
    url = reverse("study_report", args=[study.slug])
    page = page_factory(DESKTOP)
    with override_settings(REPORT_INLINE_MAX_RATINGS=0):
        # No worker runs in this test: the build waits in the queue until the test runs it.
        log_in(page, live_server, "ada", url)
        page.wait_for_selector("progress#report-progress")
        screenshot(page, "report-building")
        report = StudyReport.objects.get(study=study)
        assert report.status == StudyReport.Status.PENDING
        report_build(report_id=report.pk)
        # progress.js sees "ready" on its next poll and reloads into the report.
        page.wait_for_selector("#mos-heading", timeout=15_000)
    assert page.locator("progress").count() == 0


def test_a_comparison_report_page_fits_a_phone(live_server, page_factory, db):
    """An AB report's wide results table scrolls in its own box, keyboard-focusable, and the
    page keeps to the phone's width."""
    study = answered_ab_study(owner=ResearcherFactory(username="bea", password=PASSWORD))
    phone = page_factory(PHONE)
    log_in(phone, live_server, "bea", reverse("study_report", args=[study.slug]))
    region = phone.get_by_role("region", name="Results table, after exclusions")
    region.wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert region.evaluate("box => box.scrollWidth > box.clientWidth")
    assert region.get_attribute("tabindex") == "0"
    screenshot(phone, "report-ab-phone")
