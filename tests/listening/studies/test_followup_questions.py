"""A study's yes/no follow-up questions: the rules (no text, a key twice, too long, too many)
with messages that name the question, the settings page, the API and recipes, and the freeze
once listeners have answered."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from listening.followups import (
    MAX_QUESTIONS,
    FollowupError,
    followup_answers_clean,
    followup_questions_clean,
    followup_questions_parse,
)
from listening.models import Rating, Study
from listening.studies.recipes import recipe_json, study_import, study_recipe
from listening.studies.settings import study_create, study_update
from tests.factories import STUDY_FORM, StudyFactory, rated_study

ODD = {"key": "mispronounced", "text": "Did you hear any mispronounced word?"}
NOISE = {"key": "noise", "text": "Was there background noise?"}


@pytest.mark.parametrize(
    "questions, message",
    [
        ([{"key": "odd", "text": "  "}], "'odd' has no text"),
        ([ODD, {**NOISE, "key": "mispronounced"}], "'mispronounced' is used twice"),
        ([{"key": "odd", "text": "x" * 201}], "201 characters long; at most 200"),
        ([{"key": "odd", "text": "Did a word\nsound wrong?"}], "'odd' has a line break"),
        ([{"key": f"q{i}", "text": "Yes?"} for i in range(6)], "at most 5"),
        ([{"key": "Odd Word", "text": "Yes?"}], "lower-case letters"),
        ([{"text": "Yes?"}], "question 1 has no key"),
        ("not a list", "must be a list"),
    ],
    ids=[
        "empty text",
        "duplicate key",
        "too long",
        "line break",
        "too many",
        "bad key",
        "no key",
        "no list",
    ],
)
def test_questions_breaking_a_rule_are_refused_naming_it(questions, message):
    with pytest.raises(FollowupError, match=message):
        followup_questions_clean(questions)


def test_questions_are_kept_stripped_and_in_order_and_read_from_lines():
    assert MAX_QUESTIONS == 5
    assert followup_questions_clean([{"key": " odd ", "text": " Odd? "}]) == [
        {"key": "odd", "text": "Odd?"}
    ]
    text = (
        "mispronounced: Did you hear any mispronounced word?\n\nnoise: Was there background noise?"
    )
    assert followup_questions_parse(text) == [ODD, NOISE]
    with pytest.raises(FollowupError, match="Line 1 .* has no key"):
        followup_questions_parse("Did you hear it?")


def test_answers_must_cover_every_question_with_yes_or_no_and_nothing_else():
    assert followup_answers_clean([ODD], {"mispronounced": " YES"}) == {"mispronounced": "yes"}
    with pytest.raises(FollowupError, match="still open: Was there background noise"):
        followup_answers_clean([ODD, NOISE], {"mispronounced": "no"})
    with pytest.raises(FollowupError, match="Yes or No"):
        followup_answers_clean([ODD], {"mispronounced": "maybe"})
    with pytest.raises(FollowupError, match="asks no question other"):
        followup_answers_clean([ODD], {"mispronounced": "no", "other": "yes"})


@pytest.mark.django_db
def test_the_services_store_and_refuse_with_the_fields_name(ada):
    study = study_create(
        owner=ada, data={"slug": "fu", "title": "Follow", "followup_questions": [ODD]}
    )
    assert Study.objects.get(pk=study.pk).followup_questions == [ODD]
    with pytest.raises(ValidationError) as refused:
        study_update(study=study, data={"followup_questions": [ODD, ODD]})
    assert "used twice" in refused.value.message_dict["followup_questions"][0]
    assert Study.objects.get(pk=study.pk).followup_questions == [ODD]


@pytest.mark.django_db
def test_the_questions_freeze_once_listeners_have_answered(ada):
    study = rated_study(ada)
    assert Rating.objects.filter(listener__study=study).exists()
    with pytest.raises(ValidationError) as refused:
        study_update(study=study, data={"followup_questions": [ODD]})
    assert "can no longer change" in refused.value.message_dict["followup_questions"][0]
    # The same questions again (a settings form saved unchanged) are no change.
    study_update(study=study, data={"followup_questions": [], "title": "Renamed"})
    assert Study.objects.get(pk=study.pk).title == "Renamed"


@pytest.mark.django_db
def test_the_settings_page_edits_them_as_lines_and_shows_a_refusal_by_the_field(client_ada, ada):
    study = StudyFactory(owner=ada, slug="fu-page", title="Page")
    url = reverse("researcher:study_edit", args=[study.slug])
    page = client_ada.get(url).content.decode()
    assert 'name="followup_questions"' in page and "Follow-up questions" in page
    form = {**STUDY_FORM, "title": "Page", "slug": study.slug}
    lines = f"{ODD['key']}: {ODD['text']}\n{NOISE['key']}: {NOISE['text']}"
    assert client_ada.post(url, {**form, "followup_questions": lines}).status_code == 302
    assert Study.objects.get(pk=study.pk).followup_questions == [ODD, NOISE]
    assert lines in client_ada.get(url).content.decode()
    refused = client_ada.post(url, {**form, "followup_questions": "odd: Odd?\nodd: Again?"})
    assert refused.status_code == 200 and "is used twice" in refused.content.decode()
    assert "odd: Again?" in refused.content.decode(), "what was typed stays in the box"
    assert Study.objects.get(pk=study.pk).followup_questions == [ODD, NOISE]


@pytest.mark.django_db
def test_the_api_and_recipes_carry_them(ada):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=ada).key}")
    StudyFactory(owner=ada, slug="fu-api", title="API")
    ok = client.patch("/api/v1/studies/fu-api/", {"followup_questions": [ODD]}, format="json")
    assert ok.status_code == 200 and ok.json()["followup_questions"] == [ODD]
    bad = client.patch(
        "/api/v1/studies/fu-api/", {"followup_questions": [{"key": "x", "text": ""}]}, format="json"
    )
    assert bad.status_code == 400 and "has no text" in bad.json()["followup_questions"][0]
    study = Study.objects.get(slug="fu-api")
    recipe = json.loads(recipe_json(study_recipe(study=study)))
    assert recipe["test"]["followup_questions"] == [ODD]
    copy = study_import(owner=ada, recipe=recipe, slug="fu-api-copy").study
    assert copy.followup_questions == [ODD]
