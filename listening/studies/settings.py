"""A study's settings: what a researcher may set, the checks, and which fields freeze once the
test has been opened.

Where it sits: the researcher's settings form (``listening.studies.forms.StudyForm``), the API's
``StudySerializer`` and ``manage.py`` scripts hand the same field names (:data:`STUDY_FIELDS`)
to :func:`study_create` and :func:`study_update`, so pages and API refuse the same values with
the same messages. The screening rules are defined in ``listening.screening``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from listening import screening
from listening.errors import ServiceError
from listening.followups import FollowupError, followup_questions_clean, followup_questions_parse
from listening.models import Rating, Study
from listening.studies.lifecycle import study_lock
from listening.studies.study_types import TYPE_FIELDS, test_type_clean

log = logging.getLogger(__name__)

# Fields that shape the playlists: fixed once the test has been opened (P.808 practice: every
# listener rates the same frozen design). The test type and its settings are among them.
DESIGN_FIELDS = frozenset(
    {
        *TYPE_FIELDS,
        "slug",
        "ratings_per_clip",
        "clips_per_listener",
        "clips_per_page",
        "training_clips",
        "attention_check_rate",
        "sample_rate",
        "loudness_target_lufs",
    }
)
# The rating task's settings, in the form's order (a study recipe carries them too).
TASK_FIELDS = (
    "ratings_per_clip",
    "clips_per_listener",
    "training_clips",
    "attention_check_rate",
    "max_attention_failures",
    "questionnaire_enabled",
    "headphone_check_enabled",
    "listener_timeout_minutes",
)
STUDY_FIELDS = (
    "title",
    "slug",
    "instructions",
    "consent_text",
    "question",
    *TYPE_FIELDS,
    *TASK_FIELDS,
    "claim_idle_minutes",
    "completion_code",
    "completion_url",
    "recruitment_platforms",
    "recruitment_filters",
    "pay_per_hour",
    "pay_currency",
    "screenout_code",
    "screenout_url",
    "screening",
    "followup_questions",
)


def screening_clean(rules: Any, *, test_type: str = Study.TestType.ACR) -> dict:
    """A study's screening rules checked and completed with defaults (a MUSHRA study's with
    its BS.1534-3 thresholds); raises ValidationError naming the rule and the allowed values
    (the rules are defined in ``listening.screening``)."""
    try:
        return screening.study_screening_clean(rules, test_type=test_type)
    except screening.ScreeningRulesError as exc:
        raise ValidationError({"screening": str(exc)}) from exc


def followups_clean(value: Any) -> list[dict[str, str]]:
    """The study's yes/no follow-up questions (``listening.followups``): a list of
    ``{key, text}`` (API, recipes) or the settings page's ``key: text`` lines; raises
    ValidationError naming the question and the rule."""
    try:
        if isinstance(value, str):
            return followup_questions_parse(value)
        return followup_questions_clean(value)
    except FollowupError as exc:
        raise ValidationError({"followup_questions": str(exc)}) from exc


def _followups_guard(study: Study, questions: list[dict[str, str]]) -> None:
    """Once a listener has answered, the questions stay as they are: a changed text or key
    would change what the stored answers mean (a "yes" to another question)."""
    if questions == (study.followup_questions or []):
        return
    if Rating.objects.filter(listener__study=study).exists():
        raise ValidationError(
            {
                "followup_questions": "Listeners have answered this study: its follow-up "
                "questions can no longer change (the answers kept would lose their meaning). "
                "Create a new study to ask others."
            }
        )


SLUG_TAKEN = (
    "This slug is taken (slugs are unique across Harken and appear in the listener link); "
    "choose another."
)
# Slugs that would shadow a researcher page (/studies/new/, /studies/api-token/).
RESERVED_SLUGS = frozenset({"new", "api-token"})


def _study_full_clean(study: Study) -> None:
    if study.slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"'{study.slug}' is reserved; choose another slug."})
    try:
        study.full_clean(exclude=["owner"])
    except ValidationError as exc:
        # A taken slug comes back as Django's generic "already exists": say what to do.
        if "slug" in getattr(exc, "error_dict", {}) and any(
            e.code == "unique" for e in exc.error_dict["slug"]
        ):
            exc.error_dict["slug"] = [ValidationError(SLUG_TAKEN)]
        raise


@transaction.atomic
def study_create(*, owner, data: Mapping[str, Any]) -> Study:
    """Create a draft study owned by ``owner`` from the fields in ``data`` (STUDY_FIELDS).

    Raises ValidationError (field -> messages) when a value is out of range or the slug is taken.
    """
    values = {k: v for k, v in data.items() if k in STUDY_FIELDS}
    values["screening"] = screening_clean(
        values.get("screening"), test_type=values.get("test_type") or Study.TestType.ACR
    )
    values["followup_questions"] = followups_clean(values.get("followup_questions"))
    values = test_type_clean(None, values)
    study = Study(owner=owner, **values)
    _study_full_clean(study)
    try:
        with transaction.atomic():
            study.save()
    except IntegrityError as exc:  # two requests raced for one slug
        raise ValidationError({"slug": "This slug was just taken; choose another."}) from exc
    log.info("study created", extra={"study": study.slug, "user": str(owner)})
    return study


@transaction.atomic
def study_update(*, study: Study, data: Mapping[str, Any]) -> Study:
    """Change a study's settings; design fields are refused once the test has been opened."""
    study = study_lock(study)
    values = {k: v for k, v in data.items() if k in STUDY_FIELDS}
    test_type = values.get("test_type") or study.test_type
    if "screening" in values:
        values["screening"] = screening_clean(values["screening"], test_type=test_type)
    elif test_type != study.test_type:
        # Another type: a MUSHRA study's thresholds go (or come, with their defaults).
        kept = screening.without_mushra_thresholds(study.screening)
        values["screening"] = screening_clean(kept, test_type=test_type)
    if "followup_questions" in values:
        values["followup_questions"] = followups_clean(values["followup_questions"])
        _followups_guard(study, values["followup_questions"])
    values = test_type_clean(study, values)
    if study.design_frozen:
        changed = sorted(k for k in values if k in DESIGN_FIELDS and getattr(study, k) != values[k])
        if changed:
            raise ServiceError(
                f"The test has been opened: {', '.join(changed)} can no longer change. "
                "Create a new study to change the design."
            )
    for name, value in values.items():
        setattr(study, name, value)
    _study_full_clean(study)
    study.save()
    return study
