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

from listening.analysis.stats.followups import PREFIX as FOLLOWUP_PREFIX
from listening.models import ConditionScore, PlaylistItem, Rating, Study, TrialClip

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


def followup_column_names(study: Study) -> list[str]:
    """``followup_<key>`` per follow-up question of ``study``, in its order (the column names
    ``listening.analysis.stats.followups`` reads, in the tables and in every download)."""
    return [f"{FOLLOWUP_PREFIX}{q['key']}" for q in study.followup_questions or []]


def followup_row(study: Study, answers: dict | None) -> dict[str, str]:
    """One answer's follow-up columns: yes, no, or blank where it was not asked (an answer
    given before the question existed cannot happen: the questions freeze with the first)."""
    answers = answers or {}
    return {
        f"{FOLLOWUP_PREFIX}{q['key']}": answers.get(q["key"], "")
        for q in study.followup_questions or []
    }


def followup_cells(study: Study, answers: list[dict | None]) -> dict[str, list[str]]:
    """The follow-up columns of a table whose rows carry ``answers`` (each ``{key: yes|no}``)."""
    return {
        f"{FOLLOWUP_PREFIX}{q['key']}": [(a or {}).get(q["key"], "") for a in answers]
        for q in study.followup_questions or []
    }


def study_comparison_followups_frame(study: Study) -> pd.DataFrame:
    """The follow-up answers of a comparison ``study`` (CCR, AB, ABX, SMOS) as the table
    ``stats.followups`` reads: listener, sentence, the trial's systems (``a`` and ``b``, or
    SMOS's ``system``), purpose, ``followup_<key>``; the statistics count a trial's answer for
    each system it presents. Training trials are left out."""
    systems = ["system"] if study.test_type == "smos" else ["a", "b"]
    columns = ["listener", "sentence", *systems, "purpose", *followup_column_names(study)]
    if not study.followup_questions:
        # No question, no answer to count: the study's responses are not walked a second time.
        return pd.DataFrame(columns=columns)
    rows = [
        {
            **{c: record[c] for c in columns[: 3 + len(systems)]},
            **followup_row(study, record["followups"]),
        }
        for record in study_comparison_records(study, extra_fields=("followups",))
    ]
    return pd.DataFrame.from_records(rows, columns=columns)


