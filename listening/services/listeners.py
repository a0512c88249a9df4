"""The listener's path through an open study: join, consent, questionnaire, headphone check,
playlist claim, ratings, completion. Crowdsourced ACR to ITU-T P.808 (2021).

Where it sits: ``listening/views/listener.py`` (the pages under ``/t/<slug>/``) parses each
request, calls one function here and renders the result; an API or a command would call the
same functions. Playlists were precomputed by ``listening/design.py`` when the study opened
(``services.studies.study_open``); ratings written here feed ``listening/stats.py`` through the
reports.

Stages (``Listener.Stage``)::

    consent → questionnaire (if the study asks) → headphones (if the study asks)
            → [playlist claimed] → training → rating → completed
    exits: failed_check (the headphone check said no), no_playlist (the study is full)

Rules, and where they come from
-------------------------------
* One listener per external id and study (Prolific PID, MTurk worker id): a database
  constraint; a race between two tabs is settled by re-fetching the winner's row.
* The playlist is claimed only after the checks are passed (P.808 qualification comes before
  the rating job), so a listener who fails the headphone check consumes no playlist. The claim
  takes the first free playlist with ``SELECT … FOR UPDATE SKIP LOCKED`` inside a transaction
  and marks it with a conditional UPDATE, so listeners arriving at once never share a playlist
  and never wait on each other (SQLite has no SKIP LOCKED; its write lock, taken at BEGIN in
  Harken's settings, serialises claims instead). If every claimable row is locked by others
  at that instant, the claim waits for one rather than turning the listener away.
* Abandoned playlists: a playlist claimed more than ``study.listener_timeout_minutes`` ago and
  not completed goes back to the pool. Lazily: a claim treats such a playlist as claimable and
  takes it over with the same conditional UPDATE (counting ``times_released``), so no job is
  needed; ``playlist_release_abandoned`` frees them in bulk for a periodic job or the admin.
  The claim locks only the row it takes: releasing every abandoned playlist inside one claim
  would hide them (locked) from the listeners arriving in the same instant.
  **How ratings of a released playlist count:** the released listener's ratings stay valid
  individual ratings (they heard and rated those clips under the same conditions) and keep
  purpose "test"; the next claimant rates every item of the playlist again. Those clips may
  therefore end with more than ``ratings_per_clip`` ratings; the report counts every valid
  rating. The released listener's session ends ("your session timed out"): they are not given
  a second playlist, which could show them a sentence they already rated.
* Training items (P.808: anchoring the scale with clips spanning it) are rated first and
  stored with purpose "training"; the report ignores them.
* A rating is accepted only after the clip was played to its end (P.808 asks that the whole
  clip is heard before voting). The browser reports play count, seconds played and when the
  first full play ended, as an offset from the page the server issued; the server checks that
  enough wall time has passed since it issued the page for the clip to have played, and
  computes ``response_seconds`` from its own clock.
* A rating is written once: the database refuses a second rating of the same item (and of the
  same clip as a test item); the service also refuses items that are not on the listener's
  current page (another playlist, a forged token, skipping ahead). Refusals change nothing.
* Attention checks (P.808 gold and trapping questions, and repeated clips for consistency): a
  gold item fails when the score differs from its expected score; a repeat fails when it
  differs from the listener's test rating of the same clip by more than the study's
  ``screening["max_repeat_difference"]``. A listener failing more than
  ``study.max_attention_failures`` checks is flagged; they still complete and are paid, and the
  report's screening decides what a flag means.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, PositiveSmallIntegerField, Q, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from listening import headphones
from listening.models import Listener, Playlist, PlaylistItem, Rating, Study
from observability.metrics import RATINGS_SUBMITTED

from .studies import ServiceError

log = logging.getLogger(__name__)

Stage = Listener.Stage
Purpose = PlaylistItem.Purpose

#: Slack for the timing checks, in seconds: timer granularity of the browser (``timeupdate``
#: fires every 250 ms or so) and rounding, not network latency (that only makes times longer).
TIMING_TOLERANCE_S = 0.35

#: A clip counts as heard when the seconds played reach this share of its duration.
MIN_PLAYED_SHARE = 0.9

AGE_BANDS: list[tuple[str, str]] = [
    ("18-24", gettext_lazy("18–24")),
    ("25-34", gettext_lazy("25–34")),
    ("35-44", gettext_lazy("35–44")),
    ("45-54", gettext_lazy("45–54")),
    ("55-64", gettext_lazy("55–64")),
    ("65+", gettext_lazy("65 or older")),
    ("undisclosed", gettext_lazy("I prefer not to say")),
]

DEVICES: list[tuple[str, str]] = [
    ("headphones", gettext_lazy("Headphones (over or on the ear)")),
    ("earbuds", gettext_lazy("Earbuds or in-ear headphones")),
    ("computer-speakers", gettext_lazy("Computer or laptop speakers")),
    ("phone-speaker", gettext_lazy("Phone or tablet speaker")),
    ("other", gettext_lazy("Something else")),
]

NATIVE_LANGUAGE_MAX = 64


# --- Errors ----------------------------------------------------------------------------------


class ListenerError(ServiceError):
    """A listener's request cannot be done; the message is shown to the listener."""


