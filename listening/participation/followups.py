"""The study's yes/no follow-up questions on a listener's page: the fields each clip shows and
the answers its POST carries (the rules themselves are ``listening.followups``).

Where it sits: every listener page (ACR ``views``, comparison ``views_trials``, MUSHRA and
transcription ``views_mushra``) shows ``templates/listening/participation/_followups.html`` for
each clip it asks about, with the fields of :func:`followup_fields`; its POST reads the
answers with :func:`followups_posted` before the answer's service runs. A missing answer is
refused before anything is read or written, and the page is shown again with everything the
listener entered (:func:`followup_fields` with the POST), so nothing typed or chosen is lost.
The plays are not carried over: the page's sounds are played again before Next unlocks, and
the stored play counts are those of the page that was accepted.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext as _

from listening.followups import FollowupError, followup_answers_clean, followup_posted
from listening.models import Study
from listening.participation.refusals import RatingRefusedError


class FollowupsMissingError(RatingRefusedError):
    """A page posted without an answer to every follow-up question (or with a wrong one)."""


def followup_prefix(n: object) -> str:
    """The field names of clip ``n``'s answers: ``followup_<n>_<key>``."""
    return f"followup_{n}_"


def followup_fields(
    study: Study, n: object, posted: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """What ``_followups.html`` draws for clip ``n``: per question its key, text, field name,
    element id and the value the listener chose (from ``posted`` when the page comes back)."""
    prefix = followup_prefix(n)
    chosen = followup_posted(posted or {}, prefix, study.followup_questions)
    return [
        {
            "key": q["key"],
            "text": q["text"],
            "name": f"{prefix}{q['key']}",
            "id": f"fu-{n}-{q['key']}",
            "value": chosen.get(q["key"], ""),
        }
        for q in study.followup_questions or []
    ]


def followups_posted(study: Study, post: Mapping[str, str], n: object) -> dict[str, str]:
    """Clip ``n``'s answers checked against the study's questions, ``{key: yes|no}`` (empty
    when the study asks none); raises FollowupsMissingError naming what is still open."""
    questions = study.followup_questions or []
    if not questions:
        return {}
    try:
        return followup_answers_clean(
            questions, followup_posted(post, followup_prefix(n), questions)
        )
    except FollowupError:
        missing = [
            q["text"]
            for q in questions
            if post.get(f"{followup_prefix(n)}{q['key']}", "").strip().lower() not in ("yes", "no")
        ]
        raise FollowupsMissingError(
            _("Please answer Yes or No to every question below the sound; still open: %(open)s")
            % {"open": "; ".join(missing)}
        ) from None


def followups_check(study: Study, answers: Mapping[str, str]) -> dict[str, str]:
    """The answers a service is handed, checked again (the API and scripts reach the services
    without a page): every question answered, known keys only, yes or no."""
    if not study.followup_questions and not answers:
        return {}
    try:
        return followup_answers_clean(study.followup_questions or [], answers)
    except FollowupError as exc:
        raise FollowupsMissingError(str(exc)) from None
