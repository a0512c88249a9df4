"""Ratings: one rating of the listener's current page, written once; attention checks; the end.

Where it sits: the rating page posts each answer to :func:`rating_submit`, which checks that the
clip is on the listener's page and was played to its end (P.808), writes the rating, scores an
attention check, moves the listener on (``playlists.listener_stage_update``) and counts test
ratings in ``harken_ratings_submitted_total``. A finished listener gets
:func:`listener_completion`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from listening.models import Listener, Playlist, PlaylistItem, Rating, TrialClip
from listening.participation.playlists import listener_lock, listener_stage_update
from listening.participation.refusals import (
    AlreadyRatedError,
    ItemNotInPlaylistError,
    ItemOutOfOrderError,
    ListenerStageError,
    NotPlayedError,
    PageExpiredError,
    ScoreInvalidError,
    SessionExpiredError,
    study_require_open,
)
from listening.participation.selectors import listener_page
from observability.metrics import RATINGS_SUBMITTED

Stage = Listener.Stage
Purpose = PlaylistItem.Purpose

#: Slack for the timing checks, in seconds: timer granularity of the browser (``timeupdate``
#: fires every 250 ms or so) and rounding, not network latency (that only makes times longer).
TIMING_TOLERANCE_S = 0.35

#: A clip counts as heard when the seconds played reach this share of its duration.
MIN_PLAYED_SHARE = 0.9


def page_serve(*, listener: Listener, items: list[PlaylistItem]) -> dict:
    """Record that the server now serves the page holding ``items`` to ``listener``.

    Returns the page (``nonce``, ``items``, ``served_at``), also kept on the listener's row: a
    rating of the page is accepted only with this nonce, once, and only after each clip could
    have ended (served time + duration). Serving a page again (a reload, another tab) replaces
    the previous page: its form then refuses to save."""
    with transaction.atomic():
        locked = listener_lock(listener)
        page = {
            "nonce": secrets.token_urlsafe(12),
            "items": [item.pk for item in items],
            "served_at": timezone.now().isoformat(),
        }
        locked.current_page = page
        locked.save(update_fields=["current_page", "last_seen_at"])
    return page


def page_redeem(
    *, listener: Listener, nonce: str, item_ids: list[int], now: datetime | None = None
) -> datetime:
    """Use up the listener's current page (call inside the transaction that saves its
    ratings, so a refused rating leaves the page usable); returns when it was served. Raises PageExpiredError for a
    page that was not the one served last, was already used, holds other items or is older
    than the study's listener timeout; NotPlayedError when the page's clips, played one after
    the other, cannot have ended yet."""
    now = now or timezone.now()
    listener = listener_lock(listener)
    page = listener.current_page or {}
    expired = PageExpiredError(
        _(
            "This page is out of date or was not issued to you (perhaps it is open in another "
            "tab); nothing was saved. Please go on from the latest page."
        )
    )
    if not nonce or page.get("nonce") != nonce:
        if listener.stage == Stage.COMPLETED:
            raise AlreadyRatedError(_("You have already finished this test; nothing was changed."))
        if Rating.objects.filter(listener=listener, item_id__in=item_ids).exists():
            raise AlreadyRatedError(
                _(
                    "This clip has already been rated (perhaps in another tab, or the form was "
                    "sent twice). Your first answer is kept."
                )
            )
        raise expired
    if sorted(int(i) for i in page.get("items", [])) != sorted(int(i) for i in item_ids):
        raise expired
    served_at = datetime.fromisoformat(page["served_at"])
    if now - served_at > timedelta(minutes=listener.study.listener_timeout_minutes):
        raise expired
    # Every clip each trial presents (ACR: its one test clip; comparisons: two or three).
    durations = TrialClip.objects.filter(trial_id__in=item_ids).values_list(
        "clip__duration_s", flat=True
    )
    # The page's player plays one clip at a time: all of them take their durations together.
    if (now - served_at).total_seconds() + TIMING_TOLERANCE_S < sum(d or 0.0 for d in durations):
        raise NotPlayedError(_("Please listen to the clip to its end before rating it."))
    listener.current_page = {}
    listener.save(update_fields=["current_page", "last_seen_at"])
    return served_at


def score_clean(score: int | str | None) -> int:
    """The ACR score 1–5 of ITU-T P.800 as an int; raises ScoreInvalidError otherwise."""
    try:
        value = int(str(score).strip())
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise ScoreInvalidError(
            _("Please choose one of the five answers, from 1 (Bad) to 5 (Excellent).")
        )
    return value


def _attention_failed(listener: Listener, item: PlaylistItem, score: int) -> bool:
    """Whether this rating fails an attention check (see the module docstring)."""
    max_diff = int((listener.study.screening or {}).get("max_repeat_difference", 1))
    if item.purpose == Purpose.GOLD and item.expected_score is not None:
        return score != item.expected_score
    if item.purpose == Purpose.REPEAT:
        original = Rating.objects.filter(
            listener=listener, clip=item.clip_id, purpose=Purpose.TEST
        ).first()
        return original is not None and abs(original.score - score) > max_diff
    if item.purpose == Purpose.TEST:
        # The design puts a repeat after its test item; should an order ever put it first, the
        # comparison is made when the second of the two arrives.
        repeats = Rating.objects.filter(
            listener=listener, clip=item.clip_id, purpose=Purpose.REPEAT
        ).values_list("score", flat=True)
        return any(abs(r - score) > max_diff for r in repeats)
    return False


@transaction.atomic
def rating_submit(
    *,
    listener: Listener,
    item_id: int | str,
    score: int | str | None,
    play_count: int,
    played_seconds: float,
    first_play_ended_at: datetime | None,
    page_issued_at: datetime | None = None,
    clip_token: str | None = None,
    answered_at: datetime | None = None,
) -> Rating:
    """Write one rating of the listener's current page, once; refuse anything else.

    Args:
        item_id: the PlaylistItem rated; it must be unrated and on the listener's current page.
        score: 1–5 (ACR); anything else is refused.
        play_count: how many times the clip was started (replays are allowed and counted).
        played_seconds: seconds of audio actually played, all plays together.
        first_play_ended_at: when the first complete play ended; None means it never ended.
        page_issued_at: when the server served the page (``page_redeem``): the clip cannot
            have ended before this plus its duration (``earliest_answer_at``), and the response
            time screening uses is measured from there, on the server's clock.
        clip_token: the token the page showed for this item; a mismatch is a forged request.
        answered_at: when the answer arrived (now by default).

    Raises RatingRefusedError subclasses (nothing written), StudyNotOpenError,
    ListenerStageError / SessionExpiredError."""
    score_value = score_clean(score)
    try:
        item_pk = int(item_id)
    except (TypeError, ValueError):
        raise ItemNotInPlaylistError(_("This clip is not part of your listening test.")) from None
    answered_at = answered_at or timezone.now()

    listener = listener_lock(listener)
    study = listener.study
    study_require_open(study)
    if listener.stage == Stage.COMPLETED:
        raise AlreadyRatedError(_("You have already finished this test; nothing was changed."))
    playlist = Playlist.objects.select_for_update().filter(listener=listener).first()
    if playlist is None:
        if listener.stage in (Stage.TRAINING, Stage.RATING):
            raise SessionExpiredError(
                _("Your session timed out and your place went to another listener.")
            )
        raise ListenerStageError(_("Please finish the steps before the ratings first."))
    item = PlaylistItem.objects.select_related("clip").filter(pk=item_pk, playlist=playlist).first()
    if item is None or (clip_token is not None and clip_token != item.clip.token):
        raise ItemNotInPlaylistError(
            _("This clip is not part of your listening test; nothing was saved.")
        )
    if Rating.objects.filter(listener=listener, item=item).exists():
        raise AlreadyRatedError(
            _(
                "This clip has already been rated (perhaps in another tab, or the form was sent "
                "twice). Your first answer is kept."
            )
        )
    page = listener_page(listener=listener, playlist=playlist)
    if item.pk not in {p.pk for p in page}:
        raise ItemOutOfOrderError(
            _("Please rate the clips in the order they are shown; nothing was saved.")
        )

    # P.808: a vote counts only once the whole clip has been heard.
    duration = item.clip.duration_s or 0.0
    not_played = NotPlayedError(_("Please listen to the clip to its end before rating it."))
    if play_count < 1 or first_play_ended_at is None:
        raise not_played
    if duration and played_seconds + TIMING_TOLERANCE_S < MIN_PLAYED_SHARE * duration:
        raise not_played
    client_seconds = max(0.0, (answered_at - first_play_ended_at).total_seconds())
    earliest = None
    if page_issued_at is not None:
        # Server facts only: when the page was served and how long the clip lasts. The
        # browser's own end time is kept as information, never trusted for screening.
        earliest = page_issued_at + timedelta(seconds=duration)
        if (answered_at - earliest).total_seconds() + TIMING_TOLERANCE_S < 0:
            raise not_played
        response_seconds = max(0.0, (answered_at - earliest).total_seconds())
    else:
        response_seconds = client_seconds

    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                listener=listener,
                clip=item.clip,
                item=item,
                purpose=item.purpose,
                score=score_value,
                play_count=min(int(play_count), 32767),
                played_seconds=max(0.0, float(played_seconds)),
                response_seconds=response_seconds,
                served_at=page_issued_at,
                earliest_answer_at=earliest,
                client_response_seconds=client_seconds,
            )
    except IntegrityError:
        # The constraints are the last word (e.g. the same clip twice as a test item).
        raise AlreadyRatedError(
            _("This clip has already been rated. Your first answer is kept.")
        ) from None

    if _attention_failed(listener, item, score_value):
        listener.attention_failures += 1
        if listener.attention_failures > study.max_attention_failures:
            listener.flagged = True
        listener.save(update_fields=["attention_failures", "flagged", "last_seen_at"])
    listener_stage_update(listener, playlist)

    if item.purpose == Purpose.TEST:
        slug = study.slug
        transaction.on_commit(lambda: RATINGS_SUBMITTED.labels(study=slug).inc())
    return rating


def listener_completion(*, listener: Listener) -> dict[str, str]:
    """What a finished listener gets: the completion code and, for Prolific, the URL to go to."""
    study = listener.study
    redirect = ""
    if listener.platform == Listener.Platform.PROLIFIC and study.completion_url:
        redirect = study.completion_url
    return {"code": study.completion_code, "redirect_url": redirect, "url": study.completion_url}