class StudyNotOpenError(ListenerError):
    pass


class ListenerStageError(ListenerError):
    """The listener is not at the step this action belongs to."""


class SessionExpiredError(ListenerStageError):
    """The listener's playlist went back to the pool after the study's timeout."""


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


# --- Helpers ---------------------------------------------------------------------------------


def study_unavailable_message(study: Study) -> str:
    """Why a study takes no listeners right now, in words for a listener."""
    if study.status == Study.Status.PAUSED:
        return _("This listening test is paused for the moment. Please come back a little later.")
    if study.status == Study.Status.CLOSED:
        return _("This listening test has ended. Thank you for your interest.")
    return _("This listening test is not open yet. Please come back later.")


def _require_open(study: Study) -> None:
    if study.status != Study.Status.OPEN:
        raise StudyNotOpenError(study_unavailable_message(study))


def _lock_listener(listener: Listener) -> Listener:
    # Every write of a listener's path starts by locking the listener's row: two tabs or a
    # double click then run one after the other and the second sees the first's result. Only
    # this row is locked (no select_related), so listeners never queue behind each other.
    return Listener.objects.select_for_update().get(pk=listener.pk)


def _skip_locked(queryset):
    """FOR UPDATE SKIP LOCKED where the database has it (PostgreSQL), plain FOR UPDATE else.

    Django refuses skip_locked on a backend without it; SQLite ignores FOR UPDATE altogether
    and serialises writers with its database lock (BEGIN IMMEDIATE in Harken's settings)."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset.select_for_update()


def _stage_after(listener: Listener, done: str) -> str | None:
    """The next check after ``done``, or None when the checks are over (claim a playlist)."""
    study = listener.study
    if done == Stage.CONSENT and study.questionnaire_enabled:
        return Stage.QUESTIONNAIRE
    if done in (Stage.CONSENT, Stage.QUESTIONNAIRE) and study.headphone_check_enabled:
        return Stage.HEADPHONES
    return None


def _advance(listener: Listener, done: str) -> None:
    """Move a locked listener past ``done``: to the next check, or claim a playlist."""
    nxt = _stage_after(listener, done)
    if nxt is not None:
        listener.stage = nxt
        listener.save(update_fields=["stage", "last_seen_at"])
        return
    _claim_locked(listener)


# --- Joining and the checks ------------------------------------------------------------------


def listener_find(
    *, study: Study, token: str | None = None, platform: str = "", external_id: str = ""
) -> Listener | None:
    """The listener of ``study`` with this external id (preferred) or cookie token, if any."""
    if external_id:
        return Listener.objects.filter(
            study=study, platform=platform, external_id=external_id
        ).first()
    if token:
        return Listener.objects.filter(study=study, token=token).first()
    return None


def listener_join(
    *,
    study: Study,
    platform: str,
    external_id: str,
    params: Mapping[str, str],
    user_agent: str,
) -> Listener:
    """The listener for this arrival: an existing one with the same external id, or a new one.

    The same Prolific participant or MTurk worker never gets a second listener (and so never a
    second playlist) in one study; without an external id every join is a new listener."""
    _require_open(study)
    if platform not in Listener.Platform.values:
        raise ListenerError(_("Unknown platform %(platform)s.") % {"platform": platform})
    external_id = (external_id or "").strip()
    fields = {
        "platform_params": dict(params),
        "user_agent": (user_agent or "")[:300],
    }
    if not external_id:
        return Listener.objects.create(study=study, platform=platform, **fields)
    existing = listener_find(study=study, platform=platform, external_id=external_id)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Listener.objects.create(
                study=study, platform=platform, external_id=external_id, **fields
            )
    except IntegrityError:
        # Two tabs joined at the same instant: the unique constraint let one insert win; this
        # request uses the winner's row.
        return Listener.objects.get(study=study, platform=platform, external_id=external_id)


@transaction.atomic
def listener_consent(*, listener: Listener) -> Listener:
    """Record consent and move to the first check (or straight to the playlist).

    A second consent (double click, back button) changes nothing."""
    listener = _lock_listener(listener)
    _require_open(listener.study)
    if listener.stage != Stage.CONSENT:
        return listener
    listener.consented_at = timezone.now()
    listener.save(update_fields=["consented_at", "last_seen_at"])
    _advance(listener, Stage.CONSENT)
    return listener


def questionnaire_clean(answers: Mapping[str, str]) -> dict[str, str]:
    """The questionnaire's three answers, checked; raises QuestionnaireError naming the fix."""
    language = (answers.get("native_language") or "").strip()
    age_band = (answers.get("age_band") or "").strip()
    device = (answers.get("device") or "").strip()
    if not language:
        raise QuestionnaireError(_("Please tell us your native language."))
    if len(language) > NATIVE_LANGUAGE_MAX:
        raise QuestionnaireError(
            _("Please write your native language in at most %(n)d characters.")
            % {"n": NATIVE_LANGUAGE_MAX}
        )
    if age_band not in dict(AGE_BANDS):
        raise QuestionnaireError(_("Please choose your age group."))
    if device not in dict(DEVICES):
        raise QuestionnaireError(_("Please choose what you will listen with."))
    return {"native_language": language, "age_band": age_band, "device": device}


