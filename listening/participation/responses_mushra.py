"""Responses to MUSHRA and transcription trials: serving a trial's page, its audio, counting
plays, and writing the answer once.

Where it sits: the rating view (``views.rate``) hands a study of either type to
``views_mushra``, which calls the services here. As for ACR (``ratings``), a page is served
with a single-use nonce bound to its trial (:func:`trial_page_serve`) and redeemed in the
transaction that writes the response (``ratings.page_redeem``), so a reload, a second tab or
a replayed form saves nothing twice.

- MUSHRA (ITU-R BS.1534-3): one ``Rating(test_type="mushra")`` holds no score itself; its
  ``ConditionScore`` rows hold 0–100 per rated condition (hidden reference, anchors, systems;
  the open reference is not rated). Every rated condition must have been played (90 % of its
  length, as ``ratings.MIN_PLAYED_SHARE``), and the answer cannot arrive before the page was
  served plus that much listening, one condition at a time (the server's own clock).
- Transcription: one clip, played at most ``Study.transcription_max_plays`` times. The server
  counts each play (:func:`trial_play`, the page asks before playing) and serves the audio only
  after a counted play; the typed text is stored as typed (the analysis normalises it).

Audio of a trial goes out under a token derived from the listener and the trial clip
(:func:`trial_audio_token`), not the clip's own token: the hidden reference is the same clip as
the open reference, and the same URL would give it away.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from listening.models import (
    ConditionScore,
    Listener,
    Playlist,
    PlaylistItem,
    Rating,
    TestType,
    TrialClip,
)
from listening.participation.followups import followups_check
from listening.participation.playlists import listener_lock
from listening.participation.ratings import MIN_PLAYED_SHARE, TIMING_TOLERANCE_S, page_redeem
from listening.participation.refusals import (
    AlreadyRatedError,
    ItemNotInPlaylistError,
    NotPlayedError,
    RatingRefusedError,
    ScoreInvalidError,
    study_require_open,
)
from listening.participation.trial_answers import PAGE_WORDS, answer_recorded, trial_for_answer

Stage = Listener.Stage
Role = TrialClip.Role

#: The longest transcription kept (characters): a sentence, with room to spare.
MAX_TEXT_LENGTH = 2000


class PlayLimitError(RatingRefusedError):
    """A transcription clip was already played as often as the study allows."""


def trial_audio_token(*, listener: Listener, trial_clip_id: int) -> str:
    """The opaque audio token of one trial clip for one listener (keyed with SECRET_KEY)."""
    mac = salted_hmac("listening.trial-audio", f"{listener.token}:{trial_clip_id}")
    return mac.hexdigest()[:32]


def trial_clips(item: PlaylistItem) -> list[TrialClip]:
    return list(item.trial_clips.select_related("clip").order_by("position"))


def rated_clips(clips: list[TrialClip]) -> list[TrialClip]:
    """The conditions a listener rates: all but the open reference (BS.1534-3)."""
    return [c for c in clips if c.role != Role.REFERENCE]


def trial_page_serve(*, listener: Listener, item: PlaylistItem) -> dict:
    """Serve the page of trial ``item``: a new nonce and served time, as ``ratings.page_serve``
    does. The plays counted for this trial survive a reload: reloading gives no new plays."""
    with transaction.atomic():
        locked = listener_lock(listener)
        old = locked.current_page or {}
        page = {
            "nonce": secrets.token_urlsafe(12),
            "items": [item.pk],
            "served_at": timezone.now().isoformat(),
            "plays": old.get("plays", {}) if old.get("items") == [item.pk] else {},
        }
        locked.current_page = page
        locked.save(update_fields=["current_page", "last_seen_at"])
    return page


def _page_trial_clip(listener: Listener, token: str) -> TrialClip | None:
    """The trial clip of the listener's current page whose audio token is ``token``."""
    page = listener.current_page or {}
    items = page.get("items") or []
    for trial_clip in TrialClip.objects.filter(trial_id__in=items).select_related(
        "clip", "trial__playlist"
    ):
        if trial_clip.trial.playlist.listener_id != listener.pk:
            continue
        expected = trial_audio_token(listener=listener, trial_clip_id=trial_clip.pk)
        if constant_time_compare(expected, token):
            return trial_clip
    return None


