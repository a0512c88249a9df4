"""Downloads straight from the database, no statistics: every rating as CSV, the audio as a ZIP.

Where it sits: the report page's downloads (``listening.analysis.views``) and the API's
ratings CSV stream :func:`study_ratings_csv_rows` through ``mos_site.http``; the audio ZIP is
written to a temporary file and sent from there. Memory stays flat however large the study.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import IO, Any

from django.utils.text import slugify

from listening.analysis.selectors import (
    MUSHRA_COLUMNS,
    SCORED_EXTRA_COLUMNS,
    TEST_COLUMNS,
    TRANSCRIPTION_COLUMNS,
    comparison_columns,
    followup_column_names,
    followup_row,
    study_comparison_records,
    study_mushra_records,
    study_ratings_labelled,
    study_transcription_records,
)
from listening.models import Clip, Study, System, TrialClip
from mos_site.spreadsheet import csv_writer

log = logging.getLogger(__name__)


def _as_is(value: Any) -> Any:
    return value


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _blank_or(digits: int | None = None) -> Callable[[Any], Any]:
    """Empty for a missing value, else the value (rounded to ``digits`` when given)."""
    return lambda v: "" if v is None else (v if digits is None else round(v, digits))


# Column of the raw ratings CSV after "listener" -> (the rating's field, how it is written).
RAW_RATING_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "platform": ("listener__platform", _as_is),
    "platform_id": ("listener__external_id", _as_is),
    "sentence": ("clip__sentence__key", _as_is),
    "sentence_text": ("clip__sentence__text", _as_is),
    "system": ("clip__system__name", _as_is),
    "system_kind": ("clip__system__kind", _as_is),
    "is_low_anchor": ("clip__system__is_low_anchor", _flag),
    "clip": ("clip__token", _as_is),
    "score": ("score", _as_is),
    "purpose": ("purpose", _as_is),
    "expected_score": ("item__expected_score", _blank_or()),
    "play_count": ("play_count", _as_is),
    "played_seconds": ("played_seconds", lambda v: round(v, 3)),
    "response_seconds": ("response_seconds", _blank_or(3)),
    "created_at": ("created_at", lambda v: v.isoformat()),
    "listener_excluded": ("listener__excluded", _flag),
    "exclusion_reason": ("listener__exclusion_reason", _as_is),
}
RAW_RATING_COLUMNS = ["listener", *RAW_RATING_FIELDS]


# A comparison study's download after its type's columns (``comparison_columns``): the
# response's own fields -> (the field, how it is written), then the listener's.
COMPARISON_EXTRA_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "platform": ("listener__platform", _as_is),
    "platform_id": ("listener__external_id", _as_is),
    "play_counts": ("play_counts", lambda v: ";".join(str(n) for n in v or [])),
    "play_count": ("play_count", _as_is),
    "played_seconds": ("played_seconds", lambda v: round(v, 3)),
    "created_at": ("created_at", lambda v: v.isoformat()),
    "listener_excluded": ("listener__excluded", _flag),
    "exclusion_reason": ("listener__exclusion_reason", _as_is),
}


def comparison_csv_columns(test_type: str) -> list[str]:
    """The ratings download's header for a CCR, AB, ABX or SMOS study."""
    return [*comparison_columns(test_type), "sentence_text", *COMPARISON_EXTRA_FIELDS]


def _comparison_csv_rows(study: Study) -> Iterator[list[Any]]:
    """A comparison study's download: the issue's columns of its type first (so
    ``mos_report --ratings-csv FILE --test TYPE`` reads it as it is), then purpose, expected
    answer, response seconds, the two clips' tokens, the sentence's text, plays per clip
    (``2;1``: in the trial's play order), when, and the manual exclusion. Training included."""
    columns = comparison_csv_columns(study.test_type)
    yield [*columns, *followup_column_names(study)]
    extra = {name: field for name, (field, _) in COMPARISON_EXTRA_FIELDS.items()}
    records = study_comparison_records(
        study, training=True, extra_fields=(*extra.values(), "followups"), chunk_size=2000
    )
    yield from _record_rows(records, columns, COMPARISON_EXTRA_FIELDS, study)


def _record_rows(
    records: Iterator[dict],
    columns: list[str],
    extra: dict[str, tuple[str, Callable[[Any], Any]]],
    study: Study,
) -> Iterator[list[Any]]:
    """Each record as a row of ``columns``: an ``extra`` column read from its field and
    written by its writer, response seconds rounded, any other value as it is (blank for
    none); then the study's ``followup_<key>`` columns from the record's ``followups``."""
    blank = _blank_or()
    for record in records:
        row = []
        for column in columns:
            if column in extra:
                field, write = extra[column]
                row.append(write(record[field]))
            elif column == "response_seconds":
                row.append(_blank_or(3)(record[column]))
            else:
                row.append(blank(record.get(column)))
        yield [*row, *followup_row(study, record.get("followups")).values()]


