"""The trial page of the comparison types (CCR, AB, ABX, SMOS) and its answer; the sounds of a
trial by a per-trial-clip token.

Where it sits: ``views.rate`` claims the listener's place and finds the current page as for ACR,
then hands a comparison study's page and POST to the views here (``views.TRIAL_VIEWS``, filled
in below when the URLconf imports this module). One trial per page. Answers go to
``answers.trial_answer_submit``.

A trial's sounds are served from ``/t/<slug>/sound/<token>/``, the token signing the
``TrialClip`` row, not the clip: a CCR or SMOS check that plays one clip twice, or an ABX X
that is A's clip, gets two different addresses, so the page's source does not give away the
answer, and nothing in it names a system or a sentence.
"""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from listening.models import Listener, PlaylistItem, Study, TrialClip
from listening.participation import answers, ratings, refusals, selectors, views
from listening.participation.followups import (
    FollowupsMissingError,
    followup_fields,
    followups_posted,
)
from listening.participation.forms import bounded_number
from mos_site.http import stored_file_response

TestType = Study.TestType
SOUND_SALT = "listening.trial-sound"
#: More clips than any trial presents (MUSHRA's come later): the POST reads no further.
MAX_TRIAL_CLIPS = 16

# ITU-T P.800 Annex E, the comparison category rating scale, best first.
CCR_SCALE = [
    (3, "+3", gettext_lazy("Much better")),
    (2, "+2", gettext_lazy("Better")),
    (1, "+1", gettext_lazy("Slightly better")),
    (0, "0", gettext_lazy("About the same")),
    (-1, "\u22121", gettext_lazy("Slightly worse")),
    (-2, "\u22122", gettext_lazy("Worse")),
    (-3, "\u22123", gettext_lazy("Much worse")),
]
# Speaker similarity, five grades, most similar first.
SMOS_SCALE = [
    (5, "5", gettext_lazy("Extremely similar")),
    (4, "4", gettext_lazy("Very similar")),
    (3, "3", gettext_lazy("Moderately similar")),
    (2, "2", gettext_lazy("Slightly similar")),
    (1, "1", gettext_lazy("Not at all similar")),
]


def _sound_label(study: Study, role: str, k: int) -> str:
    if study.test_type == TestType.SMOS:
        return _("First voice") if k == 0 else _("Second voice")
    return {"a": _("Sample A"), "b": _("Sample B"), "x": _("Sample X")}.get(
        role, _("Sample %(n)d") % {"n": k + 1}
    )


def _options(study: Study) -> tuple[list[dict], str]:
    """The answers the page offers, each with its value, shown value, label and key, and how
    the keys are described."""
    own = [str(label) for label in study.scale_labels or []]
    if study.test_type in (TestType.CCR, TestType.SMOS):
        scale = CCR_SCALE if study.test_type == TestType.CCR else SMOS_SCALE
        labels = own if len(own) == len(scale) else [str(label) for _v, _s, label in scale]
        ccr = study.test_type == TestType.CCR
        options = [
            {
                "value": value,
                "shown": shown,
                "label": label,
                # CCR's keys run 7 (Much better) to 1 (Much worse): higher is better, as on
                # the ACR page's keys 5 to 1.
                "key": str(value + 4) if ccr else str(value),
            }
            for (value, shown, _l), label in zip(scale, labels, strict=True)
        ]
        return options, _("1 to 7") if ccr else _("1 to 5")
    if study.test_type == TestType.ABX:
        return [
            {"value": "a", "shown": "A", "label": _("X is A"), "key": "A"},
            {"value": "b", "shown": "B", "label": _("X is B"), "key": "B"},
        ], _("A or B")
    options = [
        {"value": "a", "shown": "A", "label": _("A is better"), "key": "A"},
        {"value": "b", "shown": "B", "label": _("B is better"), "key": "B"},
    ]
    if study.allow_tie:
        options.append({"value": "tie", "shown": "N", "label": _("No preference"), "key": "N"})
        return options, _("A, B or N")
    return options, _("A or B")


def _question(study: Study) -> str:
    if study.question:
        return study.question
    return {
        TestType.CCR: _(
            "Compared with the quality of the first sample (A), the quality of the second "
            "sample (B) is:"
        ),
        TestType.AB: _("Which of the two samples sounds better?"),
        TestType.ABX: _("Is X the same as A or the same as B?"),
        TestType.SMOS: _("How similar are the two voices?"),
    }[study.test_type]


def _heading(study: Study) -> str:
    return {
        TestType.CCR: _("Compare the two samples"),
        TestType.AB: _("Which one is better?"),
        TestType.ABX: _("Which one is X?"),
        TestType.SMOS: _("Compare the two voices"),
    }[study.test_type]


