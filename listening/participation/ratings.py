"""Ratings: one rating page's answers, written once; attention checks; the end.

Where it sits: the rating page posts its answers to :func:`page_submit` (the page's single-use
nonce, then every answer), a single answer comes through :func:`rating_submit`; both check that
the clip is on the listener's page and was played to its end (P.808), write the ratings, score
the attention checks, move the listener on (``playlists.listener_stage_apply``) and count test
ratings in ``harken_ratings_submitted_total``. A finished listener gets
:func:`listener_completion`.

At crowd scale every query counts: a page's POST reads the listener's state once (the listener
row, locked, with its study and playlist, from the view; then the playlist's items with the
listener's scores, :func:`selectors.playlist_items_scored`), checks everything in Python, and
writes with one INSERT of the page's ratings and one UPDATE of the listener (plus one of the
playlist when it is finished). Only the listener's own row is locked. The database still has
the last word: its unique constraints refuse a second rating of an item (or of a clip as a test
item), whatever a race between two requests did.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from listening.models import Listener, Playlist, PlaylistItem, Rating, Study, TrialClip
from listening.participation import rows
from listening.participation.followups import followups_check
from listening.participation.playlists import (
    listener_stage_apply,
    playlist_required,
)
from listening.participation.refusals import (
    AlreadyRatedError,
    ItemNotInPlaylistError,
    ItemOutOfOrderError,
    NotPlayedError,
    PageExpiredError,
    ScoreInvalidError,
    study_require_open,
)
from listening.participation.selectors import held_playlist, page_of, playlist_items_scored
from observability.metrics import RATINGS_SUBMITTED

Stage = Listener.Stage
Purpose = PlaylistItem.Purpose

#: Slack for the timing checks, in seconds: timer granularity of the browser (``timeupdate``
#: fires every 250 ms or so) and rounding, not network latency (that only makes times longer).
TIMING_TOLERANCE_S = 0.35

#: A clip counts as heard when the seconds played reach this share of its duration.
MIN_PLAYED_SHARE = 0.9


@dataclass(frozen=True)
class Answer:
    """One clip's answer as the page posts it (see :func:`rating_submit` for the fields)."""

    item_id: int | str
    score: int | str | None
    play_count: int
    played_seconds: float
    first_play_ended_at: datetime | None
    clip_token: str | None = None
    #: The study's follow-up questions answered about this clip, checked by the view
    #: (``participation.followups``): ``{key: "yes" | "no"}``.
    followups: dict = field(default_factory=dict)


def _already_rated() -> AlreadyRatedError:
    return AlreadyRatedError(
        _(
            "This clip has already been rated (perhaps in another tab, or the form was sent "
            "twice). Your first answer is kept."
        )
    )


def _finished() -> AlreadyRatedError:
    return AlreadyRatedError(_("You have already finished this test; nothing was changed."))


def page_serve(*, listener: Listener, items: list[PlaylistItem]) -> dict:
    """Record that the server now serves the page holding ``items`` to ``listener``.

    Returns the page (``nonce``, ``items``, ``served_at``), also kept on the listener's row: a
    rating of the page is accepted only with this nonce, once, and only after each clip could
    have ended (served time + duration). Serving a page again (a reload, another tab) replaces
    the previous page: its form then refuses to save."""
    page = {
        "nonce": secrets.token_urlsafe(12),
        "items": [item.pk for item in items],
        "served_at": timezone.now().isoformat(),
    }
    # One UPDATE, no read: it waits for a rating POST holding the row's lock, then replaces
    # the page (that POST has used up its own page by then). Written once (rows.py).
    rows.listener_update(
        pk=listener.pk, values={"current_page": page, "last_seen_at": timezone.now()}
    )
    listener.current_page = page
    return page


def page_served_at(listener: Listener) -> datetime | None:
    """When the listener's current page was served (None when there is none)."""
    served = (listener.current_page or {}).get("served_at")
    try:
        return datetime.fromisoformat(served) if served else None
    except (TypeError, ValueError):
        return None


