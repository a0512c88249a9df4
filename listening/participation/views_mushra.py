"""The listener's MUSHRA and transcription pages: render a trial, take its answer, serve its
audio. ``views.rate`` hands a study of either type here (``TEST_TYPES``); the audio and play
endpoints are wrapped in ``views.listener_view`` by ``urls`` (this module imports no view
module, so the two never import each other).

No page says which system a sound is: conditions are labelled by letters in the trial's
random order (``TrialClip.position``), and every sound's URL is a token of the listener and the
trial clip (``responses_mushra.trial_audio_token``).
"""

from __future__ import annotations

import string

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from listening.followups import followup_posted
from listening.models import Listener, Study, TestType, TrialClip
from listening.participation import refusals, responses_mushra, selectors
from listening.participation.followups import (
    FollowupsMissingError,
    followup_fields,
    followup_prefix,
)
from listening.participation.page_tokens import TRIAL_PAGE_SALT, page_claims, page_token
from mos_site.http import stored_file_response

TEST_TYPES = (TestType.MUSHRA, TestType.TRANSCRIPTION)

#: ITU-R BS.1534-3's continuous quality scale: five labelled bands of 20 points, best first.
MUSHRA_BANDS = [
    (80, 100, gettext_lazy("Excellent")),
    (60, 80, gettext_lazy("Good")),
    (40, 60, gettext_lazy("Fair")),
    (20, 40, gettext_lazy("Poor")),
    (0, 20, gettext_lazy("Bad")),
]

REFUSAL_STATUS = {
    responses_mushra.PlayLimitError: 409,
    refusals.ScoreInvalidError: 400,
    refusals.NotPlayedError: 400,
    refusals.PageExpiredError: 409,
    refusals.ItemNotInPlaylistError: 403,
    refusals.AlreadyRatedError: 409,
    refusals.ItemOutOfOrderError: 409,
}


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, f"listening/participation/{template}", context, status=status)
    response["Cache-Control"] = "private, no-store"  # personal, changes with every answer
    return response


def _refused(request: HttpRequest, study: Study, exc: Exception) -> HttpResponse:
    status = next((s for cls, s in REFUSAL_STATUS.items() if isinstance(exc, cls)), 409)
    context = {
        "study": study,
        "message": str(exc),
        "continue_url": reverse("listener-rate", args=[study.slug]),
    }
    return _render(request, "refused.html", context, status=status)


def _label(i: int) -> str:
    """A neutral label of the i-th rated condition: A … Z, then 27, 28 … (never a system)."""
    return string.ascii_uppercase[i] if i < 26 else str(i + 1)


def _audio_url(study: Study, listener: Listener, trial_clip: TrialClip) -> str:
    token = responses_mushra.trial_audio_token(listener=listener, trial_clip_id=trial_clip.pk)
    return reverse("listener-trial-audio", args=[study.slug, token])


def page(
    request: HttpRequest, trial: selectors.TrialPage, *, again: Exception | None = None
) -> HttpResponse:
    """The page of one MUSHRA or transcription trial (``trial.item``: the listener's next one).
    ``again``: the refusal of a POST that left a follow-up question open: the page comes back
    with its unused token and everything the POST carried."""
    study, listener, item, progress = trial.study, trial.listener, trial.item, trial.progress
    posted = request.POST if again is not None else {}
    if again is None:
        served = responses_mushra.trial_page_serve(listener=listener, item=item)
        token = page_token(listener, items=[item.pk], nonce=served["nonce"], salt=TRIAL_PAGE_SALT)
    else:
        served, token = listener.current_page or {}, request.POST.get("page", "")
    clips = responses_mushra.trial_clips(item)
    context = {
        "study": study,
        "item": item,
        "page_token": token,
        "progress": progress,
        "position": progress.get("done", 0) + 1,
        "total": progress.get("total", 0),
        "notice": "" if again is None else str(again),
    }
    if study.test_type == TestType.TRANSCRIPTION:
        clip = clips[0]
        plays = int(served["plays"].get(str(clip.pk), 0))
        audio = _audio_url(study, listener, clip)
        context |= {
            "audio_url": audio,
            "play_url": f"{audio}play/",
            "duration": clip.clip.duration_s or 0.0,
            "max_plays": study.transcription_max_plays,
            "plays_left": max(0, study.transcription_max_plays - plays),
            "text": str(posted.get("text", "")),
            "followups": followup_fields(study, 0, posted),
        }
        return _render(request, "transcription.html", context, status=400 if again else 200)
    reference = next((c for c in clips if c.role == TrialClip.Role.REFERENCE), None)
    rated = responses_mushra.rated_clips(clips)
    context |= {
        "reference": reference
        and {
            "position": reference.position,
            "url": _audio_url(study, listener, reference),
            "duration": reference.clip.duration_s or 0.0,
        },
        "conditions": [
            {
                "label": _label(i),
                "position": c.position,
                "url": _audio_url(study, listener, c),
                "duration": c.clip.duration_s or 0.0,
                "score": str(posted.get(f"score_{c.position}", "")),
                "followups": followup_fields(study, c.position, posted),
            }
            for i, c in enumerate(rated)
        ],
        "bands": MUSHRA_BANDS,
        "keep_position": study.mushra_keep_position,
        "question": study.question or _("How good is the quality of each sound?"),
    }
    return _render(request, "mushra.html", context, status=400 if again else 200)