def trial_audio_clip(*, listener: Listener, token: str) -> TrialClip | None:
    """The trial clip whose audio the listener may fetch now, or None. A transcription clip
    only after a counted play (:func:`trial_play`)."""
    trial_clip = _page_trial_clip(listener, token)
    if trial_clip is None:
        return None
    if listener.study.test_type == TestType.TRANSCRIPTION:
        plays = (listener.current_page or {}).get("plays", {})
        if int(plays.get(str(trial_clip.pk), 0)) < 1:
            return None
    return trial_clip


@transaction.atomic
def trial_play(*, listener: Listener, token: str) -> dict[str, int]:
    """Count one play of a transcription clip of the current page; returns ``plays`` and
    ``left``. Raises PlayLimitError once the study's plays are used up, ItemNotInPlaylistError
    for a token not on the page."""
    listener = listener_lock(listener)
    study = listener.study
    study_require_open(study)
    trial_clip = _page_trial_clip(listener, token)
    if trial_clip is None:
        raise ItemNotInPlaylistError(_("This sound is not part of your current page."))
    page = dict(listener.current_page)
    plays = dict(page.get("plays", {}))
    done = int(plays.get(str(trial_clip.pk), 0))
    limit = study.transcription_max_plays
    if done >= limit:
        raise PlayLimitError(
            _("You have played this clip %(n)d time(s), as often as this test allows.")
            % {"n": limit}
        )
    plays[str(trial_clip.pk)] = done + 1
    page["plays"] = plays
    listener.current_page = page
    listener.save(update_fields=["current_page", "last_seen_at"])
    return {"plays": done + 1, "left": limit - done - 1}


def _trial_checked(listener: Listener, item_id: int | str) -> tuple[Playlist, PlaylistItem]:
    """The listener's playlist and the trial, locked and checked as ``ratings.rating_submit``
    checks an ACR item: on the current page, not yet answered."""
    study_require_open(listener.study)
    try:
        item_pk = int(item_id)
    except (TypeError, ValueError):
        item_pk = -1
    return trial_for_answer(listener, item_pk, PAGE_WORDS)


def _score(raw: object) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= 100 else None


@transaction.atomic
def mushra_submit(
    *,
    listener: Listener,
    nonce: str,
    item_id: int | str,
    scores: dict[int, object],
    plays: dict[int, int],
    played_seconds: dict[int, float],
    answered_at: datetime | None = None,
    followups: dict[int, dict[str, str]] | None = None,
) -> Rating:
    """Write one MUSHRA response: a score 0–100 for every rated condition of the trial, with
    the study's follow-up questions answered about each condition (``followups``).

    ``scores``, ``plays``, ``played_seconds`` and ``followups`` are keyed by the trial clip's
    position on the page. Raises RatingRefusedError subclasses (nothing written and the page
    still usable: a follow-up question left open is refused before the page is used up)."""
    answered_at = answered_at or timezone.now()
    listener = listener_lock(listener)
    playlist, item = _trial_checked(listener, item_id)
    clips = trial_clips(item)
    rated = rated_clips(clips)
    unplayed = [
        c
        for c in rated
        if int(plays.get(c.position, 0)) < 1
        or float(played_seconds.get(c.position, 0.0)) + TIMING_TOLERANCE_S
        < MIN_PLAYED_SHARE * (c.clip.duration_s or 0.0)
    ]
    if unplayed:
        raise NotPlayedError(
            _(
                "Please play every sound on the page to its end before you send your ratings "
                "(%(n)d not yet); nothing was saved."
            )
            % {"n": len(unplayed)}
        )
    values = {c.position: _score(scores.get(c.position)) for c in rated}
    if any(v is None for v in values.values()):
        raise ScoreInvalidError(
            _("Please set every slider to a value from 0 to 100; nothing was saved.")
        )
    answers = {
        c.position: followups_check(listener.study, (followups or {}).get(c.position, {}))
        for c in rated
    }
    served_at = page_redeem(listener=listener, nonce=nonce, item_ids=[item.pk], now=answered_at)
    # The page plays one sound at a time: all rated sounds heard take their lengths together.
    listening = MIN_PLAYED_SHARE * sum(c.clip.duration_s or 0.0 for c in rated)
    earliest = served_at + timedelta(seconds=listening)
    if (answered_at - earliest).total_seconds() + TIMING_TOLERANCE_S < 0:
        raise NotPlayedError(
            _("Please play every sound on the page to its end before you send your ratings.")
        )
    counts = [min(int(plays.get(c.position, 0)), 32767) for c in clips]
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                listener=listener,
                item=item,
                purpose=item.purpose,
                test_type=TestType.MUSHRA,
                play_counts=counts,
                play_count=min(sum(counts), 32767),
                played_seconds=sum(max(0.0, float(v)) for v in played_seconds.values()),
                response_seconds=max(0.0, (answered_at - earliest).total_seconds()),
                served_at=served_at,
                earliest_answer_at=earliest,
            )
            ConditionScore.objects.bulk_create(
                ConditionScore(
                    response=rating,
                    trial_clip=c,
                    score=values[c.position],
                    followups=answers[c.position],
                    play_count=min(int(plays.get(c.position, 0)), 32767),
                    played_seconds=max(0.0, float(played_seconds.get(c.position, 0.0))),
                )
                for c in rated
            )
    except IntegrityError:
        raise AlreadyRatedError(
            _("This page has already been answered. Your first answer is kept.")
        ) from None
    answer_recorded(listener, playlist, item)
    return rating


