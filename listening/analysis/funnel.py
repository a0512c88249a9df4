"""The report's funnel: how many arrived, consented, failed the headphone check, dropped out
(and at which step) and completed, per study and per platform.

Where it sits: read live from the listener rows (and ``StudyArrival``, counted by the welcome
page) when the report page or its JSON is served, so it is current even while the cached
report waits for new ratings. Listeners exist from their consent on; "arrived" counts the
openings of the welcome page (a reload counts again, MTurk's preview does not).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from listening.models import Listener, Study, StudyArrival

Stage = Listener.Stage

#: The steps where a listener can stop, in the order of the path.
DROPOUT_STEPS = (
    Stage.CONSENT,
    Stage.QUESTIONNAIRE,
    Stage.HEADPHONES,
    Stage.TRAINING,
    Stage.RATING,
    Stage.NO_PLAYLIST,
)


def _row(platform: str, label: str, arrived: int, listeners) -> dict:
    counts = {stage: 0 for stage in DROPOUT_STEPS}
    in_progress = consented = failed = completed = 0
    for stage, n_consented, n_active, n in listeners:
        consented += n_consented
        if stage == Stage.COMPLETED:
            completed += n
        elif stage == Stage.FAILED_CHECK:
            failed += n
        else:
            in_progress += n_active
            counts[stage] = counts.get(stage, 0) + n - n_active
    return {
        "platform": platform,
        "label": label,
        "arrived": arrived,
        "consented": consented,
        "failed_headphone_check": failed,
        "dropped_out": sum(counts.values()),
        "dropped_out_by_step": [
            {"step": stage, "label": str(Stage(stage).label), "n": counts[stage]}
            for stage in DROPOUT_STEPS
        ],
        "in_progress": in_progress,
        "completed": completed,
    }


def study_funnel(*, study: Study) -> dict:
    """The funnel of ``study``: ``{"total": row, "platforms": [row, ...]}``; each row has
    arrived, consented, failed_headphone_check, dropped_out (listeners who stopped, not seen
    for the study's listener timeout), dropped_out_by_step, in_progress and completed."""
    active_since = timezone.now() - timedelta(minutes=study.listener_timeout_minutes)
    grouped = (
        Listener.objects.filter(study=study)
        .values("platform", "stage")
        .annotate(
            n=Count("pk"),
            n_consented=Count("pk", filter=Q(consented_at__isnull=False)),
            n_active=Count("pk", filter=Q(last_seen_at__gte=active_since)),
        )
    )
    by_platform: dict[str, list] = {}
    for row in grouped:
        by_platform.setdefault(row["platform"], []).append(
            (row["stage"], row["n_consented"], row["n_active"], row["n"])
        )
    arrivals = dict(StudyArrival.objects.filter(study=study).values_list("platform", "count"))
    platforms = [
        _row(p, str(label), arrivals.get(p, 0), by_platform.get(p, []))
        for p, label in Listener.Platform.choices
        if arrivals.get(p) or by_platform.get(p)
    ]
    everything = [x for rows in by_platform.values() for x in rows]
    total = _row("all", _("All platforms"), sum(arrivals.values()), everything)
    return {"total": total, "platforms": platforms}
