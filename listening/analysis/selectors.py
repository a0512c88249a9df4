"""Read-side queries that feed the statistics: a study's ratings as one flat table.

Where this sits: the report service (``listening.analysis.reports``, behind the report page,
the API and ``mos_report STUDY_SLUG``), the objective-metrics section and the ratings-CSV
download read ratings through :func:`study_ratings_labelled`; :func:`study_ratings_frame` is the
table that goes to ``listening.analysis.stats.build_report`` unchanged. Written with
``DataFrame.to_csv(index=False)`` it is a ratings CSV that
``listening.analysis.stats.read_ratings_csv`` (and ``mos_report --ratings-csv``) reads back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from listening.models import PlaylistItem, Rating, Study

# Column of the statistics' table -> the rating's field it is read from.
FRAME_FIELDS = {
    "sentence": "clip__sentence__key",
    "system": "clip__system__name",
    "score": "score",
    "clip": "clip_id",
    "purpose": "purpose",
    "expected_score": "item__expected_score",
    "response_seconds": "response_seconds",
    "system_kind": "clip__system__kind",
    "is_low_anchor": "clip__system__is_low_anchor",
}
RATING_COLUMNS = ["listener", *FRAME_FIELDS]


def listener_label(*, pk: int, platform: str, external_id: str) -> str:
    """How a listener is named in reports: the crowd platform's id when there is one (so a
    researcher can act on an exclusion in Prolific or MTurk), else the database id. Never the
    listener's token: that is their session credential."""
    return f"{platform}:{external_id}" if external_id else f"listener-{pk}"


def study_ratings_labelled(
    study: Study, fields: list[str], *, training: bool = False, chunk_size: int = 10_000
) -> Iterator[tuple]:
    """``(listener label, *fields)`` for every rating of ``study``, ordered by rating id (the same
    database gives the same rows), read in chunks so memory stays flat. Training ratings only
    with ``training=True``: they never enter a report."""
    ratings = Rating.objects.filter(listener__study=study, clip__system__study=study)
    if not training:
        ratings = ratings.exclude(purpose=PlaylistItem.Purpose.TRAINING)
    rows = ratings.order_by("id").values_list(
        "listener_id", "listener__platform", "listener__external_id", *fields
    )
    for pk, platform, external_id, *values in rows.iterator(chunk_size=chunk_size):
        yield (listener_label(pk=pk, platform=platform, external_id=external_id), *values)


def study_ratings_frame(study: Study) -> pd.DataFrame:
    """Every counted rating of ``study`` as a table for ``listening.analysis.stats``.

    One row per rating: test ratings plus the gold and repeat rows the screening needs
    (purpose, expected_score from the playlist item); training ratings are left out. Columns:
    listener, sentence (the sentence key), system (its name), score, clip (id), purpose,
    expected_score, response_seconds, system_kind, is_low_anchor. Ordered by rating id, so the
    same database gives the same table.
    """
    records = list(study_ratings_labelled(study, list(FRAME_FIELDS.values())))
    frame = pd.DataFrame.from_records(records, columns=RATING_COLUMNS)
    frame["clip"] = frame["clip"].astype(str)
    # Nullable numbers as floats (None -> NaN) so the table writes and reads back as CSV.
    for column in ("expected_score", "response_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["score"] = frame["score"].astype("int64")
    frame["is_low_anchor"] = frame["is_low_anchor"].astype(bool)
    return frame
