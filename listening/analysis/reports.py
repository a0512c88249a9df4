"""A study's MOS report on the site: built once, cached until new ratings arrive; and the task
that builds a large one.

Where this sits: the report page and its downloads (``listening.analysis.views``), the API's
report endpoint and ``manage.py mos_report STUDY_SLUG`` call the functions here. They read the
ratings with ``listening.analysis.selectors.study_ratings_frame``, hand the table to
``listening.analysis.stats.build_report`` (pure numbers), add the objective-metrics section
(``listening.analysis.objective_section``) and keep the result in a ``StudyReport`` row;
``listening.analysis.render`` renders it as JSON, CSV or HTML. The task
:func:`build_study_report` sits beside the service it wraps (the project's task convention,
``mos_site.celery``): the service queues it, the task calls the service.

Caching. A report is keyed by a fingerprint of what it was built from (:func:`report_fingerprint`):
the number of counted ratings and the newest rating's id, the screening rules, the listeners the
researcher excluded by hand, the objective-metrics cache and :data:`REPORT_VERSION`. A request
whose fingerprint matches a ready report gets it at once; anything else makes a new row and
builds it. When a build succeeds, the study's older reports are deleted.

Inline or queued. A report over up to ``REPORT_INLINE_MAX_RATINGS`` counted ratings (20,000) is
built inside the request, so nobody waits on a queue for a small study: at that size the
statistics take about 0.1 s and the whole build (reading the ratings, the objective section,
saving) well under a second on a warm database. Larger reports go to the ``metrics`` queue and
the page polls their progress. Setting it to 0 queues every build. The task is safe to run
twice: a ready report is left as it is and the statistics are deterministic.

Manual exclusions. A listener the researcher marked ``Listener.excluded`` (in the admin, with an
``exclusion_reason``) is removed from the ratings table before any number is computed: their
ratings count neither "after exclusions" nor "all listeners", because the researcher decided
from information the ratings do not hold (a participant who reported broken headphones, a
returned submission). The report still lists them, with the reason, in ``excluded_listeners``
(rule ``manual``) and in ``manual_exclusions``, and ``method["manual_exclusion"]`` says so.

Each build, failed or not, writes one structured log line ("report build") and is timed in
``harken_report_build_seconds`` (:func:`log_report_build`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from listening.analysis.accompanying import report_accompanied
from listening.analysis.objective_section import (
    OBJECTIVE_VERSION,
    objective_rows_csv,
    objective_section,
)
from listening.analysis.selectors import (
    listener_label,
    study_comparison_followups_frame,
    study_comparison_frame,
    study_ratings_frame,
)
from listening.analysis.site_tests import SCORED_TESTS, study_scored_report_compute
from listening.analysis.stats import build_report, build_test_report
from listening.analysis.stats.followups import add_counted_followups
from listening.models import Clip, Listener, PlaylistItem, Rating, Study, StudyReport, System
from mos_site.celery import HarkenTask, app
from observability.metrics import REPORT_BUILD_SECONDS

log = logging.getLogger(__name__)
report_log = logging.getLogger("harken.reports")

# Bump when the shape or the content of a built report changes, so cached reports are rebuilt.
REPORT_VERSION = 4

Progress = Callable[[float, str], None]

# ``study_report_compute(rules=STUDY_RULES)``: the study's own screening rules.
STUDY_RULES: Any = object()

MANUAL_EXCLUSION_METHOD = (
    "Listeners the researcher excluded by hand (Listener.excluded, with a reason) are removed "
    "before anything is computed, so they count neither after exclusions nor under 'all "
    "listeners': the researcher decided on information the ratings do not hold. They are "
    "listed in excluded_listeners with the rule 'manual' and in manual_exclusions."
)


def inline_max_ratings() -> int:
    """Reports over at most this many counted ratings are built inside the request."""
    return settings.REPORT_INLINE_MAX_RATINGS


# --------------------------------------------------------------------------------------------
# What the objective-metrics section is computed from
# --------------------------------------------------------------------------------------------


def _objective_version(study: Study) -> str:
    """What the objective section would be computed from: the metrics' algorithm version and,
    over the study's clips with cached metrics, how many there are and the newest
    ``computed_at`` (the metric tasks write it into ``Clip.objective`` with every result)."""
    cached = (
        Clip.objects.filter(system__study=study)
        .exclude(objective={})
        .aggregate(n=Count("id"), newest=Max(KeyTextTransform("computed_at", "objective")))
    )
    return f"{OBJECTIVE_VERSION}:{cached['n']}:{cached['newest'] or ''}"


# --------------------------------------------------------------------------------------------
# Fingerprint and the report's data
# --------------------------------------------------------------------------------------------


def _counted_ratings(study: Study):
    # Training ratings never enter a report, so they do not make it stale either.
    return Rating.objects.filter(listener__study=study).exclude(
        purpose=PlaylistItem.Purpose.TRAINING
    )


def _manual_exclusions(study: Study) -> list[tuple[int, str, str, str]]:
    return list(
        Listener.objects.filter(study=study, excluded=True)
        .order_by("id")
        .values_list("id", "platform", "external_id", "exclusion_reason")
    )


def _manual_by_label(study: Study) -> dict[str, str]:
    """The listeners the researcher excluded by hand: label (as the reports name listeners)
    -> reason."""
    return {
        listener_label(pk=pk, platform=platform, external_id=external_id): reason
        for pk, platform, external_id, reason in _manual_exclusions(study)
    }


def report_fingerprint(*, study: Study) -> tuple[str, dict]:
    """The cache key of ``study``'s report now (sha256 hex, 64 characters), and its parts.

    Parts: counted ratings and the newest rating id (a new rating changes both; a deleted one
    the count), the screening rules, the manually excluded listeners with their reasons, the
    objective-metrics version, what the accompanying information reads (the study's last
    change, its listeners and completions) and :data:`REPORT_VERSION`."""
    counts = _counted_ratings(study).aggregate(n=Count("id"), newest=Max("id"))
    parts = {
        "version": REPORT_VERSION,
        "n_ratings": counts["n"],
        "newest_rating_id": counts["newest"],
        "rules": study.screening,
        "manual": [[pk, reason] for pk, _, _, reason in _manual_exclusions(study)],
        "objective": _objective_version(study),
        # The accompanying information reads the settings (pay, texts) and the listeners.
        "accompanying": [
            study.updated_at,
            Listener.objects.filter(study=study).count(),
            Listener.objects.filter(study=study).exclude(completed_at=None).count(),
        ],
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest(), parts


def _system_order(study: Study) -> dict[str, int]:
    names = System.objects.filter(study=study).order_by("position", "id").values_list("name")
    return {name: i for i, (name,) in enumerate(names)}


def build_report_without(
    ratings: pd.DataFrame,
    *,
    manual: Mapping[str, str],
    rules: Mapping[str, Any] | None = None,
    seed: int = 0,
    target_half_width: float = 0.1,
) -> dict:
    """``stats.build_report`` on ``ratings`` minus the listeners the researcher excluded by hand
    (``manual``: listener name -> reason), who are then listed in ``excluded_listeners`` (rule
    "manual", with ``n_ratings``) and ``manual_exclusions``. Pure: no database. Also used by
    ``mos_report --ratings-csv`` for a ratings CSV with a ``listener_excluded`` column."""
    if not manual or "listener" not in ratings:
        # Nothing to leave out: exactly stats.build_report (which names any missing column).
        return build_report(ratings, rules=rules, seed=seed, target_half_width=target_half_width)
    listeners = ratings["listener"].astype(str).str.strip()
    dropped = listeners.isin(list(manual)).to_numpy()
    kept = ratings[~dropped]
    purposes = kept["purpose"] if "purpose" in kept else pd.Series("test", index=kept.index)
    if not purposes.astype(str).str.strip().str.lower().isin(["test", ""]).any():
        raise ValueError(
            "Every listener with test ratings has been excluded by hand; clear 'excluded' on "
            "some listeners (in the admin, or the listener_excluded column) or wait for more "
            "ratings."
        )
    report = build_report(kept, rules=rules, seed=seed, target_half_width=target_half_width)
    dropped_counts = listeners[dropped].value_counts().to_dict()

    manual_rows = [
        {"listener": name, "reason": reason, "n_ratings": int(dropped_counts.get(name, 0))}
        for name, reason in manual.items()
    ]
    report["manual_exclusions"] = manual_rows
    report["excluded_listeners"] = [
        {
            "listener": row["listener"],
            "rules": ["manual"],
            "reasons": [
                f"manual: excluded by the researcher ({row['reason'] or 'no reason given'})"
            ],
            "n_ratings": row["n_ratings"],
        }
        for row in manual_rows
    ] + report["excluded_listeners"]
    report["screening"]["n_manually_excluded"] = len(manual_rows)
    report["method"]["manual_exclusion"] = MANUAL_EXCLUSION_METHOD
    return report


def study_report_compute(
    *,
    study: Study,
    rules: Any = STUDY_RULES,
    seed: int = 0,
    target_half_width: float = 0.1,
    progress: Progress | None = None,
) -> dict:
    """Build the full report of ``study`` now (no caching): ``stats.build_report`` on the
    study's ratings, minus the listeners excluded by hand, plus the objective section.

    ``rules``: screening rules (default: the study's own). ``progress(fraction, message)`` is
    called as the build advances. Raises ``ValueError`` (message for the researcher) when there
    is nothing to analyse yet. Extra keys beside ``stats.build_report``'s: ``study``,
    ``manual_exclusions``, ``objective`` (when the objective module is installed) and
    ``accompanying_information`` (ITU-T P.800.2, ``analysis.accompanying``), whose warnings
    (a few listeners giving most ratings) join ``warnings``."""
    step = progress or (lambda fraction, message: None)
    if study.test_type in SCORED_TESTS:
        return study_scored_report_dispatch(study=study, rules=rules, progress=step)
    if study.test_type != Study.TestType.ACR:
        return study_test_report_compute(study=study, rules=rules, progress=step)
    step(0.05, "Reading the ratings")
    frame = study_ratings_frame(study)
    # Systems in the study's order (stats lists them in order of first appearance).
    order = _system_order(study)
    rank = frame["system"].map(order).fillna(len(order)).to_numpy()
    frame = frame.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)

    if not (frame["purpose"] == PlaylistItem.Purpose.TEST).any():
        raise ValueError(
            "This study has no test ratings yet. The report appears once listeners have rated "
            "clips."
        )
    manual = _manual_by_label(study)
    step(0.3, f"Computing statistics over {len(frame):,} ratings")
    report = build_report_without(
        frame,
        manual=manual,
        rules=study.screening if rules is STUDY_RULES else rules,
        seed=seed,
        target_half_width=target_half_width,
    )
    # Yes/no follow-up questions: the share of "yes" per system, over the counted ratings.
    add_counted_followups(report, frame, study.followup_questions)
    # The site's reports always say how listeners excluded by hand are treated.
    report.setdefault("manual_exclusions", [])
    report["screening"].setdefault("n_manually_excluded", 0)
    report["method"]["manual_exclusion"] = MANUAL_EXCLUSION_METHOD
    report["study"] = {"slug": study.slug, "title": study.title, "n_rows_read": int(len(frame))}

    step(0.8, "Adding the objective metrics")
    try:
        report["objective"] = objective_section(study=study, report=report)
    except Exception as error:
        # The objective metrics are a side section: a fault there must not cost the
        # researcher the MOS report. Logged with its traceback, shown in the section.
        log.exception("objective section failed", extra={"study": study.slug})
        report["objective"] = {"error": f"{type(error).__name__}: {error}"}
    report_accompanied(study=study, report=report)
    step(0.95, "Saving the report")
    return report


def study_test_report_compute(*, study: Study, rules: Any, progress: Progress) -> dict:
    """The report of a CCR, AB, ABX or SMOS ``study``: its responses as the type's table
    (``selectors.study_comparison_frame``), the listeners excluded by hand, the reference
    system and the systems' order, handed to the statistics of the type
    (``listening.analysis.stats.build_test_report``). Raises ``ValueError`` (a message for the
    researcher) when there is nothing to analyse yet."""
    progress(0.05, "Reading the responses")
    frame = study_comparison_frame(study)
    if not (frame["purpose"] == PlaylistItem.Purpose.TEST).any():
        raise ValueError(
            "This study has no test responses yet. The report appears once listeners have "
            "answered trials."
        )
    manual = _manual_by_label(study)
    reference = study.reference_system.name if study.reference_system is not None else None
    answered = set()
    for column in ("a", "b", "x", "system"):
        if column in frame:
            answered.update(frame[column].astype(str))
    arguments = {
        "rules": study.screening if rules is STUDY_RULES else rules,
        "reference": reference,
        # The study's order of the systems that have answers (one added since has none).
        "system_order": [name for name in _system_order(study) if name in answered],
        "manual_exclusions": manual,
    }
    progress(0.3, f"Computing statistics over {len(frame):,} responses")
    report = build_test_report(frame, study.test_type, **arguments)
    # A trial's follow-up answers count for each system it presents.
    add_counted_followups(report, study_comparison_followups_frame(study), study.followup_questions)
    report["study"] = {"slug": study.slug, "title": study.title, "n_rows_read": int(len(frame))}
    report.setdefault("manual_exclusions", [])
    report_accompanied(study=study, report=report)
    progress(0.95, "Saving the report")
    return report


def study_scored_report_dispatch(*, study: Study, rules: Any, progress: Progress) -> dict:
    """The report of a MUSHRA or transcription ``study`` (``analysis.site_tests``), with the
    study's screening rules (or ``rules``) and the listeners excluded by hand."""
    manual = _manual_by_label(study)
    chosen = study.screening if rules is STUDY_RULES else rules
    report = study_scored_report_compute(
        study=study, rules=chosen, manual=manual, progress=progress
    )
    progress(0.95, "Saving the report")
    return report


# --------------------------------------------------------------------------------------------
# The cache: request, build
# --------------------------------------------------------------------------------------------


def report_request(*, study: Study, force: bool = False) -> StudyReport:
    """The report of ``study`` for its current ratings: the cached one when nothing changed,
    otherwise a new one, built here when small (:func:`inline_max_ratings`) or queued.

    A pending, running or failed report with the current fingerprint is returned as it is (the
    page shows its progress or its error). ``force=True`` builds a failed or stuck one again
    (the page's "Build again" button); it never rebuilds a ready one."""
    key, parts = report_fingerprint(study=study)
    try:
        with transaction.atomic():
            report, created = StudyReport.objects.get_or_create(study=study, key=key)
    except IntegrityError:
        # Two requests raced to create it; the other one won.
        report, created = StudyReport.objects.get(study=study, key=key), False
    if report.status == StudyReport.Status.READY:
        return report
    if not created:
        if not force:
            return report
        # Only one of two concurrent "build again" clicks re-queues the build.
        reset = StudyReport.objects.filter(pk=report.pk).exclude(status=StudyReport.Status.READY)
        if not reset.update(status=StudyReport.Status.PENDING, progress=0.0, message="", error=""):
            report.refresh_from_db()
            return report
    if parts["n_ratings"] <= inline_max_ratings():
        try:
            return report_build(report_id=report.pk)
        except Exception:
            # Recorded on the row (the page shows it with a "Build again" button); a crash in
            # the statistics must not take the whole page down with it.
            log.exception("inline report build failed", extra={"study": study.slug})
            report.refresh_from_db()
            return report
    report.refresh_from_db()
    # After commit: the worker must find the row (and the ratings) the request just saw.
    transaction.on_commit(lambda: build_study_report.delay(report.pk))
    return report


def _set_progress(report_id: int, fraction: float, message: str) -> None:
    # A plain UPDATE outside any transaction: the polling page sees it at once.
    StudyReport.objects.filter(pk=report_id, status=StudyReport.Status.RUNNING).update(
        progress=min(max(fraction, 0.0), 1.0), message=message[:200]
    )


def report_build(*, report_id: int, progress: Progress | None = None) -> StudyReport:
    """Build the report row ``report_id``: read the ratings, compute, store ``data``.

    Idempotent: a ready report is returned untouched (a redelivered task does nothing). Progress
    goes into ``StudyReport.progress``/``message`` as the build advances (and to ``progress``
    when given). A ``ValueError`` from the statistics (nothing to analyse yet) marks the report
    failed with that message; any other error marks it failed and is raised again so the task
    can retry. Raises ``StudyReport.DoesNotExist`` when the row is gone."""
    report = StudyReport.objects.select_related("study").get(pk=report_id)
    if report.status == StudyReport.Status.READY:
        return report
    StudyReport.objects.filter(pk=report_id).exclude(status=StudyReport.Status.READY).update(
        status=StudyReport.Status.RUNNING, progress=0.0, message="Starting", error=""
    )
    study = report.study
    start = time.monotonic()

    def step(fraction: float, message: str) -> None:
        _set_progress(report_id, fraction, message)
        if progress is not None:
            progress(fraction, message)

    try:
        data = study_report_compute(study=study, progress=step)
    except ValueError as error:
        _finish(report_id, status=StudyReport.Status.FAILED, error=str(error))
        _log_build(study, report_id, "failed", 0, start)
        return StudyReport.objects.get(pk=report_id)
    except Exception as error:
        _finish(
            report_id,
            status=StudyReport.Status.FAILED,
            error=f"The report could not be built ({type(error).__name__}: {error}). "
            "Try again; if it fails again, tell the site's administrator.",
        )
        _log_build(study, report_id, "error", 0, start)
        raise

    _finish(report_id, status=StudyReport.Status.READY, data=data)
    step(1.0, "Done")
    # The new report replaces the study's older ones (older by id: a slow build of an old
    # fingerprint finishing late must not delete a newer report). A build still running is
    # left alone: its page may be polling it.
    StudyReport.objects.filter(study=study, pk__lt=report_id).filter(
        Q(status=StudyReport.Status.READY) | Q(status=StudyReport.Status.FAILED)
    ).delete()
    _log_build(study, report_id, "ready", data["study"]["n_rows_read"], start)
    return StudyReport.objects.get(pk=report_id)


def _finish(report_id: int, *, status: str, data: dict | None = None, error: str = "") -> None:
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": timezone.now()}
    if status == StudyReport.Status.READY:
        values.update(data=data, progress=1.0, message="Done")
    else:
        values.update(message="Failed")
    StudyReport.objects.filter(pk=report_id).update(**values)


def log_report_build(
    study: Any,
    seconds: float,
    n_ratings: int,
    *,
    n_listeners: int | None = None,
    n_systems: int | None = None,
    n_clips: int | None = None,
    report_id: int | None = None,
    result: str = "ready",
    **fields: Any,
) -> None:
    """Log one report build as a structured line and time it in ``harken_report_build_seconds``.

    ``study`` is a Study (its id and slug are logged) or a slug. Fields of the line: study,
    study_id, report (StudyReport id), ratings, listeners, systems, clips, seconds, result
    ("ready", "failed" or "error", also the histogram's label; logged as a warning unless
    ready), device (always "cpu": reports are built by the CPU workers), and
    any extra keyword given. The report-build task calls this once per build, failed or not.
    """
    extra = {
        "study": getattr(study, "slug", study),
        "study_id": getattr(study, "pk", None),
        "report": report_id,
        "ratings": n_ratings,
        "listeners": n_listeners,
        "systems": n_systems,
        "clips": n_clips,
        "seconds": round(float(seconds), 3),
        "result": result,
        "device": "cpu",
        **fields,
    }
    level = logging.INFO if result == "ready" else logging.WARNING
    # The main fields are in the message too, for log readers that show no extra fields.
    report_log.log(
        level,
        "report build: study %s, %d ratings, %.3f s, %s",
        extra["study"],
        n_ratings,
        float(seconds),
        result,
        extra=extra,
    )
    REPORT_BUILD_SECONDS.labels(result=result).observe(float(seconds))


def _log_build(study: Study, report_id: int, outcome: str, ratings: int, start: float) -> None:
    log_report_build(study, time.monotonic() - start, ratings, report_id=report_id, result=outcome)


def report_objective_csv(data: dict) -> str | None:
    """The objective-metrics table of a built report as CSV (one row per system and metric,
    then the correlations with MOS), or None when the report has no such section.

    A file of its own rather than rows under the summary CSV: its columns differ, and a second
    header half-way down would break every CSV reader that opens the summary."""
    section = data.get("objective")
    if not section or "error" in section:
        return None
    return objective_rows_csv(section)


def report_latest(*, study: Study, report_id: int | None = None) -> StudyReport | None:
    """The study's report ``report_id``, or its newest one; None when there is none."""
    reports = StudyReport.objects.filter(study=study)
    if report_id is not None:
        reports = reports.filter(pk=report_id)
    return reports.order_by("-created_at", "-id").first()


# --------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------


@app.task(base=HarkenTask, name="listening.tasks_reports.build_study_report")
def build_study_report(report_id: int) -> str:
    """Build report ``report_id`` on the CPU queue ``metrics``; returns its status ("ready",
    "failed" or "missing")."""
    try:
        report = report_build(report_id=report_id)
    except StudyReport.DoesNotExist:
        # Deleted since it was queued (a newer report replaced it, or the study is gone).
        log.info("report gone before its build", extra={"report": report_id})
        return "missing"
    return report.status
