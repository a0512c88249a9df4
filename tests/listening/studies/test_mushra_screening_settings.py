"""A MUSHRA study's post-screening thresholds (ITU-R BS.1534-3, section 4.1.2) are study
settings: on the settings page (shown for MUSHRA only), in the API like the other screening
rules, refused with a message naming the rule and the fix, and read by the report."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from listening.models import Study
from listening.studies.forms import StudyForm
from listening.studies.settings import study_update
from tests.factories import StudyFactory
from tests.mushra_factories import mushra_study

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def settings_post(study: Study, **changes) -> dict:
    """The settings form as the page fills it for ``study``, with ``changes``."""
    form = StudyForm(instance=study)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if field.disabled or value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = value if not hasattr(value, "pk") else value.pk
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


@pytest.fixture
def draft():
    return mushra_study(slug="mushra-draft", open_it=False)


def test_the_settings_page_offers_the_thresholds_for_mushra_only(draft, client):
    client.force_login(draft.owner)
    page = client.get(reverse("researcher:study_edit", args=[draft.slug])).content.decode()
    for name in ("hidden_reference_below", "max_hidden_reference_share", "mid_anchor_above"):
        # In the wrapper the test-type script shows for MUSHRA only, once.
        assert page.count(f'name="screening_{name}"') == 1
        wrapper = rf'data-for-types="mushra">\s*<div[^>]*>\s*<label for="id_screening_{name}"'
        assert re.search(wrapper, page), name
    assert re.search(r'name="screening_hidden_reference_below"[^>]*value="90.0"', page)


def test_thresholds_saved_on_the_page_are_stored_beside_the_other_rules(draft, client):
    client.force_login(draft.owner)
    response = client.post(
        reverse("researcher:study_edit", args=[draft.slug]),
        settings_post(
            draft, screening_hidden_reference_below=85, screening_max_mid_anchor_share=0.25
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    draft.refresh_from_db()
    assert draft.screening["hidden_reference_below"] == 85.0
    assert draft.screening["max_mid_anchor_share"] == 0.25
    assert draft.screening["mid_anchor_above"] == 90.0
    # The ACR rules are kept beside them.
    assert draft.screening["max_gold_failures"] == 0


def test_an_empty_share_is_refused_on_its_field(draft, client):
    client.force_login(draft.owner)
    response = client.post(
        reverse("researcher:study_edit", args=[draft.slug]),
        settings_post(draft, screening_max_hidden_reference_share=""),
    )
    assert response.status_code == 200
    assert "ITU-R BS.1534-3 uses 0.15" in response.content.decode()
    draft.refresh_from_db()
    assert draft.screening.get("max_hidden_reference_share", 0.15) == 0.15  # unchanged


def test_the_api_sets_and_checks_the_thresholds_like_the_other_rules(draft):
    api = api_for(draft.owner)
    url = f"/api/v1/studies/{draft.slug}/"
    answer = api.patch(url, {"screening": {"hidden_reference_below": 120}}, format="json")
    assert answer.status_code == 400
    assert "hidden_reference_below" in str(answer.json()) and "between 0 and 100" in str(
        answer.json()
    )
    answer = api.patch(
        url, {"screening": {"hidden_reference_below": 80, "mid_anchor_above": None}}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["screening"]["hidden_reference_below"] == 80.0
    assert answer.json()["screening"]["mid_anchor_above"] is None  # switched off
    draft.refresh_from_db()
    assert draft.screening["max_hidden_reference_share"] == 0.15


def test_a_threshold_for_a_study_of_another_type_is_refused_by_name():
    study = StudyFactory(slug="acr-study")
    answer = api_for(study.owner).patch(
        f"/api/v1/studies/{study.slug}/",
        {"screening": {"hidden_reference_below": 85}},
        format="json",
    )
    assert answer.status_code == 400
    assert "MUSHRA post-screening thresholds" in str(answer.json())


def test_a_study_that_stops_being_mushra_drops_its_thresholds(draft):
    study = study_update(study=draft, data={"test_type": "acr"})
    assert "hidden_reference_below" not in study.screening
    study = study_update(study=study, data={"test_type": "mushra"})
    assert study.screening["hidden_reference_below"] == 90.0
