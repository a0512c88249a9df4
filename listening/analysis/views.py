"""A study's MOS report in the site: the page, its progress and its downloads.

Where it sits: URLs in ``listening/analysis/urls.py`` under ``/studies/<slug>/report/``; each
view finds the study the user may see (``listening.access``), calls one function of
``listening.analysis.reports`` (or ``downloads``) and renders ``templates/listening/analysis/``
or a file from ``listening.analysis.render``, sent through ``mos_site.http``.

Who sees what: the study's owner and superusers (admins). Anybody else gets a 404, so a slug's
existence is not revealed; anonymous users are sent to the login page.

The page works without JavaScript: charts are server-rendered SVG, and while a large report is
built on a worker the page refreshes itself (``<meta http-equiv="refresh">`` inside
``<noscript>``); with JavaScript, ``static/js/analysis/progress.js`` polls :func:`report_status`
and moves a ``<progress>`` bar instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

from django.contrib import messages
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from listening.access import researcher_required, study_for
from listening.analysis import (
    downloads,
    funnel,
    render_comparative,
    render_mushra,
    render_transcription,
    reports,
    site_tests,
)
from listening.analysis import render as render_report
from listening.models import Study, StudyReport
from mos_site.http import streamed_csv_response, text_download

CSV = "text/csv; charset=utf-8"

# A build that shows no result after this long is offered a "Build again" button (the worker
# may have been lost); a report's hard time limit is 16 minutes.
STUCK_AFTER = timedelta(minutes=20)
REFRESH_SECONDS = 3


def _download_name(study: Study, what: str) -> str:
    return f"{study.slug}-{what}"


# --- The page ----------------------------------------------------------------------------------


@researcher_required
@require_GET
def study_report(request: HttpRequest, slug: str) -> HttpResponse:
    """The report page: the ready report, or the progress of its build, or why it failed."""
    study = study_for(request.user, slug)
    report = reports.report_request(study=study)
    context: dict[str, Any] = {"study": study, "report": report, "tab": "report"}
    if report.status != StudyReport.Status.READY:
        stuck = timezone.now() - report.created_at > STUCK_AFTER
        context.update(
            refresh_seconds=REFRESH_SECONDS,
            can_rebuild=report.status == StudyReport.Status.FAILED or stuck,
            status_url=reverse("study_report_status", args=[study.slug]) + f"?id={report.pk}",
        )
        return render(request, "listening/analysis/building.html", context)

    data = report.data
    # The screening's settings, linked from the report's screening section on the site only.
    thresholds_url = reverse("researcher:study_edit", args=[study.slug])
    if data.get("test") in SCORED_RENDERERS:
        # As on the other report pages, "report" is now the report's data; the row "report_row".
        context.update(
            _scored_context(data, study),
            report_row=report,
            thresholds_url=thresholds_url,
            funnel=funnel.study_funnel(study=study),
        )
        return render(request, "listening/analysis/report_scored_page.html", context)
    if _is_comparison(data):
        context.update(render_comparative.comparison_context(data, title=study.title))
        context.update(report_row=report, funnel=funnel.study_funnel(study=study))
        return render(request, "listening/analysis/report_comparative_page.html", context)
    # From here on "report" is the report's data (as in the standalone template); the row is
    # "report_row".
    context.update(render_report.report_context(data, title=study.title))
    context.update(
        report_row=report,
        thresholds_url=thresholds_url,
        funnel=funnel.study_funnel(study=study),
    )
    if (data.get("objective") or {}).get("n_computed"):
        url = reverse("study_report_objective_csv", args=[study.slug])
        context["objective_csv_url"] = url
        context["extra_downloads"] = [{"url": url, "label": _("Objective metrics"), "kind": "CSV"}]
    return render(request, "listening/analysis/report.html", context)


def _is_comparison(data: dict) -> bool:
    """A CCR, AB, ABX or SMOS report (``stats.build_test_report``), not an ACR one."""
    return data.get("test", "acr") not in ("acr", *SCORED_RENDERERS)


class ScoredRenderers(NamedTuple):
    """A MUSHRA or transcription report's summary CSV and standalone HTML (what
    ``mos_report --test mushra|transcription`` writes) and the context of its one body, which
    the site page and the standalone HTML both draw."""

    summary_csv: Callable[[dict], str]
    html: Callable[..., str]
    context: Callable[..., dict[str, Any]]


SCORED_RENDERERS: dict[str, ScoredRenderers] = {
    "mushra": ScoredRenderers(
        render_mushra.mushra_summary_csv, render_mushra.mushra_html, render_mushra.mushra_context
    ),
    "transcription": ScoredRenderers(
        render_transcription.transcription_summary_csv,
        render_transcription.transcription_html,
        render_transcription.transcription_context,
    ),
}

# The transcription page's own downloads beside the report's.
TRANSCRIPTION_DOWNLOADS = (
    ("study_report_answers_csv", _lazy("Answers, normalised and scored")),
    ("study_report_word_errors_csv", _lazy("Errors per word")),
)


def _scored_context(data: dict, study: Study) -> dict[str, Any]:
    """The MUSHRA or transcription page: the report's body (the standalone HTML's too, see
    ``render_mushra.mushra_context``), and a transcription's downloads of its answers."""
    context = SCORED_RENDERERS[data["test"]].context(data, title=study.title)
    if data["test"] == "transcription":
        context["extra_downloads"] = [
            {"url": reverse(name, args=[study.slug]), "label": label, "kind": "CSV"}
            for name, label in TRANSCRIPTION_DOWNLOADS
        ]
    return context


