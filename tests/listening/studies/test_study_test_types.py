"""A study's test type and its settings on the new-study and settings pages, in the services
and in recipes: what is refused says how to fix it, and it all freezes once open."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from listening.models import Study, System
from listening.studies import study_types
from listening.studies.recipes import recipe_json, recipe_read, study_import, study_recipe
from listening.studies.settings import study_create, study_update
from tests.factories import STUDY_FORM, SentenceFactory, StudyFactory, SystemFactory

FORM = STUDY_FORM


def _page(response) -> str:
    return response.content.decode()


@pytest.fixture
def study(ada):
    study = StudyFactory(owner=ada, slug="types", title="Types")
    for j in range(2):
        SentenceFactory(study=study, key=f"s{j}", position=j)
    return study


def _systems(study, *names_kinds):
    return [
        SystemFactory(study=study, name=name, kind=kind, position=i)
        for i, (name, kind) in enumerate(names_kinds)
    ]


# --- The pages -----------------------------------------------------------------------------------


def test_new_study_form_offers_each_type_with_what_it_is_for(client_ada):
    page = _page(client_ada.get(reverse("researcher:study_new")))
    for value in Study.TestType.values:
        assert f'value="{value}"' in page
        assert str(study_types.TYPE_HELP[value]) in page
    # No systems yet: the reference system is chosen later, and the page says how.
    assert "Chosen in Settings once the study has its systems" in page
    assert 'name="reference_system"' in page and "disabled" in page


def test_create_a_ccr_study_from_the_form(client_ada):
    response = client_ada.post(
        reverse("researcher:study_new"), {**FORM, "test_type": "ccr", "comparison": "systems"}
    )
    assert response.status_code == 302
    study = Study.objects.get(slug="close-systems")
    assert (study.test_type, study.comparison, study.reference_system) == ("ccr", "systems", None)
    dashboard = _page(client_ada.get(reverse("researcher:dashboard")))
    assert (
        '<abbr title="CCR: rate the second clip against the first (CMOS)">CCR</abbr>' in dashboard
    )


def test_settings_choose_the_reference_among_the_studys_systems(client_ada, study):
    natural, vits = _systems(study, ("natural", "reference"), ("vits", "uploaded"))
    other = SystemFactory(study=StudyFactory(slug="someone-else"), name="theirs")
    url = reverse("researcher:study_edit", args=[study.slug])
    page = _page(client_ada.get(url))
    # The one system of natural recordings is offered first; another study's is not listed.
    assert f'<option value="{natural.pk}" selected>natural (Natural reference)</option>' in page
    assert "theirs" not in page

    refused = client_ada.post(
        url, {**FORM, "slug": study.slug, "test_type": "smos", "reference_system": other.pk}
    )
    assert refused.status_code == 200
    assert "Select a valid choice" in _page(refused)
    assert Study.objects.get(pk=study.pk).test_type == "acr"  # nothing saved

    saved = client_ada.post(
        url,
        {
            **FORM,
            "slug": study.slug,
            "test_type": "smos",
            "reference_system": natural.pk,
            "reference_text": "different",
            "scale_labels": "Same\nProbably same\nUnsure\nProbably not\nDifferent\n",
        },
    )
    assert saved.status_code == 302
    study.refresh_from_db()
    assert study.reference_system == natural and study.reference_text == "different"
    assert study.scale_labels == ["Same", "Probably same", "Unsure", "Probably not", "Different"]
    # Shown again one per line, and saved again unchanged.
    assert "Same\nProbably same\nUnsure\nProbably not\nDifferent</textarea>" in _page(
        client_ada.get(url)
    )


def test_scale_labels_of_the_wrong_length_say_how_many(client_ada, study):
    url = reverse("researcher:study_edit", args=[study.slug])
    response = client_ada.post(
        url, {**FORM, "slug": study.slug, "test_type": "ccr", "scale_labels": "Better\nWorse"}
    )
    assert response.status_code == 200
    assert "CCR needs 7 labels, best first, one per line (2 given)" in _page(response)
    assert Study.objects.get(pk=study.pk).test_type == "acr"


def test_study_page_says_the_type_and_what_it_lacks(client_ada, study):
    Study.objects.filter(pk=study.pk).update(test_type="ccr")
    _systems(study, ("vits", "uploaded"))
    page = _page(client_ada.get(reverse("researcher:study", args=[study.slug])))
    assert "CCR: rate the second clip against the first (CMOS)" in page
    assert "CCR settings to complete" in page
    assert "add them as a system (Systems: Upload natural reference recordings" in page


def test_type_settings_freeze_once_the_test_is_open(client_ada, study):
    natural, _ = _systems(study, ("natural", "reference"), ("vits", "uploaded"))
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    url = reverse("researcher:study_edit", args=[study.slug])
    page = _page(client_ada.get(url))
    assert page.count("Fixed: the test has been opened.") >= 4
    response = client_ada.post(
        url, {**FORM, "slug": study.slug, "title": "Renamed", "test_type": "ab"}
    )
    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.title, study.test_type) == ("Renamed", "acr")
    with pytest.raises(Exception, match="test_type can no longer change"):
        study_update(study=study, data={"test_type": "ab"})


# --- The services ---------------------------------------------------------------------------------


def test_a_new_study_cannot_name_a_reference_before_it_has_systems(ada):
    with pytest.raises(ValidationError) as refused:
        study_create(
            owner=ada,
            data={"slug": "early", "title": "Early", "test_type": "smos", "reference_system": 1},
        )
    assert "A new study has no systems yet" in str(refused.value)


def test_ab_studies_have_no_scale_to_label(study):
    with pytest.raises(ValidationError, match="AB studies have no rating scale"):
        study_update(study=study, data={"test_type": "ab", "scale_labels": list("abcde")})


@pytest.mark.parametrize(
    ("test_type", "extra", "systems", "problem"),
    [
        ("ccr", {}, [("vits", "uploaded")], "CCR compares with the natural recordings"),
        ("smos", {}, [("vits", "uploaded")], "SMOS compares with the natural recordings"),
        ("ab", {}, [("vits", "uploaded")], "add at least two systems besides MNRU anchors (1"),
        ("abx", {}, [], "add at least two systems besides MNRU anchors (0"),
        ("ccr", {"comparison": "systems"}, [("vits", "uploaded")], "at least two systems"),
    ],
)
def test_problems_name_the_fix(study, test_type, extra, systems, problem):
    _systems(study, *systems)
    Study.objects.filter(pk=study.pk).update(test_type=test_type, **extra)
    study.refresh_from_db()
    assert any(problem in text for text in study_types.test_type_problems(study))


def test_a_complete_study_of_each_type_has_no_problems(study):
    natural, *_ = _systems(
        study, ("natural", "reference"), ("vits", "uploaded"), ("fastpitch", "uploaded")
    )
    # MUSHRA's low anchor (ITU-R BS.1534-3) is derived from the reference.
    SystemFactory(
        study=study,
        name="lp35",
        kind="anchor",
        anchor_source=natural,
        anchor_kind="lowpass3500",
        is_low_anchor=True,
    )
    for test_type in Study.TestType.values:
        study_update(study=study, data={"test_type": test_type, "reference_system": natural.pk})
        assert study_types.test_type_problems(Study.objects.get(pk=study.pk)) == []


def test_smos_different_text_needs_two_test_sentences(ada):
    study = StudyFactory(owner=ada, slug="one-line", test_type="smos", reference_text="different")
    SentenceFactory(study=study, key="only")
    natural, _ = _systems(study, ("natural", "reference"), ("clone", "uploaded"))
    study_update(study=study, data={"reference_system": "natural"})
    problems = study_types.test_type_problems(Study.objects.get(pk=study.pk))
    assert problems == [
        "A different-text reference needs at least two test sentences: add sentences, or let "
        "the reference speak the same sentence (Settings)."
    ]


# --- Recipes ------------------------------------------------------------------------------------


def test_recipe_carries_the_type_and_names_the_reference(ada, study):
    natural, _ = _systems(study, ("natural", "reference"), ("vits", "uploaded"))
    study_update(
        study=study,
        data={"test_type": "ccr", "reference_system": natural, "scale_labels": list("7654321")},
    )
    recipe = json.loads(recipe_json(study_recipe(study=Study.objects.get(pk=study.pk))))
    assert recipe["test"]["type"] == "ccr"
    assert recipe["test"]["reference_system"] == "natural"
    assert recipe["test"]["scale_labels"] == list("7654321")

    copy = study_import(owner=ada, recipe=recipe, slug="types-copy").study
    assert copy.test_type == "ccr"
    assert copy.reference_system.name == "natural"
    assert copy.reference_system.study == copy
    assert copy.scale_labels == list("7654321")
    assert copy.comparison == "reference"


def test_an_old_recipe_without_test_settings_is_acr(ada, study):
    _systems(study, ("natural", "reference"))
    recipe = json.loads(recipe_json(study_recipe(study=study)))
    recipe["test"] = {"type": "acr"}  # as recipes were before the test types
    del recipe["test"]["type"]
    copy = study_import(owner=ada, recipe=recipe, slug="old-copy").study
    assert (copy.test_type, copy.reference_system, copy.scale_labels) == ("acr", None, [])


def test_a_recipe_naming_an_unknown_type_or_reference_is_refused(ada, study):
    _systems(study, ("natural", "reference"))
    recipe = json.loads(recipe_json(study_recipe(study=study)))
    with pytest.raises(Exception, match="test.type is 'mos-plus'; Harken runs acr, ccr"):
        study_import(owner=ada, recipe={**recipe, "test": {"type": "mos-plus"}}, slug="x1")
    wrong = {**recipe, "test": {"type": "smos", "reference_system": "ghost"}}
    with pytest.raises(Exception, match="test.reference_system is 'ghost'"):
        study_import(owner=ada, recipe=wrong, slug="x2")
    assert recipe_read(recipe_json(recipe).encode()).recipe["test"]["type"] == "acr"
    assert not System.objects.filter(study__slug__in=["x1", "x2"]).exists()