@transaction.atomic
def listener_questionnaire_save(*, listener: Listener, answers: Mapping[str, str]) -> Listener:
    """Save the questionnaire (native language, age band, listening device) and move on."""
    listener = _lock_listener(listener)
    _require_open(listener.study)
    if listener.stage != Stage.QUESTIONNAIRE:
        raise ListenerStageError(_("The questionnaire has already been answered."))
    listener.questionnaire = questionnaire_clean(answers)
    listener.save(update_fields=["questionnaire", "last_seen_at"])
    _advance(listener, Stage.QUESTIONNAIRE)
    return listener


@functools.lru_cache(maxsize=8)
def _trials(seed: int, n: int) -> list[tuple[bytes, int]]:
    # A page loads n trial files in a row; generate them once per seed, not n times.
    return headphones.make_trials(seed, n)


@transaction.atomic
def headphone_check_start(*, listener: Listener) -> int:
    """Draw the listener's headphone-check trials (Woods et al. 2017); returns their number.

    The right answers stay in ``listener.headphone_check``; the browser gets only the sounds,
    from URLs that carry the trial's number. Reloading the page keeps the same trials."""
    listener = _lock_listener(listener)
    _require_open(listener.study)
    if listener.stage != Stage.HEADPHONES:
        raise ListenerStageError(_("The headphone check is not the current step."))
    check = listener.headphone_check or {}
    if "seed" in check:
        return int(check["n"])
    seed = secrets.randbits(31)
    n = headphones.N_TRIALS
    listener.headphone_check = {
        "method": "antiphase-woods-2017",
        "seed": seed,
        "n": n,
        "correct": [answer for _wav, answer in _trials(seed, n)],
        "started_at": timezone.now().isoformat(),
    }
    listener.save(update_fields=["headphone_check", "last_seen_at"])
    return n


def headphone_trial_wav(*, listener: Listener, index: int) -> bytes:
    """The WAV bytes of trial ``index`` (0-based) of the listener's started check."""
    check = listener.headphone_check or {}
    if "seed" not in check or not 0 <= index < int(check["n"]):
        raise HeadphoneCheckError(_("This sound is not part of your headphone check."))
    return _trials(int(check["seed"]), int(check["n"]))[index][0]


@transaction.atomic
def headphone_check_answer(*, listener: Listener, answers: Sequence[int]) -> bool:
    """Score the answers (5 of 6 right passes); on a pass claim a playlist, else end politely.

    One attempt only: a retry would let a loudspeaker listener guess their way through."""
    listener = _lock_listener(listener)
    _require_open(listener.study)
    if listener.stage != Stage.HEADPHONES:
        raise ListenerStageError(_("The headphone check has already been answered."))
    check = dict(listener.headphone_check or {})
    if "seed" not in check:
        raise HeadphoneCheckError(_("Please start the headphone check from its page."))
    answers = list(answers)
    if len(answers) != int(check["n"]) or any(a not in (1, 2, 3) for a in answers):
        raise HeadphoneCheckError(
            _("Please answer every sound of the check: choose 1, 2 or 3 for each.")
        )
    n_correct, passed = headphones.score_trials(answers, list(check["correct"]))
    check.update(
        answers=answers,
        n_correct=n_correct,
        passed=passed,
        answered_at=timezone.now().isoformat(),
    )
    listener.headphone_check = check
    if not passed:
        listener.stage = Stage.FAILED_CHECK
        listener.save(update_fields=["headphone_check", "stage", "last_seen_at"])
        log.info("headphone check failed", extra={"listener": listener.pk, "n": n_correct})
        return False
    listener.save(update_fields=["headphone_check", "last_seen_at"])
    _advance(listener, Stage.HEADPHONES)
    return True


