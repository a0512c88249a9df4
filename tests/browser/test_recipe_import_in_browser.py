""" "New study from a recipe" in real Chromium at phone width (360 px): reached from the studies
list, a changed audio file refused on the form naming it, a recipe imported with its notes
shown on the new study's page, nothing wider than the window.

Then a recording that is not the recipe's file, uploaded on the systems page, is refused by
name. Screenshots: var/screenshots/recipe-import-refused-phone.png,
recipe-import-done-phone.png, recipe-upload-mismatch-phone.png.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from listening.models import Study
from listening.studies.recipes import recipe_bundle_zip, recipe_json, study_recipe
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_report_page import PASSWORD, log_in
from tests.factories import ResearcherFactory, rated_study, wav, zip_with_a_changed_member

pytestmark = [pytest.mark.browser]


@pytest.fixture
def study(db):
    return rated_study(ResearcherFactory(username="ada", password=PASSWORD), slug="recipe-web")


def tampered_bundle(study: Study) -> tuple[bytes, str]:
    with recipe_bundle_zip(study=study) as handle:
        return zip_with_a_changed_member(handle.read(), "audio/tacotron2/")


def test_import_page_at_phone_width(live_server, page_factory, study):
    page = page_factory(PHONE)
    log_in(page, live_server, "ada", reverse("researcher:dashboard"))
    page.get_by_role("link", name="New study from a recipe").click()
    page.wait_for_load_state()
    data, victim = tampered_bundle(study)
    upload = page.get_by_label("Recipe or bundle")
    upload.set_input_files(
        {"name": "recipe-web.zip", "mimeType": "application/zip", "buffer": data}
    )
    page.get_by_role("button", name="Import the study").click()
    page.wait_for_load_state()
    alert = page.get_by_role("alert")
    assert f"{victim} was changed after the export" in alert.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "recipe-import-refused-phone")

    recipe = recipe_json(study_recipe(study=study)).encode()
    upload = page.get_by_label("Recipe or bundle")
    upload.set_input_files(
        {"name": "recipe-web.json", "mimeType": "application/json", "buffer": recipe}
    )
    page.get_by_label("Slug of the new study").fill("recipe-web-copy")
    page.get_by_label("Slug of the new study").press("Enter")  # by keyboard
    page.wait_for_url(f"**{reverse('researcher:study', args=['recipe-web-copy'])}")
    notes = page.locator("ul.messages").inner_text()
    assert "created from recipe-web.json" in notes and "Upload the recordings of" in notes
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "recipe-import-done-phone")

    page.goto(live_server.url + reverse("researcher:systems", args=["recipe-web-copy"]))
    upload = page.get_by_label("Recordings for natural")
    upload.set_input_files({"name": "s1.wav", "mimeType": "audio/wav", "buffer": wav(0.5)})
    upload.press("Tab")
    page.keyboard.press("Enter")  # the Upload button, by keyboard
    page.wait_for_load_state()
    report = page.locator("#upload-report").inner_text()
    assert "Not the recipe's recordings (not stored)" in report and "s1.wav" in report
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "recipe-upload-mismatch-phone")
