"""The ACR rating page's context: its clips, each with its scale and follow-up questions, and
the answers a refused POST brings back, so the page shown again keeps them.

Where it sits: ``views.rate`` renders ``rate.html`` with :func:`acr_page_context` on a GET and
when a POST is refused for a follow-up question left open (``participation.followups``).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from listening.models import PlaylistItem, Study
from listening.participation import selectors
from listening.participation.followups import followup_fields

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
