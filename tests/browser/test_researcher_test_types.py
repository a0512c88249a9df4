"""Choosing a study's test type in real Chromium: each type with what it is for, only the
settings the chosen type reads, by keyboard, at 360 px; the study page then says the type and
what it still lacks. Screenshots at 360x740 and 1280x800 go to var/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from listening.models import Study, System
from tests.browser.conftest import PHONE, both_sizes, researcher_log_in
from tests.factories import ResearcherFactory, SentenceFactory, SystemFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "pw-test-types-2718"


def visible_settings(page) -> list[str]:
    return page.eval_on_selector_all(
        "[data-for-types]:not([hidden])",
        "nodes => nodes.map(n => n.querySelector('input, select, textarea').name)",
    )


def test_choose_a_test_type_by_keyboard_and_see_what_the_study_lacks(
    page, live_server, transactional_db
):
    ResearcherFactory(username="hedy", password=PASSWORD)
    researcher_log_in(page, live_server.url, "hedy", PASSWORD, "/studies/new/")
    page.set_viewport_size(PHONE)

    acr = page.get_by_label("ACR: rate each clip (MOS)")
    expect(acr).to_be_checked()
    assert visible_settings(page) == ["scale_labels"]
    # Radio buttons move with the arrow keys; only the chosen type's settings show.
    acr.focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("CCR: rate the second clip against the first (CMOS)")).to_be_checked()
    assert visible_settings(page) == ["reference_system", "comparison", "scale_labels"]
    page.keyboard.press("ArrowDown")
    assert visible_settings(page) == ["allow_tie"]
    page.keyboard.press("ArrowDown")
    assert visible_settings(page) == []
    page.keyboard.press("ArrowDown")
    expect(
        page.get_by_label("SMOS: how similar are two voices (speaker similarity)")
    ).to_be_checked()
    assert visible_settings(page) == ["reference_system", "reference_text", "scale_labels"]
    expect(page.get_by_text("For voice cloning and multi-speaker work.")).to_be_visible()
    both_sizes(page, "new-study-smos")

    page.get_by_label("Title").fill("Cloned voice similarity")
    page.get_by_label("Slug").fill("cloned-voice")
    page.get_by_label("The reference speaks a different sentence").check()
    page.get_by_role("button", name="Create study").click()
    page.wait_for_load_state("load")
    study = Study.objects.get(slug="cloned-voice")
    assert (study.test_type, study.reference_text) == ("smos", "different")

    SentenceFactory(study=study, key="s1", position=0)
    SystemFactory(study=study, name="clone", kind=System.Kind.UPLOADED, position=1)
    page.goto(f"{live_server.url}/studies/cloned-voice/")
    steps = page.locator("section[aria-labelledby=steps]")
    expect(steps).to_contain_text("SMOS: how similar are two voices")
    expect(steps).to_contain_text("SMOS settings to complete")
    expect(steps).to_contain_text("A different-text reference needs at least two test sentences")
    both_sizes(page, "study-smos-lacking")

    SystemFactory(study=study, name="speaker", kind=System.Kind.REFERENCE, position=0)
    page.goto(f"{live_server.url}/studies/cloned-voice/settings/")
    page.set_viewport_size(PHONE)
    expect(page.get_by_label("Reference system (CCR against the reference, SMOS)")).to_have_value(
        str(study.systems.get(name="speaker").pk)
    )
    page.get_by_label("The reference speaks the same sentence").check()
    both_sizes(page, "settings-smos")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_load_state("load")
    expect(page.locator("[data-type-readiness]")).to_contain_text("SMOS settings complete")
    study.refresh_from_db()
    assert study.reference_system.name == "speaker"
    assert study.reference_text == "same"
