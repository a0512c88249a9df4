"""What every answer to a trial passes before its own type's checks, and what follows once it
is written: the one place for the steps a comparison answer (``answers``) and a MUSHRA or
transcription response (``responses_mushra``) share.

Before: the trial is on the listener's playlist (:func:`trial_for_answer`), not answered yet,
and the next one on their page, so a forged id, a second tab or a skipped trial writes
nothing. After (:func:`answer_recorded`): the listener moves on to their next stage and the
submitted-ratings counter counts a test trial once the transaction commits (a rolled-back
answer is never counted). Each page words the refusals in its own terms (:data:`TRIAL_WORDS`,
:data:`PAGE_WORDS`): the comparison page shows one trial, the others one page.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from listening.models import Listener, Playlist, PlaylistItem, Rating
from listening.participation.playlists import listener_stage_update, playlist_for_answer
from listening.participation.refusals import (
    AlreadyRatedError,
    ItemNotInPlaylistError,
    ItemOutOfOrderError,
)
from listening.participation.selectors import listener_page
from observability.metrics import RATINGS_SUBMITTED


@dataclass(frozen=True)
class AnswerRefusals:
    """The words of the refusals :func:`trial_for_answer` raises, in one page's terms."""

    not_in_playlist: str | Promise
    already_answered: str | Promise
    out_of_order: str | Promise


#: The comparison page (CCR, AB, ABX, SMOS): one trial at a time.
TRIAL_WORDS = AnswerRefusals(
    not_in_playlist=gettext_lazy(
        "This trial is not part of your listening test; nothing was saved."
    ),
    already_answered=gettext_lazy(
        "This trial has already been answered (perhaps in another tab, or the form was "
        "sent twice). Your first answer is kept."
    ),
    out_of_order=gettext_lazy(
        "Please answer the trials in the order they are shown; nothing was saved."
    ),
)

#: The MUSHRA and transcription pages: one page per trial.
PAGE_WORDS = AnswerRefusals(
    not_in_playlist=gettext_lazy(
        "This page is not part of your listening test; nothing was saved."
    ),
    already_answered=gettext_lazy(
        "This page has already been answered (perhaps in another tab, or the form was "
        "sent twice). Your first answer is kept."
    ),
    out_of_order=gettext_lazy(
        "Please answer the pages in the order they are shown; nothing was saved."
    ),
)


def trial_for_answer(
    listener: Listener, item_pk: int, words: AnswerRefusals
) -> tuple[Playlist, PlaylistItem]:
    """The listener's playlist, locked, and trial ``item_pk`` of it, with its clip, when that
    trial is the next one to answer; the refusal in ``words`` otherwise. ``listener`` is
    locked by the caller (``playlists.listener_lock``), so two tabs answer one at a time."""
    playlist = playlist_for_answer(listener)
    item = PlaylistItem.objects.select_related("clip").filter(pk=item_pk, playlist=playlist).first()
    if item is None:
        raise ItemNotInPlaylistError(str(words.not_in_playlist))
    if Rating.objects.filter(listener=listener, item=item).exists():
        raise AlreadyRatedError(str(words.already_answered))
    page = listener_page(listener=listener, playlist=playlist)
    if not page or page[0].pk != item.pk:
        raise ItemOutOfOrderError(str(words.out_of_order))
    return playlist, item


def answer_recorded(listener: Listener, playlist: Playlist, item: PlaylistItem) -> None:
    """After a trial's answer is written: the listener's next stage, and the count of a test
    trial's answer once the transaction commits."""
    listener_stage_update(listener, playlist)
    if item.purpose == PlaylistItem.Purpose.TEST:
        slug = listener.study.slug
        transaction.on_commit(lambda: RATINGS_SUBMITTED.labels(study=slug).inc())