def page_redeem(
    *,
    listener: Listener,
    nonce: str,
    item_ids: list[int],
    items: list[PlaylistItem] | None = None,
    now: datetime | None = None,
) -> datetime:
    """Use up the listener's current page (``listener`` locked; its ``current_page`` is
    cleared in memory and saved with the page's ratings, so a refused rating leaves the page
    usable); returns when it was served. ``items``: the scored items of the listener's
    playlist (the ACR page), None for a trial page, whose clips are read here and whose
    cleared page is saved here. Raises PageExpiredError for a page that was not the
    one served last, was already used, holds other items or is older than the study's
    listener timeout; NotPlayedError when the page's clips, played one after the other,
    cannot have ended yet."""
    now = now or timezone.now()
    page = listener.current_page or {}
    expired = PageExpiredError(
        _(
            "This page is out of date or was not issued to you (perhaps it is open in another "
            "tab); nothing was saved. Please go on from the latest page."
        )
    )
    wanted = {int(i) for i in item_ids}
    if not nonce or page.get("nonce") != nonce:
        if listener.stage == Stage.COMPLETED:
            raise _finished()
        if items is None:
            rated = Rating.objects.filter(listener=listener, item_id__in=wanted).exists()
        else:
            rated = any(i.pk in wanted and i.listener_answered for i in items)
        if rated:
            raise _already_rated()
        raise expired
    if sorted(int(i) for i in page.get("items", [])) != sorted(int(i) for i in item_ids):
        raise expired
    served_at = datetime.fromisoformat(page["served_at"])
    if now - served_at > timedelta(minutes=listener.study.listener_timeout_minutes):
        raise expired
    if items is not None:
        # The ACR page's scored items, read with their clips by the caller.
        durations = [i.clip.duration_s or 0.0 for i in items if i.pk in wanted]
    else:
        # Every clip each trial presents (comparisons: two or three; MUSHRA: all conditions).
        durations = TrialClip.objects.filter(trial_id__in=wanted).values_list(
            "clip__duration_s", flat=True
        )
    # The page's player plays one clip at a time: all of them take their durations together.
    if (now - served_at).total_seconds() + TIMING_TOLERANCE_S < sum(d or 0.0 for d in durations):
        raise NotPlayedError(_("Please listen to the clip to its end before rating it."))
    listener.current_page = {}
    if items is None:
        # The trial answers (answers, responses_mushra) write their response after this; the
        # ACR page saves the cleared page with its ratings in one UPDATE instead.
        rows.listener_save(listener, ["current_page", "last_seen_at"])
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


def _attention_failed(
    study: Study, items: list[PlaylistItem], item: PlaylistItem, score: int
) -> bool:
    """Whether this rating fails an attention check (see the package docstring); ``items``
    are the playlist's scored items, the listener's earlier answers among them."""
    max_diff = int((study.screening or {}).get("max_repeat_difference", 1))
    if item.purpose == Purpose.GOLD and item.expected_score is not None:
        return score != item.expected_score
    same_clip = [
        other
        for other in items
        if other.clip_id == item.clip_id and other.pk != item.pk and other.listener_score
    ]
    if item.purpose == Purpose.REPEAT:
        original = next((o for o in same_clip if o.purpose == Purpose.TEST), None)
        return original is not None and abs(original.listener_score - score) > max_diff
    if item.purpose == Purpose.TEST:
        # The design puts a repeat after its test item; should an order ever put it first, the
        # comparison is made when the second of the two arrives.
        repeats = [o.listener_score for o in same_clip if o.purpose == Purpose.REPEAT]
        return any(abs(r - score) > max_diff for r in repeats)
    return False


def _listener_playlist(listener: Listener) -> Playlist:
    """The playlist a rating needs, or the refusal that says why there is none."""
    return playlist_required(listener, held_playlist(listener))


def _rating_for(
    listener: Listener,
    item: PlaylistItem,
    answer: Answer,
    score_value: int,
    page_issued_at: datetime | None,
    answered_at: datetime,
) -> Rating:
    """The unsaved rating of one answer, after P.808's played-to-the-end checks."""
    duration = item.clip.duration_s or 0.0
    not_played = NotPlayedError(_("Please listen to the clip to its end before rating it."))
    if answer.play_count < 1 or answer.first_play_ended_at is None:
        raise not_played
    if duration and answer.played_seconds + TIMING_TOLERANCE_S < MIN_PLAYED_SHARE * duration:
        raise not_played
    client_seconds = max(0.0, (answered_at - answer.first_play_ended_at).total_seconds())
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
    return Rating(
        listener=listener,
        clip=item.clip,
        item=item,
        purpose=item.purpose,
        score=score_value,
        followups=dict(answer.followups),
        play_count=min(int(answer.play_count), 32767),
        played_seconds=max(0.0, float(answer.played_seconds)),
        response_seconds=response_seconds,
        served_at=page_issued_at,
        earliest_answer_at=earliest,
        client_response_seconds=client_seconds,
    )