@transaction.atomic
def transcription_submit(
    *,
    listener: Listener,
    nonce: str,
    item_id: int | str,
    text: str,
    played_seconds: float,
    answered_at: datetime | None = None,
    followups: dict[str, str] | None = None,
) -> Rating:
    """Write one transcription: the text as typed, after a play the server counted and the
    clip's length since the page was served, with the follow-up questions answered about the
    clip. Raises RatingRefusedError subclasses (nothing written)."""
    answered_at = answered_at or timezone.now()
    listener = listener_lock(listener)
    playlist, item = _trial_checked(listener, item_id)
    plays = (listener.current_page or {}).get("plays", {})
    clip = trial_clips(item)[0]
    server_plays = int(plays.get(str(clip.pk), 0))
    duration = clip.clip.duration_s or 0.0
    not_played = NotPlayedError(
        _("Please play the clip to its end before you send what you heard; nothing was saved.")
    )
    # The server's own facts: a play it counted, and the clip's length since the page was
    # served. (The browser's seconds played are kept as information: after a reload that used
    # the last play, the page can no longer play the clip, and the answer must still go.)
    if server_plays < 1:
        raise not_played
    if not (text or "").strip():
        raise ScoreInvalidError(
            _("Please type the words you heard (as many as you could make out); nothing was saved.")
        )
    if len(text) > MAX_TEXT_LENGTH:
        raise ScoreInvalidError(
            _("Please keep your answer under %(n)d characters; nothing was saved.")
            % {"n": MAX_TEXT_LENGTH}
        )
    answers = followups_check(listener.study, followups or {})
    served_at = page_redeem(listener=listener, nonce=nonce, item_ids=[item.pk], now=answered_at)
    earliest = served_at + timedelta(seconds=duration)
    if (answered_at - earliest).total_seconds() + TIMING_TOLERANCE_S < 0:
        raise not_played
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                listener=listener,
                clip=item.clip,
                item=item,
                purpose=item.purpose,
                test_type=TestType.TRANSCRIPTION,
                text=text,
                followups=answers,
                play_counts=[server_plays],
                play_count=server_plays,
                played_seconds=max(0.0, float(played_seconds)),
                response_seconds=max(0.0, (answered_at - earliest).total_seconds()),
                served_at=served_at,
                earliest_answer_at=earliest,
            )
    except IntegrityError:
        raise AlreadyRatedError(
            _("This clip has already been answered. Your first answer is kept.")
        ) from None
    answer_recorded(listener, playlist, item)
    return rating