# --- Playlists -------------------------------------------------------------------------------


def _cutoff(study: Study) -> datetime:
    return timezone.now() - timedelta(minutes=study.listener_timeout_minutes)


def _claimable(study: Study, cutoff: datetime) -> Q:
    """Free playlists, and playlists claimed before ``cutoff`` and never completed."""
    return Q(study=study) & (
        Q(status=Playlist.Status.FREE) | Q(status=Playlist.Status.CLAIMED, claimed_at__lt=cutoff)
    )


def study_has_places(*, study: Study) -> bool:
    """Whether a listener arriving now would get a playlist (free or abandoned)."""
    return Playlist.objects.filter(_claimable(study, _cutoff(study))).exists()


@transaction.atomic
def playlist_release_abandoned(*, study: Study) -> int:
    """Give playlists claimed longer than the study's timeout ago back to the pool (for a
    periodic job; claims also take abandoned playlists directly, see ``playlist_claim``)."""
    abandoned = Playlist.objects.filter(
        study=study, status=Playlist.Status.CLAIMED, claimed_at__lt=_cutoff(study)
    )
    # Skip rows someone holds right now (a claim, or rating_submit's lock): nobody waits, and
    # the next run or claim takes them.
    ids = list(_skip_locked(abandoned).values_list("pk", flat=True))
    if not ids:
        return 0
    released = abandoned.filter(pk__in=ids).update(
        status=Playlist.Status.FREE,
        listener=None,
        claimed_at=None,
        times_released=F("times_released") + 1,
    )
    log.info("playlists released", extra={"study": study.slug, "n": released})
    return released


def _take_one(listener: Listener, study: Study) -> Playlist | None:
    """Claim one claimable playlist for a locked listener, or None when none is left.

    Each claimant locks only the row it takes. Releasing every abandoned playlist in bulk here
    would lock them all until this transaction ends, and listeners arriving meanwhile would skip
    them and be turned away from a study that has places: the concurrency test caught that."""
    cutoff = _cutoff(study)
    claimable = Playlist.objects.filter(_claimable(study, cutoff)).order_by("index")
    # Bounded only as a guard: each round either claims, or sees a row claimed by someone else.
    for _attempt in range(200):
        candidate = _skip_locked(claimable).first()
        if candidate is None:
            if not claimable.exists():
                return None  # nothing claimable, even among rows others hold right now
            # Every claimable row is locked by another transaction (a claim or a release in
            # flight). Wait for the first one; if that transaction took it, the row no longer
            # matches and we look again.
            candidate = claimable.select_for_update().first()
            if candidate is None:
                continue
        abandoned = candidate.status == Playlist.Status.CLAIMED
        # Conditional UPDATE: succeeds only if the row is still claimable, whatever happened.
        taken = (
            Playlist.objects.filter(pk=candidate.pk)
            .filter(_claimable(study, cutoff))
            .update(
                status=Playlist.Status.CLAIMED,
                listener=listener,
                claimed_at=timezone.now(),
                times_released=Case(
                    When(status=Playlist.Status.CLAIMED, then=F("times_released") + 1),
                    default=F("times_released"),
                    output_field=PositiveSmallIntegerField(),
                ),
            )
        )
        if taken == 1:
            if abandoned:
                log.info(
                    "abandoned playlist reclaimed",
                    extra={"study": study.slug, "playlist": candidate.index},
                )
            return Playlist.objects.get(pk=candidate.pk)
    log.warning("playlist claim gave up after many contended attempts", extra={"study": study.slug})
    return None


def _claim_locked(listener: Listener) -> Playlist | None:
    current = Playlist.objects.filter(listener=listener).first()
    if current is not None:
        return current
    if listener.stage in (Stage.TRAINING, Stage.RATING):
        raise SessionExpiredError(
            _(
                "Your session timed out and your place went to another listener. "
                "Thank you for the ratings you gave; they are kept."
            )
        )
    study = listener.study
    checks_done = (
        listener.consented_at is not None
        and (not study.questionnaire_enabled or bool(listener.questionnaire))
        and (not study.headphone_check_enabled or bool(listener.headphone_check.get("passed")))
    )
    if listener.stage in (Stage.COMPLETED, Stage.FAILED_CHECK) or not checks_done:
        raise ListenerStageError(
            _("Please give your consent and complete the checks before the ratings.")
        )
    _require_open(study)
    playlist = _take_one(listener, study)
    if playlist is None:
        listener.stage = Stage.NO_PLAYLIST
        listener.save(update_fields=["stage", "last_seen_at"])
        return None
    _update_stage(listener, playlist)
    return playlist