def _answers_save(
    listener: Listener,
    playlist: Playlist,
    items: list[PlaylistItem],
    answers: list[Answer],
    page_issued_at: datetime | None,
    answered_at: datetime,
) -> list[Rating]:
    """Check every answer against the scored ``items``, then write them all (one INSERT) and
    the listener (one UPDATE). Raises a RatingRefusedError before writing anything."""
    study = listener.study
    by_pk = {item.pk: item for item in items}
    page = {item.pk for item in page_of(items, study.clips_per_page)}
    new: list[Rating] = []
    failures = 0
    for answer in answers:
        score_value = score_clean(answer.score)
        # Stored as checked (yes/no, known keys), not as handed in: the report counts those.
        answer = replace(answer, followups=followups_check(study, answer.followups))
        try:
            item = by_pk.get(int(answer.item_id))
        except (TypeError, ValueError):
            raise ItemNotInPlaylistError(
                _("This clip is not part of your listening test.")
            ) from None
        if item is None or (answer.clip_token is not None and answer.clip_token != item.clip.token):
            raise ItemNotInPlaylistError(
                _("This clip is not part of your listening test; nothing was saved.")
            )
        if item.listener_answered:
            raise _already_rated()
        if item.pk not in page:
            raise ItemOutOfOrderError(
                _("Please rate the clips in the order they are shown; nothing was saved.")
            )
        new.append(_rating_for(listener, item, answer, score_value, page_issued_at, answered_at))
        failures += _attention_failed(study, items, item, score_value)
        # Later answers of the page (a repeat beside its test item) and the next stage see it.
        item.listener_score, item.listener_answered = score_value, True
    try:
        rows.ratings_insert(new)  # one INSERT, written once (rows.py)
    except IntegrityError:
        # The constraints are the last word (e.g. the same clip twice as a test item). The
        # transaction is unusable now: the refusal leaves it at once, and it rolls back.
        raise AlreadyRatedError(
            _("This clip has already been rated. Your first answer is kept.")
        ) from None
    changed = ["current_page", "last_seen_at"]
    if failures:
        listener.attention_failures += failures
        listener.flagged = listener.flagged or (
            listener.attention_failures > study.max_attention_failures
        )
        changed += ["attention_failures", "flagged"]
    changed += listener_stage_apply(listener, playlist, items)
    rows.listener_save(listener, changed)
    n_test = sum(1 for rating in new if rating.purpose == Purpose.TEST)
    if n_test:
        slug = study.slug
        transaction.on_commit(lambda: RATINGS_SUBMITTED.labels(study=slug).inc(n_test))
    return new


def page_submit(
    *,
    listener: Listener,
    nonce: str,
    item_ids: list[int],
    answers: list[Answer],
    now: datetime | None = None,
) -> list[Rating]:
    """Save a rating page whole or not at all, and use up the page with it.

    ``listener`` is locked by the caller in the transaction this runs in
    (``selectors.listener_by_cookie(lock=True)``), with its study and playlist read alongside:
    the request reads the listener once. ``item_ids``: the items the page token names;
    ``answers``: one per clip of the page. Raises the refusals of :func:`page_redeem` and
    :func:`rating_submit`; nothing is written then."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("page_submit runs inside the transaction that locked the listener")
    now = now or timezone.now()
    study_require_open(listener.study)
    playlist = held_playlist(listener)
    items = (
        None if playlist is None else playlist_items_scored(listener=listener, playlist=playlist)
    )
    served_at = page_redeem(listener=listener, nonce=nonce, item_ids=item_ids, items=items, now=now)
    if listener.stage == Stage.COMPLETED:
        raise _finished()
    playlist = _listener_playlist(listener)
    return _answers_save(listener, playlist, items or [], answers, served_at, now)


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
    followups: Mapping[str, str] | None = None,
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
        followups: the study's follow-up questions answered about the clip (``{key: yes/no}``),
            checked before anything is written.

    Raises RatingRefusedError subclasses (nothing written), StudyNotOpenError,
    ListenerStageError / SessionExpiredError."""
    answer = Answer(
        item_id=item_id,
        score=score,
        play_count=play_count,
        played_seconds=played_seconds,
        first_play_ended_at=first_play_ended_at,
        clip_token=clip_token,
        followups=dict(followups or {}),
    )
    score_clean(score)
    try:
        int(item_id)
    except (TypeError, ValueError):
        raise ItemNotInPlaylistError(_("This clip is not part of your listening test.")) from None
    locked = (
        Listener.objects.select_related("study", "playlist")
        .select_for_update(of=("self",))
        .get(pk=listener.pk)
    )
    study_require_open(locked.study)
    if locked.stage == Stage.COMPLETED:
        raise _finished()
    playlist = _listener_playlist(locked)
    items = playlist_items_scored(listener=locked, playlist=playlist)
    answered_at = answered_at or timezone.now()
    (rating,) = _answers_save(locked, playlist, items, [answer], page_issued_at, answered_at)
    return rating


def listener_completion(*, listener: Listener) -> dict[str, str]:
    """What a finished listener gets: the completion code and, for Prolific, the URL to go to."""
    study = listener.study
    redirect = ""
    if listener.platform == Listener.Platform.PROLIFIC and study.completion_url:
        redirect = study.completion_url
    return {"code": study.completion_code, "redirect_url": redirect, "url": study.completion_url}
