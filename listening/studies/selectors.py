"""Read-side queries of the researcher pages and the API: links, dashboards, system tables."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from listening.access import studies_for
from listening.models import Clip, Rating, Study

# Prolific replaces these placeholders in a study URL with the participant's ids.
PROLIFIC_QUERY = (
    "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)


def site_base_url(request: HttpRequest | None) -> str:
    """``SITE_URL``, else the scheme and host the request came to (no trailing slash)."""
    if settings.SITE_URL:
        return settings.SITE_URL
    return request.build_absolute_uri("/").rstrip("/") if request else ""


def listener_links(request: HttpRequest | None, study: Study) -> dict[str, str]:
    """The public test link, and the same with Prolific's and MTurk's parameter templates."""
    link = f"{site_base_url(request)}/t/{study.slug}/"
    return {
        "direct": link,
        "prolific": f"{link}?{PROLIFIC_QUERY}",
        # MTurk: a survey-link HIT. Listener pages refuse framing (X-Frame-Options: DENY), so an
        # ExternalQuestion iframe is not supported; workerId & co. are read when present.
        "mturk": link,
    }


def _count_per_study(queryset: QuerySet, study_path: str) -> Subquery:
    """A subquery counting ``queryset``'s rows of the outer query's study."""
    per_study = queryset.values(study_path).annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(per_study, output_field=IntegerField()), 0)


def studies_with_progress(user: Any) -> list[Study]:
    """The dashboard: ``user``'s studies, newest first, each with ``n_ratings`` (test ratings),
    ``n_test_clips``, ``n_ready``, ``n_clips``, ``ratings_target`` and ``ratings_percent``."""
    study = OuterRef("pk")
    clips = Clip.objects.filter(system__study=study)
    studies = list(
        studies_for(user)
        .select_related("owner")
        .annotate(
            n_ratings=_count_per_study(
                Rating.objects.filter(listener__study=study, purpose="test"), "listener__study"
            ),
            n_test_clips=_count_per_study(
                clips.filter(sentence__expected_score__isnull=True), "system__study"
            ),
            n_ready=_count_per_study(clips.filter(status=Clip.Status.READY), "system__study"),
            n_clips=_count_per_study(clips, "system__study"),
        )
        .order_by("-created_at")
    )
    for row in studies:
        row.ratings_target = row.n_test_clips * row.ratings_per_clip
        row.ratings_percent = (
            min(100, round(100 * row.n_ratings / row.ratings_target)) if row.ratings_target else 0
        )
    return studies


def studies_on_home_page(user: Any) -> tuple[QuerySet[Study], QuerySet[Study]]:
    """(the public demo studies, ``user``'s own studies with ``n_ratings``) for the front page."""
    public = Study.objects.filter(listed_publicly=True).order_by("title")
    mine = studies_for(user).annotate(
        n_ratings=Count("listeners__ratings", filter=Q(listeners__ratings__purpose="test"))
    )
    return public, mine


def study_systems_with_counts(study: Study) -> QuerySet:
    """The study's systems in order, each with ``n_ready``, ``n_failed`` and ``n_clips``."""
    return (
        study.systems.select_related("voice", "anchor_source")
        .annotate(
            n_ready=Count("clips", filter=Q(clips__status=Clip.Status.READY)),
            n_failed=Count("clips", filter=Q(clips__status=Clip.Status.FAILED)),
            n_clips=Count("clips"),
        )
        .order_by("position", "id")
    )
