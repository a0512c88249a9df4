"""Responses to comparison trials (CCR, AB, ABX, SMOS): one answer of the listener's current
trial, written once, with the type's attention checks.

Where it sits: the trial page (``views_trials``) posts each answer to :func:`trial_answer_submit`
after ``ratings.page_redeem`` has used up the page; this module checks that the trial is the
listener's current one and that each of its clips was played to its end (P.808), checks the
answer against the study's type, writes the ``Rating`` and moves the listener on
(``trial_answers``: the checks and the step after them that MUSHRA and transcription share). ACR keeps ``ratings.rating_submit``.

Attention checks (``design_trials`` builds them):

* gold trials with an expected score (CCR identical pair: 0; SMOS reference against itself: 5)
  fail when the answer is more than one category away: the next category ("Slightly better",
  "Very similar") is a judgement a careful listener can make of two identical clips, anything
  further is not listening;
* gold trials with an expected choice (AB reference against the low anchor; ABX) fail on any
  other answer, "No preference" included;
* an AB repeat (a trial heard again later with A and B swapped) fails when both answers name
  a system and not the same one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from listening.models import Listener, PlaylistItem, Rating, Study, TrialClip
from listening.participation.followups import followups_check
from listening.participation.playlists import listener_lock
from listening.participation.ratings import MIN_PLAYED_SHARE, TIMING_TOLERANCE_S
from listening.participation.refusals import (
    AlreadyRatedError,
    ItemNotInPlaylistError,
    NotPlayedError,
    ScoreInvalidError,
    study_require_open,
)
from listening.participation.trial_answers import TRIAL_WORDS, answer_recorded, trial_for_answer

Stage = Listener.Stage
Purpose = PlaylistItem.Purpose
TestType = Study.TestType

#: How far (in categories) a scored gold answer may be from the expected one and still pass.
GOLD_SCORE_TOLERANCE = 1


def answer_clean(study: Study, answer: str | None) -> tuple[int | None, str]:
    """(score, choice) of a posted answer for the study's type; ScoreInvalidError otherwise."""
    raw = str(answer if answer is not None else "").strip().lower()
    if study.test_type in (TestType.CCR, TestType.SMOS):
        low, high = (-3, 3) if study.test_type == TestType.CCR else (1, 5)
        try:
            value = int(raw.replace("\u2212", "-"))
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ScoreInvalidError(
                _("Please choose one of the answers on the scale; nothing was saved.")
            )
        return value, ""
    allowed = ["a", "b"] + (["tie"] if study.test_type == TestType.AB and study.allow_tie else [])
    if raw not in allowed:
        raise ScoreInvalidError(_("Please choose one of the answers shown; nothing was saved."))
    return None, raw


def _attention_failed(listener: Listener, item: PlaylistItem, score, choice, clips) -> bool:
    if item.purpose == Purpose.GOLD:
        if item.expected_score is not None:
            return abs(score - item.expected_score) > GOLD_SCORE_TOLERANCE
        if item.expected_choice:
            return choice != item.expected_choice
        return False
    if item.purpose == Purpose.REPEAT and choice in ("a", "b"):
        named = clips[0 if choice == "a" else 1].clip_id
        wanted = {c.clip_id for c in clips}
        for rating in Rating.objects.filter(
            listener=listener, purpose=Purpose.TEST, item__playlist=item.playlist_id
        ).exclude(choice__in=["", "tie"]):
            original = list(rating.item.trial_clips.order_by("position"))
            if {c.clip_id for c in original} == wanted:
                return original[0 if rating.choice == "a" else 1].clip_id != named
    return False


@transaction.atomic
def trial_answer_submit(
    *,
    listener: Listener,
    item_id: int | str,
    answer: str | None,
    play_counts: list[int],
    played: list[float],
    first_play_ended_at: datetime | None,
    page_issued_at: datetime | None,
    answered_at: datetime | None = None,
    followups: dict[str, str] | None = None,
) -> Rating:
    """Write the listener's answer to one comparison trial of their current page, once.

    Args:
        play_counts: how many times each of the trial's clips was started, in page order.
        played: seconds of each clip actually played, all plays together.
        first_play_ended_at: when the last of the clips first ended; None: some never did.
        page_issued_at: when the server served the page: the answer is refused before this
            plus the sum of the clips' durations (they play one after the other).

    Raises RatingRefusedError subclasses (nothing written), StudyNotOpenError,
    ListenerStageError / SessionExpiredError."""
    answered_at = answered_at or timezone.now()
    try:
        item_pk = int(item_id)
    except (TypeError, ValueError):
        raise ItemNotInPlaylistError(_("This trial is not part of your listening test.")) from None
    listener = listener_lock(listener)
    study = listener.study
    study_require_open(study)
    score, choice = answer_clean(study, answer)
    followups = followups_check(study, followups or {})
    playlist, item = trial_for_answer(listener, item_pk, TRIAL_WORDS)

    clips = list(TrialClip.objects.filter(trial=item).select_related("clip").order_by("position"))
    durations = [c.clip.duration_s or 0.0 for c in clips]
    not_played = NotPlayedError(_("Please listen to every sound to its end before answering."))
    if len(play_counts) != len(clips) or len(played) != len(clips) or first_play_ended_at is None:
        raise not_played
    for plays, seconds, duration in zip(play_counts, played, durations, strict=True):
        if plays < 1 or (duration and seconds + TIMING_TOLERANCE_S < MIN_PLAYED_SHARE * duration):
            raise not_played
    client_seconds = max(0.0, (answered_at - first_play_ended_at).total_seconds())
    earliest = None
    response_seconds = client_seconds
    if page_issued_at is not None:
        earliest = page_issued_at + timedelta(seconds=sum(durations))
        if (answered_at - earliest).total_seconds() + TIMING_TOLERANCE_S < 0:
            raise not_played
        response_seconds = max(0.0, (answered_at - earliest).total_seconds())

    counts = [min(int(n), 32767) for n in play_counts]
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                listener=listener,
                clip_id=item.clip_id if study.test_type == TestType.SMOS else None,
                item=item,
                purpose=item.purpose,
                test_type=study.test_type,
                score=score,
                choice=choice,
                followups=followups,
                play_counts=counts,
                play_count=min(sum(counts), 32767),
                played_seconds=max(0.0, float(sum(played))),
                response_seconds=response_seconds,
                served_at=page_issued_at,
                earliest_answer_at=earliest,
                client_response_seconds=client_seconds,
            )
    except IntegrityError:
        raise AlreadyRatedError(
            _("This trial has already been answered. Your first answer is kept.")
        ) from None

    if _attention_failed(listener, item, score, choice, clips):
        listener.attention_failures += 1
        if listener.attention_failures > study.max_attention_failures:
            listener.flagged = True
        listener.save(update_fields=["attention_failures", "flagged", "last_seen_at"])
    answer_recorded(listener, playlist, item)
    return rating