def study_ratings_frame(study: Study) -> pd.DataFrame:
    """Every counted rating of ``study`` as a table for ``listening.analysis.stats``.

    One row per rating: test ratings plus the gold and repeat rows the screening needs
    (purpose, expected_score from the playlist item); training ratings are left out. Columns:
    listener, sentence (the sentence key), system (its name), score, clip (id), purpose,
    expected_score, response_seconds, system_kind, is_low_anchor, then ``followup_<key>``
    (yes/no) per follow-up question of the study. Ordered by rating id, so the same database
    gives the same table.
    """
    records = list(study_ratings_labelled(study, [*FRAME_FIELDS.values(), "followups"]))
    frame = pd.DataFrame.from_records([row[:-1] for row in records], columns=RATING_COLUMNS)
    for column, values in followup_cells(study, [row[-1] for row in records]).items():
        frame[column] = values
    frame["clip"] = frame["clip"].astype(str)
    # Nullable numbers as floats (None -> NaN) so the table writes and reads back as CSV.
    for column in ("expected_score", "response_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["score"] = frame["score"].astype("int64")
    frame["is_low_anchor"] = frame["is_low_anchor"].astype(bool)
    return frame


# The columns of each comparison type (``listening.analysis.stats.build_test_report``
# and ``mos_report --ratings-csv FILE --test TYPE`` read them), then what every type adds.
TEST_COLUMNS = {
    "ccr": ["listener", "sentence", "a", "b", "score"],
    "ab": ["listener", "sentence", "a", "b", "choice"],
    "abx": ["listener", "sentence", "a", "b", "x", "choice"],
    "smos": ["listener", "sentence", "system", "score", "reference"],
}
COMPARISON_EXTRA_COLUMNS = ["purpose", "expected", "response_seconds", "clip_a", "clip_b"]
# A response's fields the comparison table reads (after the listener's label).
_RESPONSE_FIELDS = [
    "id",
    "item_id",
    "score",
    "choice",
    "purpose",
    "item__expected_score",
    "item__expected_choice",
    "response_seconds",
]


def comparison_columns(test_type: str) -> list[str]:
    """The columns of :func:`study_comparison_frame` for ``test_type``, in order."""
    return [*TEST_COLUMNS[test_type], *COMPARISON_EXTRA_COLUMNS]


def _trial_clips(item_ids: list[int]) -> dict[int, list[tuple[str, str, str, str, str]]]:
    """Trial id -> its clips in play order: (role, system name, sentence key, clip token,
    sentence text)."""
    out: dict[int, list[tuple[str, str, str, str, str]]] = {}
    rows = (
        TrialClip.objects.filter(trial_id__in=item_ids)
        .order_by("trial_id", "position")
        .values_list(
            "trial_id",
            "role",
            "clip__system__name",
            "clip__sentence__key",
            "clip__token",
            "clip__sentence__text",
        )
    )
    for trial_id, *clip in rows:
        out.setdefault(trial_id, []).append(tuple(clip))
    return out


def _pair(clips: list[tuple]) -> tuple[tuple, tuple]:
    """The two clips a pair trial presents, first heard first: roles A and B when it has them
    (an ABX trial adds X), else its first two clips (CCR's reference and test clip, in the
    order they were presented)."""
    by_role = {clip[0]: clip for clip in clips}
    if "a" in by_role and "b" in by_role:
        return by_role["a"], by_role["b"]
    heard = [clip for clip in clips if clip[0] != "x"]
    return heard[0], heard[1]


def _comparison_row(test_type: str, clips: list[tuple], answer: dict) -> dict:
    """One response as the table's row: its type's columns, ``expected``, the clip tokens and
    ``sentence_text`` (the rated sentence's, for the download)."""
    if test_type == "smos":
        by_role = {clip[0]: clip for clip in clips}
        test = by_role.get("test") or clips[-1]
        reference = by_role.get("reference") or clips[0]
        return {
            "sentence": test[2],
            "system": test[1],
            "score": answer["score"],
            "reference": reference[2],
            "expected": answer["expected_score"],
            "clip_a": reference[3],
            "clip_b": test[3],
            "sentence_text": test[4],
        }
    first, second = _pair(clips)
    row = {
        "sentence": first[2],
        "a": first[1],
        "b": second[1],
        "clip_a": first[3],
        "clip_b": second[3],
        "sentence_text": first[4],
    }
    if test_type == "ccr":
        row.update(score=answer["score"], expected=answer["expected_score"])
    else:
        row.update(choice=answer["choice"], expected=answer["expected_choice"] or None)
    if test_type == "abx":
        row["x"] = next(clip for clip in clips if clip[0] == "x")[1]
    return row


def _comparison_batch(test_type: str, rows: list[tuple], names: list[str]) -> Iterator[dict]:
    answers = [
        {
            "listener": listener_label(pk=pk, platform=platform, external_id=external_id),
            **dict(zip(names, values, strict=True)),
        }
        for pk, platform, external_id, *values in rows
    ]
    clips = _trial_clips(sorted({answer["item_id"] for answer in answers}))
    for answer in answers:
        trial = clips.get(answer["item_id"], [])
        if len(trial) < 2:
            continue  # a trial without its clips (study_open writes them) is no comparison
        yield {**answer, **_comparison_row(test_type, trial, answer)}


def study_comparison_records(
    study: Study,
    *,
    training: bool = False,
    extra_fields: tuple[str, ...] = (),
    chunk_size: int = 2000,
) -> Iterator[dict]:
    """Every response of a comparison ``study`` (CCR, AB, ABX, SMOS) as a dict of the table's
    columns (see :func:`study_comparison_frame`) plus ``extra_fields`` (more of the
    response's fields, keyed by their name), ordered by response id and read ``chunk_size`` at
    a time: memory stays flat however many there are."""
    test_type = study.test_type
    if test_type not in TEST_COLUMNS:
        raise ValueError(
            f"study_comparison_frame reads comparison studies; '{study.slug}' is "
            f"{test_type.upper()}: use study_ratings_frame."
        )
    responses = Rating.objects.filter(listener__study=study, item__isnull=False)
    if not training:
        responses = responses.exclude(purpose=PlaylistItem.Purpose.TRAINING)
    fields = [*_RESPONSE_FIELDS, *extra_fields]
    names = [name.removeprefix("item__") for name in fields]
    rows = responses.order_by("id").values_list(
        "listener_id", "listener__platform", "listener__external_id", *fields
    )
    batch: list[tuple] = []
    for row in rows.iterator(chunk_size=chunk_size):
        batch.append(row)
        if len(batch) >= chunk_size:
            yield from _comparison_batch(test_type, batch, names)
            batch = []
    yield from _comparison_batch(test_type, batch, names)


def study_comparison_frame(study: Study, *, training: bool = False) -> pd.DataFrame:
    """Every counted response of a CCR, AB, ABX or SMOS ``study`` as the table of its type
    (:func:`comparison_columns`), for ``listening.analysis.stats.build_test_report``: one row
    per response, read from ``Rating`` and the trial's ``TrialClip`` rows, ordered by response
    id (the same database gives the same table).

    ``a``, ``b`` and ``x`` are system names, ``a`` the clip heard first: a CCR score rates
    ``b`` against ``a`` as presented (the statistics correct the sign). SMOS: ``system`` is the
    test clip's, ``reference`` the reference clip's sentence key (different from ``sentence``
    in a different-text design). ``expected``: a gold trial's expected score (CCR, SMOS) or
    choice (AB, ABX), else empty; ``clip_a`` / ``clip_b``: the two clips' tokens (SMOS: the
    reference's, then the test clip's). Training responses only with ``training=True``."""
    columns = comparison_columns(study.test_type) if study.test_type in TEST_COLUMNS else []
    records = study_comparison_records(study, training=training, chunk_size=10_000)
    frame = pd.DataFrame.from_records(list(records), columns=columns)
    frame["response_seconds"] = pd.to_numeric(frame["response_seconds"], errors="coerce").astype(
        "float64"
    )
    if "score" in frame:
        frame["score"] = frame["score"].astype("int64")
    if study.test_type in ("ccr", "smos"):
        frame["expected"] = pd.to_numeric(frame["expected"], errors="coerce").astype("float64")
    return frame


# --- MUSHRA and transcription ------------------------------------------------------------------

#: The issue's columns of a MUSHRA and of a transcription table (``mos_report --ratings-csv FILE
#: --test mushra|transcription`` reads them), then what the site adds.
MUSHRA_COLUMNS = ["listener", "sentence", "system", "score", "role"]
TRANSCRIPTION_COLUMNS = ["listener", "sentence", "system", "text"]
SCORED_EXTRA_COLUMNS = ["purpose", "trial", "clip", "response_seconds"]

#: A MUSHRA condition's role in the statistics (``stats.mushra.ROLES``) from its trial clip's
#: role and, for an anchor, its system's filter: the 7 kHz low-pass is the mid anchor; the
#: 3.5 kHz low-pass, like an MNRU anchor (which the design treats as a low anchor), the low one.
MID_ANCHOR_KINDS = frozenset({"lowpass7000"})


def mushra_role(trial_role: str, anchor_kind: str) -> str:
    """``hidden_reference``, ``anchor35``, ``anchor70`` or ``test`` for one rated condition."""
    if trial_role == TrialClip.Role.HIDDEN_REFERENCE:
        return "hidden_reference"
    if trial_role == TrialClip.Role.ANCHOR:
        return "anchor70" if anchor_kind in MID_ANCHOR_KINDS else "anchor35"
    return "test"


def _listener_fields(prefix: str) -> list[str]:
    return [f"{prefix}listener_id", f"{prefix}listener__platform", f"{prefix}listener__external_id"]


def _scored_fields(*, response: str, clip: str, answer: str) -> list[str]:
    """The fields every MUSHRA and transcription record starts with, as paths from the row
    read (``response``: to the response, ``clip``: to the clip; ``answer``: score or text)."""
    return [
        *_listener_fields(response),
        f"{clip}sentence__key",
        f"{clip}system__name",
        answer,
        f"{response}purpose",
        f"{response}item_id",
        f"{clip}token",
        f"{response}response_seconds",
    ]


def _scored_records(
    rows, *, answer: str, n_own: int, extra_fields: tuple[str, ...]
) -> Iterator[tuple[dict, list]]:
    """(record, the type's own values) per row of ``_scored_fields`` + ``n_own`` fields of the
    type + ``extra_fields``: the record holds listener (its label), sentence, system,
    ``answer``, purpose, trial, clip, response_seconds and the extra fields by name."""
    for pk, platform, external_id, sentence, system, value, *rest in rows.iterator(chunk_size=5000):
        purpose, trial, clip, seconds, *tail = rest
        own, extra = tail[:n_own], tail[n_own:]
        record = {
            "listener": listener_label(pk=pk, platform=platform, external_id=external_id),
            "sentence": sentence,
            "system": system,
            answer: value,
            "purpose": purpose,
            "trial": trial,
            "clip": clip,
            "response_seconds": seconds,
            **dict(zip(extra_fields, extra, strict=True)),
        }
        yield record, own


def study_mushra_records(
    study: Study, *, training: bool = False, extra_fields: tuple[str, ...] = ()
) -> Iterator[dict]:
    """Every condition score of a MUSHRA ``study`` as a dict: listener (its label), sentence
    (key), system (name), score (0-100), role (:func:`mushra_role`), purpose, trial (the
    response's trial id), clip (token), response_seconds, plus ``extra_fields`` (more fields
    of the ``ConditionScore`` row, keyed by their name). Ordered by response and the
    condition's place on the page; read in chunks."""
    scores = ConditionScore.objects.filter(response__listener__study=study)
    if not training:
        scores = scores.exclude(response__purpose=PlaylistItem.Purpose.TRAINING)
    fields = [
        *_scored_fields(response="response__", clip="trial_clip__clip__", answer="score"),
        "trial_clip__role",
        "trial_clip__clip__system__anchor_kind",
        *extra_fields,
    ]
    rows = scores.order_by("response_id", "trial_clip__position").values_list(*fields)
    for record, (role, kind) in _scored_records(
        rows, answer="score", n_own=2, extra_fields=extra_fields
    ):
        yield {**record, "role": mushra_role(role, kind)}


def study_transcription_records(
    study: Study, *, training: bool = False, extra_fields: tuple[str, ...] = ()
) -> Iterator[dict]:
    """Every typed answer of a transcription ``study`` as a dict: listener, sentence (key),
    system, text (as typed), purpose, trial, clip (token), response_seconds, plus
    ``extra_fields`` of the ``Rating`` row. Ordered by answer id; read in chunks."""
    answers = Rating.objects.filter(listener__study=study, test_type=study.test_type)
    if not training:
        answers = answers.exclude(purpose=PlaylistItem.Purpose.TRAINING)
    fields = [*_scored_fields(response="", clip="clip__", answer="text"), *extra_fields]
    rows = answers.order_by("id").values_list(*fields)
    for record, _ in _scored_records(rows, answer="text", n_own=0, extra_fields=extra_fields):
        yield record


def _scored_frame(records: Iterator[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(list(records), columns=[*columns, *SCORED_EXTRA_COLUMNS])
    frame["response_seconds"] = pd.to_numeric(frame["response_seconds"], errors="coerce").astype(
        "float64"
    )
    return frame


def study_mushra_frame(study: Study) -> pd.DataFrame:
    """The counted condition scores of a MUSHRA ``study`` as the table of
    ``listening.analysis.stats.mushra`` (one row per listener, sentence and rated condition:
    listener, sentence, system, score, role, then purpose, trial, clip, response_seconds).
    Training responses are left out; the open reference is never rated, so it has no row.
    Then ``followup_<key>`` per follow-up question, answered about each condition."""
    records = list(study_mushra_records(study, extra_fields=("followups",)))
    frame = _scored_frame(iter(records), MUSHRA_COLUMNS)
    frame["score"] = frame["score"].astype("int64")
    for column, values in followup_cells(study, [r["followups"] for r in records]).items():
        frame[column] = values
    return frame


def study_transcription_frame(study: Study) -> pd.DataFrame:
    """The counted typed answers of a transcription ``study`` as the table of
    ``listening.analysis.stats.transcription`` (listener, sentence, system, text, then
    purpose, trial, clip, response_seconds, then ``followup_<key>`` per question)."""
    records = list(study_transcription_records(study, extra_fields=("followups",)))
    frame = _scored_frame(iter(records), TRANSCRIPTION_COLUMNS)
    for column, values in followup_cells(study, [r["followups"] for r in records]).items():
        frame[column] = values
    return frame


def study_sentence_texts(study: Study) -> dict[str, str]:
    """{sentence key: text} of ``study``: what a transcription is scored against (the
    ``--sentences FILE`` of the offline report)."""
    return dict(study.sentences.order_by("position", "key").values_list("key", "text"))
