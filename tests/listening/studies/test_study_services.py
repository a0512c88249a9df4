"""Study settings and systems: the services the researcher pages and the API share."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from listening.errors import ServiceError
from listening.models import Clip, Study, System, default_screening
from listening.studies.settings import screening_clean, study_create, study_update
from listening.studies.systems import system_add, system_add_anchor, system_delete, system_update
from tests.factories import EspeakVoiceFactory, SentenceFactory, StudyFactory


@pytest.fixture
def espeak(db):
    return EspeakVoiceFactory(name="espeak")


@pytest.fixture
def study(ada):
    study = StudyFactory(owner=ada, slug="mos-1", title="MOS 1")
    SentenceFactory(study=study, key="a", text="One.", position=1)
    SentenceFactory(study=study, key="b", text="Two.", position=2)
    return study


def test_study_is_created_as_a_draft_with_default_screening(ada):
    study = study_create(
        owner=ada, data={"slug": "s", "title": "S", "ratings_per_clip": 5, "status": "open"}
    )
    assert study.status == Study.Status.DRAFT  # status is not a setting
    assert study.ratings_per_clip == 5
    assert study.screening == default_screening()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"slug": "mos-1", "title": "Again"}, "slug", "is taken"),
        ({"slug": "new", "title": "T"}, "slug", "reserved"),
        ({"slug": "x", "title": "T", "ratings_per_clip": 0}, "ratings_per_clip", "greater than"),
        ({"slug": "x", "title": "T", "attention_check_rate": 0.9}, "attention_check_rate", "0.5"),
        ({"slug": "x", "title": ""}, "title", "cannot be blank"),
        ({"slug": "x", "title": "T", "screening": {"nope": 1}}, "screening", "Unknown"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(study, ada, data, field, message):
    with pytest.raises(ValidationError) as caught:
        study_create(owner=ada, data=data)
    assert field in caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])


def test_screening_rules_are_checked_and_completed():
    rules = screening_clean({"min_correlation": None, "max_gold_failures": 2.0, "enabled": False})
    assert rules["min_correlation"] is None
    assert rules["max_gold_failures"] == 2 and isinstance(rules["max_gold_failures"], int)
    assert rules["enabled"] is False
    assert rules["max_anchor_score"] == default_screening()["max_anchor_score"]
    for bad in ({"enabled": "yes"}, {"min_reference_score": 9}, {"max_gold_failures": 1.5}, [1]):
        with pytest.raises(ValidationError):
            screening_clean(bad)


def test_design_fields_are_fixed_once_the_test_has_been_opened(study):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    study.refresh_from_db()
    with pytest.raises(ServiceError, match="ratings_per_clip can no longer change"):
        study_update(study=study, data={"ratings_per_clip": 3})
    # Wording and completion details may still change.
    study_update(study=study, data={"title": "Renamed", "completion_code": "C0DE"})
    assert Study.objects.get(pk=study.pk).title == "Renamed"


def test_voice_system_gets_a_pending_clip_per_sentence(study, espeak):
    system = system_add(study=study, name="espeak", kind="voice", voice=espeak)
    assert system.clips.filter(status=Clip.Status.PENDING).count() == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "v", "kind": "voice"}, "voice"),
        ({"name": "r", "kind": "reference", "voice": "espeak"}, "voice"),
        ({"name": "", "kind": "reference"}, "name"),
        ({"name": "x", "kind": "robot"}, "kind"),
    ],
)
def test_invalid_systems_are_refused(study, espeak, kwargs, field):
    if kwargs.get("voice") == "espeak":
        kwargs["voice"] = espeak
    with pytest.raises(ValidationError) as caught:
        system_add(study=study, **kwargs)
    assert field in caught.value.message_dict


def test_system_names_are_unique_per_study(study, espeak):
    system_add(study=study, name="same", kind="reference")
    with pytest.raises(ValidationError, match="already has a system named 'same'"):
        system_add(study=study, name="same", kind="voice", voice=espeak)


def test_inactive_voice_is_refused(study, espeak):
    espeak.is_active = False
    espeak.save()
    with pytest.raises(ValidationError, match="switched off"):
        system_add(study=study, name="v", kind="voice", voice=espeak)


def test_anchor_is_derived_from_a_system_of_the_same_study(study, espeak, ada):
    source = system_add(study=study, name="espeak", kind="voice", voice=espeak)
    anchor = system_add_anchor(study=study, source=source, q_db=5)
    assert anchor.name == "mnru-q5-espeak"
    assert anchor.kind == System.Kind.ANCHOR and anchor.is_low_anchor
    assert anchor.clips.count() == 2
    other = study_create(owner=ada, data={"slug": "other", "title": "Other"})
    with pytest.raises(ValidationError, match="another study"):
        system_add_anchor(study=other, source=source, q_db=5)
    with pytest.raises(ValidationError, match="between -10 and 60"):
        system_add_anchor(study=study, source=source, q_db=99)
    with pytest.raises(ValidationError, match="not an anchor"):
        system_add_anchor(study=study, source=anchor, q_db=10)


def test_uploaded_system_can_be_marked_reference_and_low_anchor(study, espeak):
    system = system_add(study=study, name="theirs", kind="uploaded")
    system = system_update(system=system, kind="reference", is_low_anchor=True)
    assert (system.kind, system.is_low_anchor) == ("reference", True)
    voice_system = system_add(study=study, name="v", kind="voice", voice=espeak)
    with pytest.raises(ValidationError, match="Only uploaded systems switch kind"):
        system_update(system=voice_system, kind="reference")


def test_deleting_a_system_takes_its_anchors_and_clips(study, espeak):
    source = system_add(study=study, name="espeak", kind="voice", voice=espeak)
    system_add_anchor(study=study, source=source, q_db=5)
    system_delete(system=source)
    assert not System.objects.filter(study=study).exists()
    assert not Clip.objects.filter(system__study=study).exists()


def test_ready_study_goes_back_to_draft_when_a_system_is_added(study):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.READY)
    study.refresh_from_db()
    system_add(study=study, name="refs", kind="reference")
    assert Study.objects.get(pk=study.pk).status == Study.Status.DRAFT


@pytest.mark.parametrize("status", [Study.Status.OPEN, Study.Status.PAUSED, Study.Status.CLOSED])
def test_frozen_study_refuses_every_design_change(study, espeak, status):
    system = system_add(study=study, name="refs", kind="reference")
    Study.objects.filter(pk=study.pk).update(status=status)
    study.refresh_from_db()
    system.refresh_from_db()
    with pytest.raises(ServiceError, match="design is frozen"):
        system_add(study=study, name="v", kind="voice", voice=espeak)
    with pytest.raises(ServiceError, match="design is frozen"):
        system_update(system=system, name="renamed")
    with pytest.raises(ServiceError, match="design is frozen"):
        system_delete(system=system)
    with pytest.raises(ServiceError, match="design is frozen"):
        system_add_anchor(study=study, source=system, q_db=5)