def _summary_csv(data: dict) -> str:
    if data.get("test") in SCORED_RENDERERS:
        return SCORED_RENDERERS[data["test"]].summary_csv(data)
    if _is_comparison(data):
        return render_comparative.comparison_summary_csv(data)
    return render_report.report_summary_csv(data)


def _standalone_html(data: dict, study: Study) -> str:
    if data.get("test") in SCORED_RENDERERS:
        return SCORED_RENDERERS[data["test"]].html(data, title=study.title)
    if _is_comparison(data):
        return render_comparative.comparison_html(data, title=study.title)
    return render_report.report_html(data, title=study.title)


@researcher_required
@require_GET
def report_status(request: HttpRequest, slug: str) -> JsonResponse:
    """JSON for the polling page: ``{"id", "status", "progress", "message", "error", "ready"}``
    of the report ``?id=`` (default: the study's newest)."""
    study = study_for(request.user, slug)
    raw = request.GET.get("id")
    if raw is not None and not raw.isdigit():
        raise Http404("No such report.")
    report = reports.report_latest(study=study, report_id=int(raw) if raw else None)
    if report is None:
        raise Http404("No report has been requested for this study yet.")
    return JsonResponse(
        {
            "id": report.pk,
            "status": report.status,
            "progress": report.progress,
            "message": report.message,
            "error": report.error,
            "ready": report.status == StudyReport.Status.READY,
        }
    )


@researcher_required
@require_POST
def report_rebuild(request: HttpRequest, slug: str) -> HttpResponse:
    """Build a failed (or stuck) report again; a ready one is kept as it is."""
    study = study_for(request.user, slug)
    reports.report_request(study=study, force=True)
    return redirect("study_report", slug=study.slug)


# --- Downloads of the built report -------------------------------------------------------------


def _ready_report(request: HttpRequest, study: Study) -> StudyReport | None:
    report = reports.report_request(study=study)
    if report.status == StudyReport.Status.READY:
        return report
    messages.info(
        request,
        "The report is not ready yet; its downloads work once the page below shows it.",
    )
    return None


def _report_download(
    what: str, content_type: str, make: Callable[[dict, Study], str], doc: str
) -> Callable[[HttpRequest, str], HttpResponse]:
    """A view sending the file ``make(data, study)`` makes from the study's ready report, named
    ``<slug>-<what>``; while the report is being built it sends the researcher back to its page."""

    @researcher_required
    @require_GET
    def download(request: HttpRequest, slug: str) -> HttpResponse:
        study = study_for(request.user, slug)
        report = _ready_report(request, study)
        if report is None:
            return redirect("study_report", slug=study.slug)
        name = _download_name(study, what)
        return text_download(make(report.data, study), content_type, name)

    download.__doc__ = doc
    return download


def _objective_csv(data: dict, study: Study) -> str:
    text = reports.report_objective_csv(data)
    if text is None:
        raise Http404("This report has no objective metrics.")
    return text


report_summary_csv = _report_download(
    "mos-summary.csv",
    CSV,
    lambda data, study: _summary_csv(data),
    "One row per system: MOS, SD, both intervals, with and without exclusions.",
)
report_objective_csv = _report_download(
    "objective-metrics.csv",
    CSV,
    _objective_csv,
    "The objective metrics per system and their correlations with MOS, as CSV.",
)
report_json = _report_download(
    "mos-report.json",
    "application/json; charset=utf-8",
    # The funnel is read live (listener rows), not from the cached report's data.
    lambda data, study: render_report.report_json(
        {**data, "funnel": funnel.study_funnel(study=study)}
    ),
    "The report's numbers as JSON (the shape DESIGN.md promises).",
)
report_html = _report_download(
    "mos-report.html",
    "text/html; charset=utf-8",
    _standalone_html,
    "The standalone HTML report (one file, inline CSS and SVG, no scripts).",
)


def _word_errors_csv(data: dict, study: Study) -> str:
    if data.get("test") != "transcription":
        raise Http404("Only a transcription report has a per-word error table.")
    return render_transcription.word_errors_csv(data)


report_word_errors_csv = _report_download(
    "word-errors.csv",
    CSV,
    _word_errors_csv,
    "A transcription report's per-word error table (all systems, then each), as CSV.",
)


# --- Downloads straight from the database ------------------------------------------------------


@researcher_required
@require_GET
def transcription_answers_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """A transcription study's typed answers with their sentence, both texts normalised and
    the errors counted (``render_transcription.answers_csv``)."""
    study = study_for(request.user, slug)
    try:
        text = site_tests.study_transcription_answers_csv(study=study)
    except ValueError as error:
        messages.info(request, str(error))
        return redirect("study_report", slug=study.slug)
    return text_download(text, CSV, _download_name(study, "answers.csv"))


@researcher_required
@require_GET
def ratings_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """Every rating, one per row, streamed as it is read (see
    ``downloads.study_ratings_csv_rows`` for the columns)."""
    study = study_for(request.user, slug)
    rows = downloads.study_ratings_csv_rows(study=study)
    return streamed_csv_response(rows, _download_name(study, "ratings.csv"))


@researcher_required
@require_GET
def audio_zip(request: HttpRequest, slug: str) -> FileResponse:
    """The study's ready clips and a manifest, as a ZIP written to a temporary file first."""
    study = study_for(request.user, slug)
    handle, _ = downloads.study_audio_zip(study=study)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=_download_name(study, "audio.zip"),
        content_type="application/zip",
    )
