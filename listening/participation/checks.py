"""The checks before the ratings: joining, consent, the questionnaire and the headphone check.

Where it sits: the listener pages call these in order (``Listener.Stage``); passing the last
check claims a playlist (``playlists.playlist_claim_locked``). The headphone check's stimuli and
scoring are ``headphones`` (Woods et al. 2017); its right answers stay in the listener's row.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from listening.models import Listener, Study, StudyArrival
from listening.participation import headphones
from listening.participation.playlists import (
    already_taking_part_message,
    external_id_taking_part,
    listener_lock,
    playlist_claim_locked,
)
from listening.participation.refusals import (
    AlreadyTakingPartError,
    HeadphoneCheckError,
    ListenerError,
    ListenerStageError,
    QuestionnaireError,
    study_require_open,
)
from listening.participation.selectors import attempt_of, external_id_attempts

log = logging.getLogger(__name__)

Stage = Listener.Stage

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


def _stage_after(listener: Listener, done: str) -> str | None:
    """The next check after ``done``, or None when the checks are over (claim a playlist)."""
    study = listener.study
    if done == Stage.CONSENT and study.questionnaire_enabled:
        return Stage.QUESTIONNAIRE
    if done in (Stage.CONSENT, Stage.QUESTIONNAIRE) and study.headphone_check_enabled:
        return Stage.HEADPHONES
    return None


def _advance(listener: Listener, done: str, changed: Sequence[str] = ()) -> None:
    """Move a locked listener past ``done``: to the next check, or claim a playlist. The
    fields of ``changed`` (set by the caller) are saved with the stage, in one UPDATE."""
    nxt = _stage_after(listener, done)
    if nxt is not None:
        listener.stage = nxt
        listener.save(update_fields=[*changed, "stage", "last_seen_at"])
        return
    # The claim saves these with the stage it sets: one UPDATE of the listener, not two.
    playlist_claim_locked(listener, changed=changed)


def listener_join(
    *,
    study: Study,
    platform: str,
    external_id: str,
    params: Mapping[str, str],
    user_agent: str,
    attempt_id: str = "",
    consent: bool = False,
    attempts: list[Listener] | None = None,
) -> Listener:
    """The listener for this arrival: the one of the same platform attempt, or a new one.

    A returning listener is the same only with the same external id *and* attempt id (Prolific
    SESSION_ID, MTurk assignmentId): an external id alone is public (anyone can put it into a
    link). A new attempt of an id that is already taking part (holds a place, rated, finished)
    is refused with AlreadyTakingPartError; an attempt that only joined, consented or failed
    the headphone check blocks nobody, so nobody can use up a participant in advance. The same
    participant never gets a second playlist: the claim checks again (``playlists``).

    With ``consent`` (the welcome page's form, which joins and consents at once) a new listener
    is created consented and at the first check, in the one INSERT; a listener found, or one
    whose next step is the claim, is left at consent for :func:`listener_consent`.

    ``attempts``: the id's listeners as the caller has just read them
    (``selectors.external_id_attempts``), so they are not read again; the unique constraint
    and the claim's own check still decide a race."""
    study_require_open(study)
    if platform not in Listener.Platform.values:
        raise ListenerError(_("Unknown platform %(platform)s.") % {"platform": platform})
    external_id = (external_id or "").strip()
    attempt_id = (attempt_id or "").strip()[:200] if external_id else ""
    fields = {
        "platform_params": dict(params),
        "user_agent": (user_agent or "")[:300],
    }
    if consent:
        # A row nobody else can see yet needs no lock: consent is recorded as it is created.
        first_check = _stage_after(Listener(study=study), Stage.CONSENT)
        if first_check is not None:
            fields.update(consented_at=timezone.now(), stage=first_check)
    if not external_id:
        return Listener.objects.create(study=study, platform=platform, **fields)
    if attempts is None:
        attempts = external_id_attempts(study=study, platform=platform, external_id=external_id)
    existing = attempt_of(attempts, attempt_id)
    if existing is not None:
        return existing
    # Only an id seen before can be taking part: a new id needs no more reads.
    if attempts and external_id_taking_part(
        study=study, platform=platform, external_id=external_id
    ):
        raise AlreadyTakingPartError(already_taking_part_message())
    try:
        with transaction.atomic():
            return Listener.objects.create(
                study=study,
                platform=platform,
                external_id=external_id,
                attempt_id=attempt_id,
                **fields,
            )
    except IntegrityError:
        # Two tabs of one attempt joined at the same instant: the unique constraint let one
        # insert win; this request uses the winner's row.
        return Listener.objects.get(
            study=study, platform=platform, external_id=external_id, attempt_id=attempt_id
        )


def arrival_count(*, study: Study, platform: str) -> None:
    """Count one opening of the welcome page (the report's funnel starts here)."""
    updated = StudyArrival.objects.filter(study=study, platform=platform).update(
        count=F("count") + 1
    )
    if not updated:
        try:
            with transaction.atomic():
                StudyArrival.objects.create(study=study, platform=platform, count=1)
        except IntegrityError:  # created by a parallel request meanwhile
            StudyArrival.objects.filter(study=study, platform=platform).update(count=F("count") + 1)


@transaction.atomic
def listener_consent(*, listener: Listener) -> Listener:
    """Record consent and move to the first check (or straight to the playlist).

    A second consent (double click, back button) changes nothing."""
    listener = listener_lock(listener)
    study_require_open(listener.study)
    if listener.stage != Stage.CONSENT:
        return listener
    listener.consented_at = timezone.now()
    _advance(listener, Stage.CONSENT, changed=["consented_at"])
    return listener


@contextmanager
def _locked(listener: Listener, locked: bool) -> Iterator[Listener]:
    """A transaction holding the listener's row lock, and the locked listener: with
    ``locked`` the caller's (it read ``listener`` with its lock, as the listener views do with
    the study in one statement: no second read, no savepoint), else a new one that reads the
    row again with the lock (``playlists.listener_lock``). Either way a refusal raised inside
    leaves nothing written: the caller's transaction then rolls back as a whole."""
    if not locked:
        with transaction.atomic():
            yield listener_lock(listener)
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("locked=True: lock the listener in the transaction this runs in")
    with transaction.atomic(savepoint=False):
        yield listener


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


def listener_questionnaire_save(
    *, listener: Listener, answers: Mapping[str, str], locked: bool = False
) -> Listener:
    """Save the questionnaire (native language, age band, listening device) and move on.
    ``locked``: the caller holds the listener's row lock (:func:`_locked`)."""
    with _locked(listener, locked) as listener:
        study_require_open(listener.study)
        if listener.stage != Stage.QUESTIONNAIRE:
            raise ListenerStageError(_("The questionnaire has already been answered."))
        listener.questionnaire = questionnaire_clean(answers)
        _advance(listener, Stage.QUESTIONNAIRE, changed=["questionnaire"])
    return listener


def headphone_check_start(*, listener: Listener, locked: bool = False) -> int:
    """Draw the listener's headphone-check trials (Woods et al. 2017); returns their number.

    The right answers stay in ``listener.headphone_check``; the browser gets only the sounds,
    from URLs that carry the trial's number. Reloading the page keeps the same trials.
    ``locked``: the caller holds the listener's row lock (:func:`_locked`)."""
    if (
        "seed" in (listener.headphone_check or {})
        and listener.stage == Stage.HEADPHONES
        and Listener.study.is_cached(listener)
    ):
        # Drawn already (a reload, or the answers' POST), and read with the listener by this
        # request: a drawn check never changes, so there is nothing to lock or write.
        study_require_open(listener.study)
        return int(listener.headphone_check["n"])
    with _locked(listener, locked) as row:
        study_require_open(row.study)
        if row.stage != Stage.HEADPHONES:
            raise ListenerStageError(_("The headphone check is not the current step."))
        check = row.headphone_check or {}
        if "seed" not in check:
            seed = secrets.randbits(31)
            check = {
                "method": "antiphase-woods-2017",
                "seed": seed,
                "n": headphones.N_TRIALS,
                "correct": headphones.trial_answers(seed, headphones.N_TRIALS),
                "started_at": timezone.now().isoformat(),
            }
            row.headphone_check = check
            row.save(update_fields=["headphone_check", "last_seen_at"])
    # The caller's copy is brought up to date, so its page needs no second read.
    listener.headphone_check = check
    return int(check["n"])


def headphone_trial_wav(*, listener: Listener, index: int) -> bytes:
    """The WAV bytes of trial ``index`` (0-based) of the listener's started check."""
    check = listener.headphone_check or {}
    if "seed" not in check or not 0 <= index < int(check["n"]):
        raise HeadphoneCheckError(_("This sound is not part of your headphone check."))
    # From the per-process cache of the six possible trial sounds (headphones.arrangement_wav).
    return headphones.trial_wav(int(check["seed"]), index)


def headphone_trial_play(*, listener: Listener, index: int, locked: bool = False) -> bytes:
    """:func:`headphone_trial_wav`, recording that the sound went out: only a sound that was
    fetched can be answered (``headphone_check_progress``, ``headphone_check_answer``). A
    sound played before (Play again, a browser's range requests) writes nothing.
    ``locked``: the caller holds the listener's row lock (:func:`_locked`)."""
    with _locked(listener, locked) as listener:
        wav = headphone_trial_wav(listener=listener, index=index)
        check = dict(listener.headphone_check)
        played = set(check.get("played", []))
        if index not in played and listener.stage == Stage.HEADPHONES:
            check["played"] = sorted(played | {index})
            check["volume_done"] = True  # a trial was played: the volume step is over
            listener.headphone_check = check
            listener.save(update_fields=["headphone_check", "last_seen_at"])
    return wav


def _not_played(index: int) -> HeadphoneCheckError:
    return HeadphoneCheckError(
        _("Please play sound %(number)d before you answer it.") % {"number": index + 1}
    )


def _check_under_way(listener: Listener) -> dict:
    """A copy of the locked listener's started headphone check; refuse when the study is not
    open, the check is already answered, or it was never started."""
    study_require_open(listener.study)
    if listener.stage != Stage.HEADPHONES:
        raise ListenerStageError(_("The headphone check has already been answered."))
    check = dict(listener.headphone_check or {})
    if "seed" not in check:
        raise HeadphoneCheckError(_("Please start the headphone check from its page."))
    return check


def headphone_check_progress(
    *,
    listener: Listener,
    volume_done: bool = False,
    trial: int | None = None,
    answer: int = 0,
    locked: bool = False,
) -> dict:
    """Keep where the listener is in the check, on the server: the volume step done, and each
    answer as it is chosen, so a reload comes back to the same step with the answers kept.
    An answer is taken only for a sound that was played. Returns the saved state.
    ``locked``: the caller holds the listener's row lock (:func:`_locked`)."""
    with _locked(listener, locked) as listener:
        check = _check_under_way(listener)
        if volume_done:
            check["volume_done"] = True
        if trial is not None:
            if not 0 <= trial < int(check["n"]) or answer not in (1, 2, 3):
                raise HeadphoneCheckError(
                    _("Please choose tone 1, 2 or 3 for a sound of the check.")
                )
            if trial not in check.get("played", []):
                raise _not_played(trial)
            chosen = dict(check.get("chosen", {}))
            chosen[str(trial)] = answer
            check["chosen"] = chosen
        listener.headphone_check = check
        listener.save(update_fields=["headphone_check", "last_seen_at"])
    return check


def headphone_check_answer(
    *, listener: Listener, answers: Sequence[int], locked: bool = False
) -> bool:
    """Score the answers (5 of 6 right passes); on a pass claim a playlist, else end politely.
    The caller's ``listener`` gets the stage this sets (no second read for the redirect).

    One attempt only: a retry would let a loudspeaker listener guess their way through. Every
    sound must have been played (fetched from the server) before its answer counts.
    ``locked``: the caller holds the listener's row lock (:func:`_locked`)."""
    caller = listener
    with _locked(listener, locked) as listener:
        check = _check_under_way(listener)
        answers = list(answers)
        if len(answers) != int(check["n"]) or any(a not in (1, 2, 3) for a in answers):
            raise HeadphoneCheckError(
                _("Please answer every sound of the check: choose 1, 2 or 3 for each.")
            )
        played = set(check.get("played", []))
        for index in range(len(answers)):
            if index not in played:
                raise _not_played(index)
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
            caller.stage = listener.stage
            return False
        _advance(listener, Stage.HEADPHONES, changed=["headphone_check"])
        caller.stage = listener.stage
        return True
