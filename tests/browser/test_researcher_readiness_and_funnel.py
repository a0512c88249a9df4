"""The readiness checklist and the funnel in real Chromium: a study whose clips failed shows the
count and the first error, offers a retry and does not make "Open the test" the primary button;
the report shows who took part at each step (the funnel), per platform.

Screenshots: var/screenshots/researcher-failed-clips-*.png, report-funnel-*.png."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from listening.analysis.funnel import study_funnel as funnel_counts
from listening.models import Clip, Study, System
from listening.studies.demo import espeak_voice_ensure
from listening.studies.lifecycle import study_clips_ensure
from tests.browser.conftest import DESKTOP, PHONE, researcher_log_in, screenshot
from tests.factories import ResearcherFactory, fail_headphone_check, join, open_study, rated_study

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "pw-ready-funnel-2718"


def log_in(page, live_server, username: str, next_url: str) -> None:
    researcher_log_in(page, live_server.url, username, PASSWORD, next_url)


def owner_with_password(study: Study) -> str:
    study.owner.set_password(PASSWORD)
    study.owner.save()
    return study.owner.username


def test_failed_clips_block_opening_with_their_error_and_a_retry(
    live_server, page_factory, transactional_db
):
    study = open_study(slug="failing", open_study=False)
    espeak = System.objects.create(
        study=study, name="espeak", kind=System.Kind.VOICE, voice=espeak_voice_ensure()
    )
    study_clips_ensure(study=study)
    broken = list(Clip.objects.filter(system=espeak).order_by("id")[:2])
    Clip.objects.filter(pk__in=[c.pk for c in broken]).update(
        status=Clip.Status.FAILED, error="the vocoder ran out of memory"
    )
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    page = page_factory(DESKTOP)
    log_in(page, live_server, owner_with_password(study), f"/studies/{study.slug}/")

    block = page.locator("[data-failed-block]")
    expect(block).to_contain_text("2 clips failed: the test cannot open until they are ready")
    expect(block).to_contain_text("the vocoder ran out of memory")
    # "Open the test" is not the highlighted button while clips are failed.
    expect(page.locator("[data-open-test]")).to_have_class("button secondary")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "researcher-failed-clips-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "researcher-failed-clips-desktop")

    block.get_by_role("button", name="Retry failed clips").click()
    page.wait_for_load_state("load")
    statuses = set(
        Clip.objects.filter(pk__in=[c.pk for c in broken]).values_list("status", flat=True)
    )
    assert Clip.Status.FAILED not in statuses, statuses


def test_the_report_shows_who_took_part_at_each_step(live_server, page_factory, transactional_db):
    owner = ResearcherFactory(username="funnel-owner", password=PASSWORD)
    study = rated_study(owner, slug="funnel-page")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    study.refresh_from_db()
    before = funnel_counts(study=study)["total"]
    fail_headphone_check(join(study, "FUNNEL-NEWCOMER"))
    page = page_factory(DESKTOP)
    log_in(page, live_server, owner.username, reverse("study_report", args=[study.slug]))

    funnel = page.locator("#funnel")
    expect(funnel).to_be_visible()
    cells = funnel.locator("tr.total td").all_inner_texts()
    # arrived, consented, failed the headphone check, dropped out, in progress, completed
    assert int(cells[1]) == before["consented"] + 1, cells
    assert int(cells[2]) == before["failed_headphone_check"] + 1, cells
    assert int(cells[5]) == before["completed"], cells
    screenshot(page, "report-funnel-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "report-funnel-phone")
