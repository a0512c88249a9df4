"""The ACR rating page's context: its clips, each with its scale and follow-up questions, and
the answers a refused POST brings back, so the page shown again keeps them.

Where it sits: ``views.rate`` renders ``rate.html`` with :func:`acr_page_context` on a GET
(through :func:`acr_page_html`) and when a POST is refused for a follow-up question left open
(``participation.followups``).

Rendering the template was the largest share of a rating page's CPU, yet nearly all of the page
is the same for every listener of a study: the texts, the scale, the players, the follow-up
questions. So :func:`acr_page_html` renders it once per process for each study version,
language and page shape (clips on the page, practice or not, progress), with marked slots
where a listener's own values go (the CSRF token, the page token, each clip's item, token and
URL), and fills those slots per request, escaped as the template escapes them
(``mos_site.rendered``, which the arrival pages use too).
``tests/listening/participation/test_rate_page_frames.py`` checks that the result is the
template's own output.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from listening.models import PlaylistItem, Study
from listening.participation import selectors
from listening.participation.followups import followup_fields
from mos_site.rendered import framed_html, slot

# The ACR listening-quality scale of ITU-T P.800 (Annex B), best first as in P.808's template.
ACR_SCALE = [
    (5, gettext_lazy("Excellent")),
    (4, gettext_lazy("Good")),
    (3, gettext_lazy("Fair")),
    (2, gettext_lazy("Poor")),
    (1, gettext_lazy("Bad")),
]


def study_question(study: Study) -> str:
    """What the listener rates, on every rating page: the study's question, else P.808's."""
    return study.question or _("How would you rate the quality of the speech?")


def acr_page_context(
    study: Study,
    page: list[PlaylistItem],
    progress: dict,
    page_token: str,
    posted: Mapping[str, str] | None = None,
    notice: str = "",
) -> dict:
    """``rate.html``'s context for the items of ``page``; ``posted``: a refused POST whose
    scores and follow-up answers the page shows again, with ``notice`` saying what is open."""
    posted = posted or {}
    clips = [
        {
            "n": str(i),  # text: the template would localise each of its many ints
            "number": str(i + 1),
            "item": item,
            "token": item.clip.token,
            "url": reverse("listener-clip", args=[study.slug, item.clip.token]),
            "score": str(posted.get(f"score_{i}", "")),
            "followups": followup_fields(study, i, posted),
        }
        for i, item in enumerate(page)
    ]
    done, total = progress["done"], progress["total"]
    training = page[0].purpose == PlaylistItem.Purpose.TRAINING
    return {
        "study": study,
        "clips": clips,
        "multi": len(clips) > 1,
        "training": training,
        # Practice spans the scale when the study has both ends (design.pick_training); only
        # practice pages say so, so only they ask.
        "practice_spans": training and selectors.study_has_both_ends(study=study),
        "page_token": page_token,
        "done": done,
        "total": total,
        "position": done + 1,
        # Counted as the welcome page counts: practice k of P, then clip k of T.
        "progress": progress,
        "question": study_question(study),
        "scale": [(str(value), label) for value, label in ACR_SCALE],
        "notice": notice,
    }


RATE_TEMPLATE = "listening/participation/rate.html"


def _frame_key(study: Study, context: dict) -> tuple:
    progress = context["progress"]
    return (
        study.pk,
        study.updated_at,
        context["training"],
        context["practice_spans"],
        len(context["clips"]),
        tuple(progress[k] for k in ("n_practice", "n_rated", "done_practice", "done_rated")),
        progress["done"],
        progress["total"],
    )


def _frame_context(context: dict) -> dict:
    """``context`` with slots for the listener's own values: the page token, each clip's item,
    token and URL."""
    clips = [
        {
            **clip,
            "item": SimpleNamespace(pk=slot(f"item_{clip['n']}")),
            "token": slot(f"token_{clip['n']}"),
            "url": slot(f"url_{clip['n']}"),
        }
        for clip in context["clips"]
    ]
    return {**context, "clips": clips, "page_token": slot("page_token")}


def acr_page_html(request: HttpRequest, study: Study, context: dict) -> str:
    """``rate.html`` rendered with ``context`` (:func:`acr_page_context` of a page served
    anew: no answers posted, no notice), from this process's frame of that page's shape."""
    values = {"page_token": context["page_token"]}
    for clip in context["clips"]:
        n = clip["n"]
        values[f"item_{n}"] = str(clip["item"].pk)
        values[f"token_{n}"] = clip["token"]
        values[f"url_{n}"] = clip["url"]
    return framed_html(
        request,
        RATE_TEMPLATE,
        context,
        _frame_key(study, context),
        values=values,
        frame_context=lambda: _frame_context(context),
    )
