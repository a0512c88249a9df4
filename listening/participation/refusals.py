"""Every way a listener's request is refused, and the words a listener reads.

A refusal changes nothing; the views turn each class into a page and a status code
(``REFUSAL_STATUS`` below).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from listening.errors import ServiceError
from listening.models import Study


class ListenerError(ServiceError):
    """A listener's request cannot be done; the message is shown to the listener."""


class StudyNotOpenError(ListenerError):
    pass


class ListenerStageError(ListenerError):
    """The listener is not at the step this action belongs to."""


class SessionExpiredError(ListenerStageError):
    """The listener's playlist went back to the pool after the study's timeout."""


class AlreadyTakingPartError(ListenerError):
    """Another attempt with the same platform id holds a place, rated, or finished."""


class JoinRateLimitedError(ListenerError):
    """Too many joins from one address, or into one study, in a short time."""


class QuestionnaireError(ListenerError):
    pass


class HeadphoneCheckError(ListenerError):
    pass


class RatingRefusedError(ListenerError):
    """A rating was refused; nothing was written."""


class ScoreInvalidError(RatingRefusedError):
    pass


class ItemNotInPlaylistError(RatingRefusedError):
    pass


class AlreadyRatedError(RatingRefusedError):
    pass


class ItemOutOfOrderError(RatingRefusedError):
    pass


class NotPlayedError(RatingRefusedError):
    pass


class PageExpiredError(RatingRefusedError):
    """The rating page is not the one served last, was used already, or is too old."""


def study_unavailable_message(study: Study) -> str:
    """Why a study takes no listeners right now, in words for a listener."""
    if study.status == Study.Status.PAUSED:
        return _("This listening test is paused for the moment. Please come back a little later.")
    if study.status == Study.Status.CLOSED:
        return _("This listening test has ended. Thank you for your interest.")
    return _("This listening test is not open yet. Please come back later.")


def study_require_open(study: Study) -> None:
    if study.status != Study.Status.OPEN:
        raise StudyNotOpenError(study_unavailable_message(study))


#: The HTTP status of each refusal of a rating POST (409 for the others).
REFUSAL_STATUS = {
    ScoreInvalidError: 400,
    NotPlayedError: 400,
    PageExpiredError: 409,
    ItemNotInPlaylistError: 403,
    AlreadyRatedError: 409,
    ItemOutOfOrderError: 409,
}


def http_status(error: Exception) -> int:
    """The status a page refusing with ``error`` answers with."""
    return next((s for cls, s in REFUSAL_STATUS.items() if isinstance(error, cls)), 409)
