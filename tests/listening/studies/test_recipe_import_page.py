"""The "New study from a recipe" page (``views.study_new_from_recipe``): a researcher uploads a
recipe or a bundle and gets the study, with the import's notes; every refusal is on the form,
naming the problem, never a 500; only staff reach it, and only with the CSRF token."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from listening.models import Clip, Study
from listening.studies.recipes import recipe_bundle_zip, recipe_json, study_recipe
from tests.factories import (
    ResearcherFactory,
    espeak_study,
    rated_study,
    wav,
    zip_with_a_changed_member,
)

URL = reverse("researcher:study_import")


def bundle_of(study: Study) -> bytes:
    with recipe_bundle_zip(study=study) as handle:
        return handle.read()


def page_text(response) -> str:
    return response.content.decode()


def test_the_dashboard_and_the_new_study_page_link_to_it(client_ada):
    assert URL in page_text(client_ada.get(reverse("researcher:dashboard")))
    assert URL in page_text(client_ada.get(reverse("researcher:study_new")))
    page = page_text(client_ada.get(URL))
    assert 'enctype="multipart/form-data"' in page and "csrfmiddlewaretoken" in page


@pytest.mark.django_db
def test_a_bundle_makes_the_study_and_its_page_lists_the_notes(client_ada, ada):
    study = rated_study(ada, slug="web-origin")
    upload = SimpleUploadedFile("web-origin-recipe.zip", bundle_of(study))
    response = client_ada.post(URL, {"file": upload, "slug": "web-copy"}, follow=True)
    copy = Study.objects.get(slug="web-copy")
    assert response.redirect_chain[-1][0] == reverse("researcher:study", args=["web-copy"])
    assert copy.owner == ada and copy.status == Study.Status.READY
    assert Clip.objects.filter(system__study=copy, status=Clip.Status.READY).count() == 12
    text = page_text(response)
    assert "created from web-origin-recipe.zip" in text
    assert "Every clip came with the bundle" in text


@pytest.mark.django_db
def test_a_recipe_without_audio_says_what_will_be_synthesised_and_uploaded(client_ada, ada):
    study = rated_study(ada, slug="plain")
    upload = SimpleUploadedFile("plain.json", recipe_json(study_recipe(study=study)).encode())
    text = page_text(client_ada.post(URL, {"file": upload}, follow=True))
    assert Study.objects.filter(slug="plain-2", status=Study.Status.DRAFT).exists()
    assert "Upload the recordings of espeak, natural, tacotron2" in text
    voiced = espeak_study(slug="voiced-web")
    upload = SimpleUploadedFile("v.json", recipe_json(study_recipe(study=voiced)).encode())
    text = page_text(client_ada.post(URL, {"file": upload}, follow=True))
    assert "To synthesise" in text and "espeak" in text


@pytest.mark.django_db
def test_a_changed_audio_file_is_refused_on_the_form_naming_it(client_ada, ada):
    study = rated_study(ada, slug="tampered-web")
    tampered, victim = zip_with_a_changed_member(bundle_of(study), "audio/natural/")
    upload = SimpleUploadedFile("tampered.zip", tampered)
    response = client_ada.post(URL, {"file": upload})
    assert response.status_code == 400
    assert f"{victim} was changed after the export" in page_text(response)
    assert 'role="alert"' in page_text(response)
    assert Study.objects.count() == 1  # nothing imported


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("ratings.csv", b"listener,sentence\n", "ratings.csv is not valid JSON (line 1"),
        ("x.json", b'{"systems": []}', "x.json is not a Harken study recipe"),
        ("x.zip", b"PK\x03\x04broken", "x.zip is not a readable ZIP"),
        ("bad.json", b"\xff\xfe\x00", "bad.json is not UTF-8 text"),
        (
            "odd.json",
            b'{"format": "harken-study-recipe", "version": 1, "settings": {}, "design": {"design_seed": 7},'
            b' "sentences": "abc", "systems": 3}',
            "The recipe is missing or mistypes",
        ),
    ],
)
def test_a_file_that_is_no_recipe_is_refused_saying_why(client_ada, name, data, message):
    response = client_ada.post(URL, {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    assert message in page_text(response)


@pytest.mark.django_db
def test_no_file_and_a_taken_slug_are_refused_on_the_form(client_ada, ada):
    response = client_ada.post(URL, {})
    assert response.status_code == 400 and "This field is required" in page_text(response)
    study = espeak_study(slug="taken-web")
    upload = SimpleUploadedFile("r.json", recipe_json(study_recipe(study=study)).encode())
    response = client_ada.post(URL, {"file": upload, "slug": "taken-web"})
    assert response.status_code == 400 and "slug is taken" in page_text(response)


@pytest.mark.django_db
def test_only_staff_may_import_and_only_with_the_csrf_token(client, ada):
    study = espeak_study(slug="guarded")
    recipe = recipe_json(study_recipe(study=study)).encode()
    assert client.get(URL).status_code == 302  # to the login page
    client.force_login(ResearcherFactory(username="visitor", is_staff=False))
    response = client.post(URL, {"file": SimpleUploadedFile("r.json", recipe)})
    assert response.status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ada)
    response = strict.post(URL, {"file": SimpleUploadedFile("r.json", recipe)})
    assert response.status_code == 403
    assert Study.objects.count() == 1


@pytest.mark.django_db
def test_the_systems_page_names_an_upload_that_is_not_the_recipes_file(client_ada, ada):
    study = rated_study(ada, slug="recorded-web")
    upload = SimpleUploadedFile("r.json", recipe_json(study_recipe(study=study)).encode())
    client_ada.post(URL, {"file": upload, "slug": "recorded-web-copy"})
    system = Study.objects.get(slug="recorded-web-copy").systems.get(name="natural")
    upload_url = reverse("researcher:system_upload", args=["recorded-web-copy", system.pk])
    recording = SimpleUploadedFile("s1.wav", wav(0.5))
    text = page_text(client_ada.post(upload_url, {"files": [recording]}, follow=True))
    assert "Not the recipe's recordings (not stored)" in text
    assert "<code>s1.wav</code>: its sha256 is" in text
    assert not Clip.objects.filter(system=system, status=Clip.Status.READY).exists()