@transaction.atomic
def playlist_claim(*, listener: Listener) -> Playlist | None:
    """The listener's playlist: the one they hold, or the first free one claimed atomically.

    Returns None (and sets stage ``no_playlist``) when the study is full. Raises
    SessionExpiredError for a listener whose playlist was released after the timeout."""
    listener = _lock_listener(listener)
    return _claim_locked(listener)


def listener_playlist(*, listener: Listener) -> Playlist | None:
    """The playlist the listener holds (claimed or completed), or None."""
    return Playlist.objects.filter(listener=listener).first()


def listener_page(*, listener: Listener, playlist: Playlist | None = None) -> list[PlaylistItem]:
    """The items of the listener's current page: the first unrated ones, up to the study's
    ``clips_per_page``, never mixing training with counted items. Empty when all are rated."""
    playlist = playlist or listener_playlist(listener=listener)
    if playlist is None:
        return []
    per_page = max(1, listener.study.clips_per_page)
    rated = Rating.objects.filter(listener=listener, item__playlist=playlist).values("item_id")
    unrated = list(
        playlist.items.exclude(pk__in=rated).select_related("clip").order_by("position")[:per_page]
    )
    if not unrated:
        return []
    training = unrated[0].purpose == Purpose.TRAINING
    page = []
    for item in unrated:
        if (item.purpose == Purpose.TRAINING) != training:
            break
        page.append(item)
    return page


def listener_next_item(*, listener: Listener) -> PlaylistItem | None:
    """The next item the listener has to rate, or None when they are done (or have none)."""
    page = listener_page(listener=listener)
    return page[0] if page else None


def listener_progress(*, listener: Listener) -> tuple[int, int]:
    """(items rated, items in the playlist), training included."""
    playlist = listener_playlist(listener=listener)
    if playlist is None:
        return 0, 0
    total = playlist.items.count()
    done = Rating.objects.filter(listener=listener, item__playlist=playlist).count()
    return done, total


def _update_stage(listener: Listener, playlist: Playlist) -> None:
    """Set training / rating / completed from what is left to rate (listener row locked)."""
    nxt = listener_page(listener=listener, playlist=playlist)
    now = timezone.now()
    if not nxt:
        Playlist.objects.filter(pk=playlist.pk).update(
            status=Playlist.Status.COMPLETED, completed_at=now
        )
        listener.stage = Stage.COMPLETED
        listener.completed_at = now
        listener.save(update_fields=["stage", "completed_at", "last_seen_at"])
        return
    stage = Stage.TRAINING if nxt[0].purpose == Purpose.TRAINING else Stage.RATING
    if listener.stage != stage:
        listener.stage = stage
        listener.save(update_fields=["stage", "last_seen_at"])


# --- Ratings ---------------------------------------------------------------------------------


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
        page_issued_at: when the server issued the page; the first play cannot have ended
            sooner after it than the clip lasts.
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

    listener = _lock_listener(listener)
    study = listener.study
    _require_open(study)
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
    if page_issued_at is not None:
        first_play_ended_at = min(max(first_play_ended_at, page_issued_at), answered_at)
        heard_for = (first_play_ended_at - page_issued_at).total_seconds()
        if duration and heard_for + TIMING_TOLERANCE_S < duration:
            raise not_played
    response_seconds = max(0.0, (answered_at - first_play_ended_at).total_seconds())

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
    _update_stage(listener, playlist)

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


__all__ = [
    "AGE_BANDS",
    "DEVICES",
    "AlreadyRatedError",
    "HeadphoneCheckError",
    "ItemNotInPlaylistError",
    "ItemOutOfOrderError",
    "ListenerError",
    "ListenerStageError",
    "NotPlayedError",
    "QuestionnaireError",
    "RatingRefusedError",
    "ScoreInvalidError",
    "SessionExpiredError",
    "StudyNotOpenError",
    "headphone_check_answer",
    "headphone_check_start",
    "headphone_trial_wav",
    "listener_completion",
    "listener_consent",
    "listener_find",
    "listener_join",
    "listener_next_item",
    "listener_page",
    "listener_playlist",
    "listener_progress",
    "listener_questionnaire_save",
    "playlist_claim",
    "playlist_release_abandoned",
    "questionnaire_clean",
    "rating_submit",
    "score_clean",
    "study_has_places",
    "study_unavailable_message",
]
