"""Read-side queries that feed the statistics: a study's ratings as one flat table.

Where this sits: the ``mos_report`` command, the report API and the ratings-CSV download call
:func:`study_ratings_frame`; its table goes to ``listening.stats.build_report`` unchanged, and
written with ``DataFrame.to_csv(index=False)`` it is a ratings CSV that
``listening.stats.read_ratings_csv`` (and ``mos_report --ratings-csv``) reads back.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.db.models import QuerySet

from listening.models import PlaylistItem, Rating, Study

RATING_COLUMNS = [
    "listener",
    "sentence",
    "system",
    "score",
    "clip",
    "purpose",
    "expected_score",
    "response_seconds",
    "system_kind",
    "is_low_anchor",
]


def listener_label(*, pk: int, platform: str, external_id: str) -> str:
    """How a listener is named in reports: the crowd platform's id when there is one (so a
    researcher can act on an exclusion in Prolific or MTurk), else the database id. Never the
    listener's token: that is their session credential."""
    return f"{platform}:{external_id}" if external_id else f"listener-{pk}"


def study_ratings_frame(study: Study) -> pd.DataFrame:
    """Every counted rating of ``study`` as a table for ``listening.stats``.

    One row per rating: test ratings plus the gold and repeat rows the screening needs
    (purpose, expected_score from the playlist item); training ratings are left out. Columns:
    listener, sentence (the sentence key), system (its name), score, clip (id), purpose,
    expected_score, response_seconds, system_kind, is_low_anchor. Ordered by rating id, so the
    same database gives the same table.
    """
    rows = (
        Rating.objects.filter(listener__study=study, clip__system__study=study)
        .exclude(purpose=PlaylistItem.Purpose.TRAINING)
        .order_by("id")
        .values_list(
            "listener_id",
            "listener__platform",
            "listener__external_id",
            "clip__sentence__key",
            "clip__system__name",
            "score",
            "clip_id",
            "purpose",
            "item__expected_score",
            "response_seconds",
            "clip__system__kind",
            "clip__system__is_low_anchor",
        )
    )
    records = [
        (
            listener_label(pk=pk, platform=platform, external_id=external_id),
            sentence,
            system,
            score,
            str(clip),
            purpose,
            expected,
            seconds,
            kind,
            low_anchor,
        )
        for (
            pk,
            platform,
            external_id,
            sentence,
            system,
            score,
            clip,
            purpose,
            expected,
            seconds,
            kind,
            low_anchor,
        ) in rows.iterator(chunk_size=10_000)
    ]
    frame = pd.DataFrame.from_records(records, columns=RATING_COLUMNS)
    # Nullable numbers as floats (None -> NaN) so the table writes and reads back as CSV.
    for column in ("expected_score", "response_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["score"] = frame["score"].astype("int64")
    frame["is_low_anchor"] = frame["is_low_anchor"].astype(bool)
    return frame


def is_researcher(user: Any) -> bool:
    """Researchers are staff accounts (DESIGN.md); an admin marks an account staff to let it
    run studies. Any other account may log in but sees no study."""
    return bool(user.is_authenticated and (user.is_staff or user.is_superuser))


def studies_for(user: Any) -> QuerySet[Study]:
    """The studies ``user`` may see and change: a researcher's own; every study for a
    superuser; none for anyone else.

    The one rule behind every researcher page, report download and API endpoint."""
    if not is_researcher(user):
        return Study.objects.none()
    return Study.objects.all() if user.is_superuser else Study.objects.filter(owner=user)