# A MUSHRA or transcription study's download after the columns and
# ``selectors.SCORED_EXTRA_COLUMNS``: column -> (the field, relative to the ConditionScore row
# for MUSHRA or the Rating row for transcription, and how it is written).
def _scored_extra(response: str) -> dict[str, tuple[str, Callable[[Any], Any]]]:
    return {
        "play_count": ("play_count", _as_is),
        "played_seconds": ("played_seconds", lambda v: round(v, 3)),
        "created_at": (f"{response}created_at", lambda v: v.isoformat()),
        "platform": (f"{response}listener__platform", _as_is),
        "platform_id": (f"{response}listener__external_id", _as_is),
        "listener_excluded": (f"{response}listener__excluded", _flag),
        "exclusion_reason": (f"{response}listener__exclusion_reason", _as_is),
    }


SCORED_DOWNLOADS = {
    "mushra": (
        MUSHRA_COLUMNS,
        study_mushra_records,
        {
            "position": ("trial_clip__position", _as_is),
            "sentence_text": ("trial_clip__clip__sentence__text", _as_is),
            **_scored_extra("response__"),
        },
    ),
    "transcription": (
        TRANSCRIPTION_COLUMNS,
        study_transcription_records,
        {"sentence_text": ("clip__sentence__text", _as_is), **_scored_extra("")},
    ),
}


def scored_csv_columns(test_type: str) -> list[str]:
    """The ratings download's header for a MUSHRA or transcription study."""
    columns, _, extra = SCORED_DOWNLOADS[test_type]
    return [*columns, *SCORED_EXTRA_COLUMNS, *extra]


def _scored_csv_rows(study: Study) -> Iterator[list[Any]]:
    """A MUSHRA study's download (one row per rated condition: ``listener, sentence, system,
    score, role``) or a transcription study's (one per answer: ``listener, sentence, system,
    text``), so ``mos_report --ratings-csv FILE --test mushra|transcription`` reads it as it
    is; then purpose, trial, clip token, response seconds, the condition's place on the page
    (MUSHRA), the sentence's text, plays, seconds played, when, the platform and the manual
    exclusion (which that command applies too). Training included, marked by ``purpose``."""
    _, records, extra = SCORED_DOWNLOADS[study.test_type]
    header = scored_csv_columns(study.test_type)
    yield [*header, *followup_column_names(study)]
    fields = (*(field for field, _ in extra.values()), "followups")
    rows = records(study, training=True, extra_fields=fields)
    yield from _record_rows(rows, header, extra, study)


def study_ratings_csv_rows(*, study: Study) -> Iterator[list[Any]]:
    """Every rating of ``study`` (training included; ``purpose`` says which), header first.
    A CCR, AB, ABX or SMOS study's download has its type's columns
    (:func:`_comparison_csv_rows`); an ACR study's these:

    One row per rating: listener (named as in the report), platform and platform id, sentence
    key and text, system, clip token, score, purpose, gold answer, play count, seconds played,
    response seconds, when, and the researcher's manual exclusion; every type's download ends
    with ``followup_<key>`` (yes, no) per follow-up question of the study. ``listener, sentence,
    system, score`` come first, so ``mos_report --ratings-csv`` reads the file as it is.
    Ordered by rating id and read in chunks: memory stays flat however many ratings there are."""
    if study.test_type in TEST_COLUMNS:
        yield from _comparison_csv_rows(study)
        return
    if study.test_type in SCORED_DOWNLOADS:
        yield from _scored_csv_rows(study)
        return
    yield [*RAW_RATING_COLUMNS, *followup_column_names(study)]
    fields = [field for field, _ in RAW_RATING_FIELDS.values()]
    writers = [write for _, write in RAW_RATING_FIELDS.values()]
    rows = study_ratings_labelled(study, [*fields, "followups"], training=True, chunk_size=2000)
    for label, *values, followups in rows:
        written = (write(value) for write, value in zip(writers, values, strict=True))
        yield [label, *written, *followup_row(study, followups).values()]


AUDIO_MANIFEST_COLUMNS = [
    "file_name",
    "system",
    "system_kind",
    "sentence",
    "text",
    "duration_s",
    "loudness_lufs",
    "sample_rate",
    "token",
    "seed",
    "engine",
    "provenance",
]


TRIALS_MANIFEST_COLUMNS = [
    "playlist",
    "trial",
    "purpose",
    "expected_score",
    "expected_choice",
    "clip_position",
    "role",
    "system",
    "sentence",
    "token",
    "file_name",
]


