"""The headphone check's pages under ``/t/<slug>/headphones/``: the check, its sounds, and the
small POST the page's script sends at each step so a reload resumes where the listener was.

Where it sits: split from ``views`` (same helpers, same rules); the services are in ``checks``
and the stimuli in ``headphones`` (Woods et al. 2017).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from listening.models import Listener, Study
from listening.participation import checks, headphones, refusals
from listening.participation.forms import bounded_number
from listening.participation.views import (
    Stage,
    _already_taking_part,
    _page,
    _shared_page,
    _stage_redirect,
    listener_view,
)
from mos_site.http import bytes_response


@require_http_methods(["GET", "POST"])
@listener_view(Stage.HEADPHONES, lock_on=("GET", "POST"))
def headphone_check(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    # Locked: the first visit draws the trials, the POST scores them (and claims a playlist).
    n = checks.headphone_check_start(listener=listener, locked=True)  # brings the check up to date
    check = listener.headphone_check
    chosen = {int(k): int(v) for k, v in (check.get("chosen") or {}).items()}
    error = ""
    if request.method == "POST":
        answers = []
        for i in range(n):
            value = request.POST.get(f"trial_{i}", "")
            answers.append(int(value) if value in ("1", "2", "3") else chosen.get(i, 0))
        chosen.update({i: a for i, a in enumerate(answers) if a})
        try:
            checks.headphone_check_answer(listener=listener, answers=answers, locked=True)
        except refusals.AlreadyTakingPartError:
            return _already_taking_part(request, study)
        except refusals.HeadphoneCheckError as exc:
            error = str(exc)
        else:
            return _stage_redirect(study, listener)  # the stage the answer set
    played = set(check.get("played", []))
    trials = [
        {
            "index": i,
            "number": i + 1,
            "url": reverse("listener-headphone-trial", args=[study.slug, i]),
            "answer": chosen.get(i, 0),
            "played": i in played,
        }
        for i in range(n)
    ]
    context = {
        "study": study,
        "trials": trials,
        "n": n,
        "pass_threshold": headphones.pass_threshold(n),
        "error": error,
        "choices": [1, 2, 3],
        # A reload comes back to the step the listener had reached (state on the server).
        "step": "trials" if check.get("volume_done") or error else "volume",
        "tone_s": headphones.TONE_S,
        "gap_s": headphones.GAP_S,
        "progress_url": reverse("listener-headphone-progress", args=[study.slug]),
    }
    if error or played or chosen or context["step"] != "volume":
        return _page(request, "headphones.html", context, status=400 if error else 200)
    # A check not begun looks the same to every listener of the study: nothing of the
    # listener's own (the trials' URLs carry only their number) is on it.
    return _shared_page(request, "headphones.html", context, (study.slug, n))


@require_POST
@listener_view(Stage.HEADPHONES, lock_on=("POST",))
def headphone_progress(request: HttpRequest, study: Study, listener: Listener) -> JsonResponse:
    """The page's script saves each step as it happens: the volume set, each answer chosen."""
    trial = bounded_number(request.POST.get("trial"), int, None, 1000)
    answer = bounded_number(request.POST.get("answer"), int, 0, 3)
    try:
        check = checks.headphone_check_progress(
            listener=listener,
            volume_done=request.POST.get("volume_done") == "1",
            trial=trial,
            answer=answer,
            locked=True,
        )
    except refusals.ListenerError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    return JsonResponse({"ok": True, "chosen": check.get("chosen", {})})


@require_GET
@listener_view(Stage.HEADPHONES)
def headphone_volume(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    return bytes_response(request, headphones.volume_calibration_wav(), "audio/wav", "volume")


@require_GET
@listener_view(Stage.HEADPHONES, lock_on=("GET",))
def headphone_trial(
    request: HttpRequest, study: Study, listener: Listener, index: int
) -> HttpResponseBase:
    try:
        wav = checks.headphone_trial_play(listener=listener, index=index, locked=True)
    except refusals.HeadphoneCheckError:
        raise Http404("no such trial") from None
    # An opaque ETag: a keyed hash (SECRET_KEY) of the listener's check and the trial. The
    # seed would let anyone regenerate the trials and read off the answers.
    check = listener.headphone_check or {}
    tag = (
        "hc-"
        + salted_hmac(
            "listening.headphone-etag", f"{listener.token}:{check.get('seed')}:{index}"
        ).hexdigest()[:24]
    )
    return bytes_response(request, wav, "audio/wav", tag)