def _numbers(post, prefix: str, kind: type, upper: float) -> dict[int, object]:
    """``{position: value}`` of the posted fields ``<prefix><position>``; junk is left out."""
    out = {}
    for key, raw in post.items():
        if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
            continue
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            continue
        if value == value and 0 <= value <= upper:  # not NaN, in range
            out[int(key[len(prefix) :])] = value
    return out


def post(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    """The answer of a MUSHRA or transcription page: saved once, or refused with the reason."""
    now = timezone.now()
    out_of_date = refusals.PageExpiredError(
        _("This page is out of date or was not issued to you; nothing was saved.")
    )
    try:
        nonce, items = page_claims(
            request.POST.get("page", ""), listener, study, salt=TRIAL_PAGE_SALT
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return _refused(request, study, out_of_date)
    if request.POST.get("item") != str(items[0]):
        return _refused(request, study, out_of_date)
    questions = study.followup_questions
    plays = _numbers(request.POST, "plays_", int, 32767)
    try:
        if study.test_type == TestType.MUSHRA:
            responses_mushra.mushra_submit(
                listener=listener,
                nonce=nonce,
                item_id=items[0],
                # Scores are checked by the service (a missing one is named there).
                scores={p: v for p, v in _numbers(request.POST, "score_", int, 100).items()},
                plays=plays,
                played_seconds=_numbers(request.POST, "played_", float, 86_400),
                answered_at=now,
                followups={
                    p: followup_posted(request.POST, followup_prefix(p), questions) for p in plays
                },
            )
        else:
            played = _numbers(request.POST, "played_", float, 86_400)
            responses_mushra.transcription_submit(
                listener=listener,
                nonce=nonce,
                item_id=items[0],
                text=request.POST.get("text", ""),
                played_seconds=float(sum(played.values())),
                answered_at=now,
                followups=followup_posted(request.POST, followup_prefix(0), questions),
            )
    except FollowupsMissingError as exc:
        # Nothing was used up: the same page comes back with what the listener entered.
        trial = selectors.trial_page_again(study=study, listener=listener, item_id=items[0])
        if trial is None:  # the place went to another listener meanwhile
            return redirect("listener-rate", slug=study.slug)
        return page(request, trial, again=exc)
    except refusals.StudyNotOpenError:
        return redirect("listener-rate", slug=study.slug)
    except refusals.SessionExpiredError:
        return redirect("listener-rate", slug=study.slug)
    except refusals.ListenerError as exc:
        return _refused(request, study, exc)
    # The rating page sends the listener on: the next trial, or the completion code.
    return redirect("listener-rate", slug=study.slug)


@require_http_methods(["GET", "HEAD"])
def trial_audio(request: HttpRequest, study: Study, listener: Listener, token: str):
    """A sound of the listener's current trial page, by its page token (403 otherwise)."""
    trial_clip = responses_mushra.trial_audio_clip(listener=listener, token=token)
    if trial_clip is None:
        return HttpResponse(
            _("This sound is not part of your current page."),
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    clip = trial_clip.clip
    if not clip.audio:
        raise Http404("clip has no audio")
    return stored_file_response(request, clip.audio, tag=token)


@require_POST
def trial_play(request: HttpRequest, study: Study, listener: Listener, token: str):
    """Count one play of a transcription clip before the page plays it (JSON)."""
    try:
        counted = responses_mushra.trial_play(listener=listener, token=token)
    except refusals.ListenerError as exc:
        status = 409 if isinstance(exc, responses_mushra.PlayLimitError) else 403
        return JsonResponse({"error": str(exc)}, status=status)
    return JsonResponse(counted)