def _write_trials_manifest(zf: zipfile.ZipFile, study: Study, files: dict[int, str]) -> None:
    """``trials.csv``: every trial of every playlist with the clips it presents, in play order,
    each with its role (test, reference, a, b, x, ...) and its file in the ZIP (``files``:
    clip id -> name). Streamed into the ZIP: memory stays flat."""
    rows = (
        TrialClip.objects.filter(trial__playlist__study=study)
        .order_by("trial__playlist__index", "trial__position", "position")
        .values_list(
            "trial__playlist__index",
            "trial__position",
            "trial__purpose",
            "trial__expected_score",
            "trial__expected_choice",
            "position",
            "role",
            "clip__system__name",
            "clip__sentence__key",
            "clip__token",
            "clip_id",
        )
    )
    entry = zipfile.ZipInfo("trials.csv", date_time=time.localtime()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(entry, "w", force_zip64=True) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv_writer(text)
        writer.writerow(TRIALS_MANIFEST_COLUMNS)
        for *values, clip_id in rows.iterator(chunk_size=2000):
            values[3] = "" if values[3] is None else values[3]
            writer.writerow([*values, files.get(clip_id, "")])
        text.flush()
        text.detach()


def _folder_names(study: Study) -> dict[int, str]:
    """A folder per system: its name made safe for every file system, unique in the study."""
    out: dict[int, str] = {}
    used: set[str] = set()
    for pk, name in (
        System.objects.filter(study=study).order_by("position", "id").values_list("id", "name")
    ):
        folder = slugify(name) or f"system-{pk}"
        if folder in used:
            folder = f"{folder}-{pk}"
        used.add(folder)
        out[pk] = folder
    return out


def study_audio_zip(*, study: Study) -> tuple[IO[bytes], int]:
    """A ZIP of ``study``'s ready clips, ``audio/<system>/<sentence key>.<ext>``, with
    ``manifest.csv`` (file name, system, sentence key and text, duration, loudness, sample
    rate, clip token, seed, engine and the clip's whole provenance record as compact JSON:
    ``synthesis.provenance``) and ``trials.csv`` (each trial of each playlist with its clips
    in play order, their roles and files: :func:`_write_trials_manifest`). Returns an open temporary file positioned at 0 (deleted when closed) and
    the number of clips in it.

    Audio is copied from storage in 1 MiB pieces into a temporary file (stored, not deflated:
    FLAC is compressed already), so memory stays flat for a study of any size. A ready clip
    whose file is missing from storage is left out and listed in ``missing.txt``."""
    folders = _folder_names(study)
    clips = (
        Clip.objects.filter(system__study=study, status=Clip.Status.READY)
        .exclude(audio="")
        .select_related("system", "sentence")
        .order_by("system__position", "system_id", "sentence__position", "sentence__key")
    )
    # Returned open: the FileResponse that sends it closes (and so deletes) it.
    handle = tempfile.TemporaryFile(prefix="harken-audio-", suffix=".zip")  # noqa: SIM115
    manifest = io.StringIO()
    writer = csv_writer(manifest)
    writer.writerow(AUDIO_MANIFEST_COLUMNS)
    missing: list[str] = []
    files: dict[int, str] = {}
    count = 0
    try:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for clip in clips.iterator(chunk_size=500):
                suffix = PurePosixPath(clip.audio.name).suffix.lower() or ".flac"
                name = f"audio/{folders[clip.system_id]}/{clip.sentence.key}{suffix}"
                try:
                    source = clip.audio.open("rb")
                except FileNotFoundError:
                    missing.append(f"{clip.system.name} / {clip.sentence.key}: {clip.audio.name}")
                    continue
                with source, zf.open(name, "w", force_zip64=True) as target:
                    shutil.copyfileobj(source, target, 1 << 20)
                count += 1
                files[clip.pk] = name
                writer.writerow(
                    [
                        name,
                        clip.system.name,
                        clip.system.kind,
                        clip.sentence.key,
                        clip.sentence.text,
                        "" if clip.duration_s is None else round(clip.duration_s, 4),
                        "" if clip.loudness_lufs is None else round(clip.loudness_lufs, 2),
                        clip.sample_rate or "",
                        clip.token,
                        clip.seed,
                        (clip.provenance or {}).get("engine", ""),
                        json.dumps(clip.provenance or {}, sort_keys=True, separators=(",", ":")),
                    ]
                )
            zf.writestr("manifest.csv", manifest.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
            _write_trials_manifest(zf, study, files)
            if missing:
                text = "Ready clips whose audio file is missing from storage:\n" + "\n".join(
                    missing
                )
                zf.writestr("missing.txt", text + "\n", compress_type=zipfile.ZIP_DEFLATED)
    except BaseException:
        handle.close()
        raise
    if missing:
        log.warning("audio zip: files missing", extra={"study": study.slug, "n": len(missing)})
    handle.seek(0)
    return handle, count