def trial_page(
    request: HttpRequest, trial: selectors.TrialPage, *, again: Exception | None = None
) -> HttpResponse:
    """The page of one trial: its sounds, each to be played to its end, then the answer and
    the study's follow-up questions. ``again``: the refusal of a POST that left a follow-up
    question open; the page comes back with its unused token and what the POST carried."""
    study, listener, item = trial.study, trial.listener, trial.item
    posted = request.POST if again is not None else {}
    trial_clips = list(item.trial_clips.order_by("position"))
    sounds = [
        {
            "k": k,
            "label": _sound_label(study, tc.role, k),
            "url": reverse(
                "listener-trial-sound",
                args=[study.slug, signing.dumps(tc.pk, salt=SOUND_SALT)],
            ),
        }
        for k, tc in enumerate(trial_clips)
    ]
    options, keys = _options(study)
    if again is None:
        token = views._page_token(listener, ratings.page_serve(listener=listener, items=[item]))
    else:
        token = request.POST.get("page", "")
    context = {
        "study": study,
        "item": item,
        "sounds": sounds,
        "options": options,
        "keys": keys,
        "test_type": study.test_type,
        "training": item.purpose == PlaylistItem.Purpose.TRAINING,
        "page_token": token,
        "progress": trial.progress,
        "question": _question(study),
        "heading": _heading(study),
        "answer": str(posted.get("answer_0", "")),
        "followups": followup_fields(study, 0, posted),
        "notice": "" if again is None else str(again),
    }
    return views._page(request, "trial.html", context, status=200 if again is None else 400)


def trial_post(request: HttpRequest, study: Study, listener: Listener) -> HttpResponse:
    """The answer to the page's one trial (the page token names it and works once)."""
    now = timezone.now()
    out_of_date = refusals.PageExpiredError(
        _("This page is out of date or was not issued to you; nothing was saved.")
    )
    try:
        nonce, page_items = views._page_claims(request.POST.get("page", ""), listener, study)
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return views._refused(request, study, out_of_date)
    item_id = bounded_number(request.POST.get("item_0"), int, -1, 2**62)
    if [item_id] != page_items:
        return views._refused(request, study, out_of_date)
    n_clips = 0
    while n_clips < MAX_TRIAL_CLIPS and f"plays_0_{n_clips}" in request.POST:
        n_clips += 1
    play_counts = [
        bounded_number(request.POST.get(f"plays_0_{k}"), int, 0, 32767) for k in range(n_clips)
    ]
    played = [
        bounded_number(request.POST.get(f"played_0_{k}"), float, 0.0, 86_400)
        for k in range(n_clips)
    ]
    try:
        # Checked before the page is used up: a question left open sends the page back whole.
        followups = followups_posted(study, request.POST, 0)
    except FollowupsMissingError as exc:
        trial = selectors.trial_page_again(study=study, listener=listener, item_id=item_id)
        if trial is None:  # the place went to another listener meanwhile
            return redirect("listener-rate", slug=study.slug)
        return trial_page(request, trial, again=exc)
    try:
        with transaction.atomic():
            served_at = ratings.page_redeem(
                listener=listener, nonce=nonce, item_ids=page_items, now=now
            )
            ended_ms = bounded_number(request.POST.get("ended_0"), float, None, 86_400_000)
            ended_at = (
                None if ended_ms is None else min(now, served_at + timedelta(milliseconds=ended_ms))
            )
            answers.trial_answer_submit(
                listener=listener,
                item_id=item_id,
                answer=request.POST.get("answer_0"),
                play_counts=play_counts,
                played=played,
                first_play_ended_at=ended_at,
                page_issued_at=served_at,
                answered_at=now,
                followups=followups,
            )
    except refusals.StudyNotOpenError:
        return views._unavailable(request, study)
    except refusals.SessionExpiredError:
        return redirect("listener-rate", slug=study.slug)
    except refusals.ListenerError as exc:
        return views._refused(request, study, exc)
    listener.refresh_from_db()
    return views._stage_redirect(study, listener)


views.TRIAL_VIEWS.update(page=trial_page, post=trial_post)


@require_http_methods(["GET", "HEAD"])
def trial_sound(request: HttpRequest, slug: str, token: str) -> HttpResponseBase:
    """One sound of a trial, only for the listener whose playlist holds the trial (403 for
    anyone else, so tokens cannot be probed)."""
    study = get_object_or_404(Study, slug=slug)
    listener = views._cookie_listener(request, study)
    forbidden = HttpResponse(
        _("This sound is not part of your listening test."),
        status=403,
        content_type="text/plain; charset=utf-8",
    )
    try:
        pk = int(signing.loads(token, salt=SOUND_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        return forbidden
    if listener is None:
        return forbidden
    trial_clip = (
        TrialClip.objects.filter(
            pk=pk, trial__playlist__listener=listener, trial__playlist__study=study
        )
        .select_related("clip")
        .first()
    )
    if trial_clip is None:
        return forbidden
    clip = trial_clip.clip
    if not clip.audio:
        raise Http404("clip has no audio")
    # The trial clip's own tag: a clip heard twice in one trial gets two (see above).
    return stored_file_response(request, clip.audio, tag=f"t{trial_clip.pk}")
