"""What a researcher puts into a study: its settings, sentence sets, systems and recordings.

Where it sits: the researcher pages (``listening/views/researcher.py``) and the JSON API
(``listening/api/``) parse a request and call one function here; both therefore refuse the same
things with the same messages. The flow for sentences is two-step so nothing is half-imported::

    bytes ─ sentence_file_decode ─> text ─ sentences_preview ─> SentencePreview (shown to the
    researcher: blank lines, duplicates, over-long sentences, unsupported characters)
                                            └─ sentences_import (one transaction, all or nothing)

Recordings for an uploaded or reference system go ``system_audio_import``: ZIP or loose files
named by sentence key -> ``decode_audio`` -> ``postprocess`` (study rate, study loudness, the
same as synthesised clips: ITU-T P.800 asks for stimuli at one listening level) -> FLAC in the
default storage under the clip's opaque name. Files that match no sentence, sentences with no
file, unreadable and silent files come back in an ``AudioImportReport``; none is dropped quietly.

Every size limit (``MAX_SENTENCE_FILE_KB``, ``MAX_UPLOAD_MB``, the unpacked size and member count
of a ZIP) is checked before anything is decoded or stored.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from listening import screening
from listening.models import Clip, Sentence, Study, System
from listening.services.studies import ServiceError, study_clips_ensure, study_sync_status
from synthesis.models import Voice

log = logging.getLogger(__name__)

MB = 1024 * 1024

# Longest sentence (after normalisation) accepted for one stimulus: a sentence or two. ITU-T
# P.800 stimuli are short sentences; Tacotron2 checkpoints trained on LJSpeech read up to ~190.
MAX_SENTENCE_CHARS = 300
AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".oga"}
SENTENCE_EXTENSIONS = {".txt", ".csv", ".tsv"}
KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
KEY_MAX = 64


class UploadError(ServiceError):
    """An upload is refused as a whole (too large, wrong type, not decodable text)."""


# --- Study settings ----------------------------------------------------------------------------

# Fields that shape the playlists: fixed once the test has been opened (P.808 practice: every
# listener rates the same frozen design).
DESIGN_FIELDS = frozenset(
    {
        "slug",
        "ratings_per_clip",
        "clips_per_listener",
        "clips_per_page",
        "training_clips",
        "attention_check_rate",
        "sample_rate",
        "loudness_target_lufs",
    }
)
STUDY_FIELDS = (
    "title",
    "slug",
    "instructions",
    "consent_text",
    "ratings_per_clip",
    "clips_per_listener",
    "training_clips",
    "attention_check_rate",
    "max_attention_failures",
    "questionnaire_enabled",
    "headphone_check_enabled",
    "listener_timeout_minutes",
    "completion_code",
    "completion_url",
    "screening",
)


def screening_clean(rules: Any) -> dict:
    """A study's screening rules checked and completed with defaults; raises ValidationError
    naming the rule and the allowed values (the rules are defined in ``listening.screening``)."""
    try:
        return screening.screening_clean(rules)
    except screening.ScreeningRulesError as exc:
        raise ValidationError({"screening": str(exc)}) from exc


SLUG_TAKEN = (
    "This slug is taken (slugs are unique across Harken and appear in the listener link); "
    "choose another."
)
# Slugs that would shadow a researcher page (/studies/new/, /studies/api-token/).
RESERVED_SLUGS = frozenset({"new", "api-token"})


def _study_full_clean(study: Study) -> None:
    if study.slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"'{study.slug}' is reserved; choose another slug."})
    try:
        study.full_clean(exclude=["owner"])
    except ValidationError as exc:
        # A taken slug comes back as Django's generic "already exists": say what to do.
        if "slug" in getattr(exc, "error_dict", {}) and any(
            e.code == "unique" for e in exc.error_dict["slug"]
        ):
            exc.error_dict["slug"] = [ValidationError(SLUG_TAKEN)]
        raise


@transaction.atomic
def study_create(*, owner, data: Mapping[str, Any]) -> Study:
    """Create a draft study owned by ``owner`` from the fields in ``data`` (STUDY_FIELDS).

    Raises ValidationError (field -> messages) when a value is out of range or the slug is taken.
    """
    values = {k: v for k, v in data.items() if k in STUDY_FIELDS}
    values["screening"] = screening_clean(values.get("screening"))
    study = Study(owner=owner, **values)
    _study_full_clean(study)
    try:
        with transaction.atomic():
            study.save()
    except IntegrityError as exc:  # two requests raced for one slug
        raise ValidationError({"slug": "This slug was just taken; choose another."}) from exc
    log.info("study created", extra={"study": study.slug, "user": str(owner)})
    return study


@transaction.atomic
def study_update(*, study: Study, data: Mapping[str, Any]) -> Study:
    """Change a study's settings; design fields are refused once the test has been opened."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    values = {k: v for k, v in data.items() if k in STUDY_FIELDS}
    if "screening" in values:
        values["screening"] = screening_clean(values["screening"])
    if study.design_frozen:
        changed = sorted(k for k in values if k in DESIGN_FIELDS and getattr(study, k) != values[k])
        if changed:
            raise ServiceError(
                f"The test has been opened: {', '.join(changed)} can no longer change. "
                "Create a new study to change the design."
            )
    for name, value in values.items():
        setattr(study, name, value)
    _study_full_clean(study)
    study.save()
    return study


def _design_changed(study: Study) -> None:
    """Sentences or systems changed: make the missing clip rows (so opening refuses until they
    are ready) and send a ready study back to draft."""
    study_clips_ensure(study=study)
    if study.status == Study.Status.READY:
        Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
        study.status = Study.Status.DRAFT


def _lock_unfrozen(study: Study, what: str) -> Study:
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.design_frozen:
        raise ServiceError(
            f"Study '{study.slug}' is {study.get_status_display().lower()}: its design is frozen, "
            f"so {what} can no longer change. Create a new study instead."
        )
    return study


# --- Sentence sets -----------------------------------------------------------------------------


@dataclass
class SentenceRow:
    """One sentence of an upload, with the problems that keep it from being imported."""

    line: int
    key: str
    text: str
    expected_score: int | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class SentencePreview:
    """What an upload would import. ``ok`` only when no row and no file-level check failed."""

    filename: str
    format: str
    encoding: str
    rows: list[SentenceRow]
    blank_lines: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    header: bool = False
    replace: bool = False

    @property
    def rows_with_problems(self) -> list[SentenceRow]:
        return [row for row in self.rows if row.problems]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.problems and not self.rows_with_problems

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        data["n_sentences"] = len(self.rows)
        data["n_with_problems"] = len(self.rows_with_problems)
        return data


def _line_of(data: bytes, position: int, codec: str) -> tuple[int, int]:
    """(1-based line, 1-based column in bytes) of byte ``position`` in ``data``."""
    before = data[:position].decode(codec, errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return line, column


def sentence_file_decode(data: bytes, filename: str) -> tuple[str, str]:
    """Decode an uploaded sentence file: (text, encoding name).

    UTF-8 with or without a byte-order mark and UTF-16 with one are accepted; anything else is
    refused with the line that failed. Raises UploadError.
    """
    limit_kb = settings.MAX_SENTENCE_FILE_KB
    if len(data) > limit_kb * 1024:
        raise UploadError(
            f"{filename!r} is {len(data) / 1024:.0f} KB; sentence files are limited to "
            f"{limit_kb} KB (MAX_SENTENCE_FILE_KB). Split the set into several files."
        )
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise UploadError(f"{filename!r} is UTF-32; save it as UTF-8 or UTF-16 and upload again.")
    if data.startswith(codecs.BOM_UTF8):
        codec, label, body = "utf-8", "UTF-8 (with BOM)", data[len(codecs.BOM_UTF8) :]
    elif data.startswith(codecs.BOM_UTF16_LE):
        codec, label, body = "utf-16-le", "UTF-16 LE", data[2:]
    elif data.startswith(codecs.BOM_UTF16_BE):
        codec, label, body = "utf-16-be", "UTF-16 BE", data[2:]
    else:
        codec, label, body = "utf-8", "UTF-8", data
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        line, column = _line_of(body, exc.start, codec)
        hint = (
            " It may be Latin-1 or Windows-1252 (common from Excel)."
            if codec == "utf-8"
            else " The file may be cut short or not really UTF-16."
        )
        raise UploadError(
            f"Line {line} of {filename!r} is not valid {label} (byte 0x{body[exc.start]:02X} "
            f"near column {column}).{hint} Save the file as UTF-8 (or UTF-16 with a byte-order "
            "mark) and upload it again."
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UploadError(
            f"Line {line} of {filename!r} contains NUL characters: the file looks like UTF-16 "
            "without a byte-order mark. Save it as UTF-8 (or UTF-16 with a BOM) and upload again."
        )
    # One line ending for the rest of the code: Windows (\r\n) and old Mac (\r) files too.
    return text.replace("\r\n", "\n").replace("\r", "\n"), label


def study_symbol_sets(study: Study) -> list[str]:
    """The symbol sets the study's Tacotron2 voices read ("nvidia", "torchaudio"); both when the
    study has no voice yet or a voice detects its set from the checkpoint. eSpeak NG reads any
    text, so an eSpeak-only study checks only lengths."""
    both = [Voice.SymbolSet.NVIDIA.value, Voice.SymbolSet.TORCHAUDIO.value]
    voices = list(
        Voice.objects.filter(systems__study=study, systems__kind=System.Kind.VOICE).distinct()
    )
    if not voices:
        return both
    sets: set[str] = set()
    for voice in voices:
        if voice.engine != Voice.Engine.TACOTRON2:
            continue
        sets.update(both if voice.symbol_set == Voice.SymbolSet.AUTO else [voice.symbol_set])
    return sorted(sets)


def _text_problems(text: str, symbol_sets: Sequence[str]) -> list[str]:
    from synthesis.engine.text import SymbolSet, check_text

    if not symbol_sets:
        if len(text) > MAX_SENTENCE_CHARS:
            return [
                f"The text is {len(text)} characters long; the limit is {MAX_SENTENCE_CHARS}. "
                "Split it into shorter sentences."
            ]
        return []
    problems: list[str] = []
    seen: set[str] = set()
    for name in symbol_sets:
        for problem in check_text(text, SymbolSet(name), max_chars=MAX_SENTENCE_CHARS):
            # The same characters refused by both sets is one problem, not two.
            same = problem.replace(f"'{name}'", "'*'")
            if same not in seen:
                seen.add(same)
                problems.append(problem)
    return problems


def _same_text(text: str) -> str:
    # Duplicates differ at most in case and spacing: "The cat." and "the  cat." read the same.
    return " ".join(text.casefold().split())


def _key_problems(key: str) -> list[str]:
    if not key:
        return ["The key is empty; give every sentence a key (letters, digits, _ . -)."]
    if len(key) > KEY_MAX:
        return [f"The key is {len(key)} characters long; keys are at most {KEY_MAX}."]
    if not KEY_RE.match(key):
        return [f"The key '{key}' may contain only letters, digits, _ . and -."]
    return []


def _score(raw: Any) -> tuple[int | None, str | None]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int | float) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or value not in (1, 2, 3, 4, 5) or int(value) != value:
        return None, (
            f"expected_score {raw!r} is not a score: give 1-5 for an attention-check sentence "
            "or leave it empty."
        )
    return int(value), None


def _is_header(cells: list[str]) -> bool:
    names = [c.strip().casefold() for c in cells]
    return len(names) >= 2 and names[0] in {"key", "id"} and names[1] in {"text", "sentence"}


def _rows_from_delimited(text: str, delimiter: str) -> tuple[list[tuple[int, list[str]]], bool]:
    """(line, cells) for each record of a CSV/TSV text and whether the first was a header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UploadError(
            f"Line {reader.line_num} could not be read as {'TSV' if delimiter == chr(9) else 'CSV'}"
            f" ({exc}). Check the quotes on that line."
        ) from None
    header = bool(records) and _is_header(records[0][1])
    return (records[1:] if header else records), header


def _auto_keys(n: int, taken: set[str]) -> list[str]:
    keys: list[str] = []
    width = max(3, len(str(n + len(taken))))
    i = 0
    while len(keys) < n:
        i += 1
        key = f"s{i:0{width}d}"
        if key not in taken:
            keys.append(key)
    return keys


def _existing(study: Study, replace: bool) -> tuple[set[str], dict[str, str]]:
    if replace:
        return set(), {}
    keys: set[str] = set()
    texts: dict[str, str] = {}
    for key, text in study.sentences.values_list("key", "text"):
        keys.add(key)
        texts.setdefault(_same_text(text), key)
    return keys, texts


def _check_rows(
    rows: list[SentenceRow], study: Study, replace: bool, existing: tuple[set[str], dict]
) -> None:
    existing_keys, existing_texts = existing
    symbol_sets = study_symbol_sets(study)
    first_key: dict[str, int] = {}
    first_text: dict[str, int] = {}
    for row in rows:
        row.problems.extend(_key_problems(row.key))
        if row.key in first_key:
            row.problems.append(
                f"Duplicate key '{row.key}' (first on line {first_key[row.key]}); keys must be "
                "unique."
            )
        elif row.key in existing_keys:
            row.problems.append(
                f"The study already has a sentence with key '{row.key}'; rename it or tick "
                "'replace the current sentences'."
            )
        first_key.setdefault(row.key, row.line)
        same = _same_text(row.text)
        if same in first_text:
            row.problems.append(f"Duplicate text (same as line {first_text[same]}).")
        elif same in existing_texts:
            row.problems.append(f"The study already has this text (key '{existing_texts[same]}').")
        first_text.setdefault(same, row.line)
        if row.text:
            row.problems.extend(_text_problems(row.text, symbol_sets))


def sentences_preview(
    *, study: Study, text: str, filename: str, encoding: str = "UTF-8", replace: bool = False
) -> SentencePreview:
    """Parse a decoded sentence file and list every problem; saves nothing.

    ``.txt``: one sentence per line, keys s001, s002, ... assigned in order. ``.csv``/``.tsv``:
    ``key,text[,expected_score]`` with an optional header row. Blank lines are listed and
    skipped; duplicates (keys and texts, also against the study's current sentences unless
    ``replace``), bad keys, over-long sentences and characters the study's voices cannot read
    are problems that block the import.
    """
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix not in SENTENCE_EXTENSIONS:
        raise UploadError(
            f"{filename!r} is not a sentence file: upload a .txt (one sentence per line) or a "
            ".csv/.tsv (key,text[,expected_score])."
        )
    existing = _existing(study, replace)
    preview = SentencePreview(
        filename=filename, format=suffix[1:], encoding=encoding, rows=[], replace=replace
    )
    if suffix == ".txt":
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline that ends the last line does not make a blank line
        numbered = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                numbered.append((number, line.strip()))
            else:
                preview.blank_lines.append(number)
        keys = _auto_keys(len(numbered), existing[0])
        preview.rows = [
            SentenceRow(line=n, key=k, text=t) for (n, t), k in zip(numbered, keys, strict=True)
        ]
    else:
        records, preview.header = _rows_from_delimited(text, "\t" if suffix == ".tsv" else ",")
        for number, cells in records:
            if not any(c.strip() for c in cells):
                preview.blank_lines.append(number)
                continue
            cells = [c.strip() for c in cells]
            row = SentenceRow(line=number, key=cells[0], text=cells[1] if len(cells) > 1 else "")
            if len(cells) < 2 or len(cells) > 3:
                row.problems.append(
                    f"{len(cells)} column(s); expected key,text or key,text,expected_score."
                )
            elif not row.text:
                row.problems.append("The text is empty.")
            if len(cells) == 3:
                row.expected_score, problem = _score(cells[2])
                if problem:
                    row.problems.append(problem)
            preview.rows.append(row)
    if not preview.rows:
        preview.problems.append(f"{filename!r} contains no sentences.")
    _check_rows(preview.rows, study, replace, existing)
    return preview


def sentences_preview_from_items(
    *, study: Study, items: Sequence[Mapping[str, Any]], replace: bool = False
) -> SentencePreview:
    """The same checks for a JSON list of ``{"key"?, "text", "expected_score"?}`` (the API).

    Items without a key get s001, s002, ... like a .txt file."""
    existing = _existing(study, replace)
    preview = SentencePreview(
        filename="(JSON)", format="json", encoding="UTF-8", rows=[], replace=replace
    )
    missing = [i for i, item in enumerate(items) if not str(item.get("key") or "").strip()]
    keys = iter(_auto_keys(len(missing), existing[0] | {str(i.get("key")) for i in items}))
    for index, item in enumerate(items, start=1):
        text = str(item.get("text") or "").strip()
        raw_key = str(item.get("key") or "").strip()
        row = SentenceRow(line=index, key=raw_key or next(keys), text=text)
        if not text:
            row.problems.append("The text is empty.")
        row.expected_score, problem = _score(item.get("expected_score"))
        if problem:
            row.problems.append(problem)
        preview.rows.append(row)
    if not preview.rows:
        preview.problems.append("The list contains no sentences.")
    _check_rows(preview.rows, study, replace, existing)
    return preview


@transaction.atomic
def sentences_import(*, study: Study, preview: SentencePreview) -> int:
    """Save every sentence of a preview in one transaction; returns how many.

    Refuses a preview with problems and a frozen study. With ``preview.replace`` the study's
    current sentences (and their clips) are deleted first. Checked again under the study's row
    lock: a key taken since the preview was made fails the whole import, nothing is half-done.
    """
    study = _lock_unfrozen(study, "its sentences")
    if not preview.ok:
        n = len(preview.rows_with_problems)
        raise ServiceError(
            f"The upload has {n} sentence(s) with problems"
            f"{' and ' + '; '.join(preview.problems) if preview.problems else ''}: fix the file "
            "and upload it again. Nothing was imported."
        )
    if preview.replace:
        for clip in Clip.objects.filter(sentence__study=study).exclude(audio=""):
            clip.audio.delete(save=False)
        study.sentences.all().delete()
        start = 0
    else:
        taken = set(study.sentences.filter(key__in=[r.key for r in preview.rows]))
        if taken:
            raise ServiceError(
                "Sentences with these keys were added since the preview: "
                f"{', '.join(sorted(s.key for s in taken))}. Upload the file again."
            )
        last = study.sentences.order_by("-position").values_list("position", flat=True).first()
        start = (last or 0) + 1
    Sentence.objects.bulk_create(
        Sentence(
            study=study,
            key=row.key,
            text=row.text,
            expected_score=row.expected_score,
            position=start + i,
        )
        for i, row in enumerate(preview.rows)
    )
    _design_changed(study)
    log.info("sentences imported", extra={"study": study.slug, "sentences": len(preview.rows)})
    return len(preview.rows)


@transaction.atomic
def sentences_delete(*, study: Study) -> int:
    """Delete every sentence of a study that has not been opened (their clips go too)."""
    study = _lock_unfrozen(study, "its sentences")
    for clip in Clip.objects.filter(sentence__study=study).exclude(audio=""):
        clip.audio.delete(save=False)
    n, _ = study.sentences.all().delete()
    _design_changed(study)
    return n


# --- Systems -----------------------------------------------------------------------------------


def _system_clean(system: System) -> None:
    taken = System.objects.filter(study_id=system.study_id, name=system.name.strip())
    if taken.exclude(pk=system.pk).exists():
        raise ValidationError({"name": f"The study already has a system named '{system.name}'."})
    system.full_clean()


@transaction.atomic
def system_add(
    *,
    study: Study,
    name: str,
    kind: str,
    voice: Voice | None = None,
    is_low_anchor: bool = False,
) -> System:
    """Add a system: synthesised with ``voice`` (kind "voice"), or one whose audio is uploaded
    (kind "uploaded" for another system's output, "reference" for natural recordings).
    MNRU anchors are added with ``system_add_anchor``."""
    study = _lock_unfrozen(study, "its systems")
    if kind == System.Kind.ANCHOR:
        raise ServiceError("Add an MNRU anchor with its source system and Q (system_add_anchor).")
    if kind not in System.Kind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}; use voice, uploaded or reference."})
    if kind == System.Kind.VOICE:
        if voice is None:
            raise ValidationError({"voice": "A synthesised system needs a voice."})
        if not voice.is_active:
            raise ValidationError({"voice": f"The voice '{voice.name}' is switched off."})
    elif voice is not None:
        raise ValidationError(
            {"voice": "Only a system of kind 'voice' has a voice; uploaded systems have audio."}
        )
    last = study.systems.order_by("-position").values_list("position", flat=True).first()
    system = System(
        study=study,
        name=name.strip(),
        kind=kind,
        voice=voice,
        is_low_anchor=is_low_anchor,
        position=(last or 0) + 1,
    )
    _system_clean(system)
    system.save()
    _design_changed(study)
    return system


@transaction.atomic
def system_add_anchor(
    *,
    study: Study,
    source: System,
    q_db: float,
    name: str = "",
    is_low_anchor: bool = True,
) -> System:
    """Add an MNRU anchor (ITU-T P.810) derived from ``source``'s clips at ``q_db`` dB."""
    study = _lock_unfrozen(study, "its systems")
    if source.study_id != study.pk:
        raise ValidationError({"anchor_source": "The source system belongs to another study."})
    if source.kind == System.Kind.ANCHOR:
        raise ValidationError({"anchor_source": "Derive anchors from a system, not an anchor."})
    if q_db is None or not math.isfinite(q_db) or not -10.0 <= q_db <= 60.0:
        raise ValidationError(
            {"anchor_q_db": "Q must be between -10 and 60 dB (P.810 anchors use about 5-35)."}
        )
    last = study.systems.order_by("-position").values_list("position", flat=True).first()
    label = f"{q_db:g}"
    system = System(
        study=study,
        name=(name or f"mnru-q{label}-{source.name}")[:100].strip(),
        kind=System.Kind.ANCHOR,
        anchor_source=source,
        anchor_q_db=float(q_db),
        is_low_anchor=is_low_anchor,
        position=(last or 0) + 1,
    )
    _system_clean(system)
    system.save()
    _design_changed(study)
    return system


@transaction.atomic
def system_update(
    *,
    system: System,
    name: str | None = None,
    kind: str | None = None,
    is_low_anchor: bool | None = None,
) -> System:
    """Rename a system, switch an uploaded system between "uploaded" and "reference", or mark
    it as a low anchor (the screening rules use these marks)."""
    _lock_unfrozen(system.study, "its systems")
    system = System.objects.select_for_update().get(pk=system.pk)
    if kind is not None and kind != system.kind:
        uploaded = {System.Kind.UPLOADED, System.Kind.REFERENCE}
        if system.kind not in uploaded or kind not in uploaded:
            raise ValidationError(
                {"kind": "Only uploaded systems switch kind (between uploaded and reference)."}
            )
        system.kind = kind
    if name is not None:
        system.name = name.strip()
    if is_low_anchor is not None:
        system.is_low_anchor = is_low_anchor
    _system_clean(system)
    system.save()
    return system


@transaction.atomic
def system_delete(*, system: System) -> None:
    """Remove a system, its clips and their audio (anchors derived from it go too)."""
    study = _lock_unfrozen(system.study, "its systems")
    ids = [system.pk, *system.anchors.values_list("pk", flat=True)]
    for clip in Clip.objects.filter(system_id__in=ids).exclude(audio=""):
        clip.audio.delete(save=False)
    system.delete()
    # With the system gone the remaining clips may all be ready.
    if study.status == Study.Status.SYNTHESIZING:
        transaction.on_commit(lambda: study_sync_status(study=study))


# --- Recordings --------------------------------------------------------------------------------


@dataclass
class AudioImportReport:
    """What became of each file of an upload; nothing in an upload is dropped silently."""

    system: str
    stored: list[str] = field(default_factory=list)  # sentence keys now ready
    unmatched: list[str] = field(default_factory=list)  # files named after no sentence
    missing: list[str] = field(default_factory=list)  # sentence keys still without audio
    unreadable: list[dict] = field(default_factory=list)  # {"file", "key", "error"}
    silent: list[dict] = field(default_factory=list)  # {"file", "key", "error"}
    duplicates: list[dict] = field(default_factory=list)  # {"key", "files"}
    skipped: list[str] = field(default_factory=list)  # folders, macOS metadata

    @property
    def problems(self) -> int:
        return (
            len(self.unmatched)
            + len(self.missing)
            + len(self.unreadable)
            + len(self.silent)
            + len(self.duplicates)
        )

    def as_dict(self) -> dict:
        data = asdict(self)
        data["n_problems"] = self.problems
        return data


@dataclass
class _Member:
    name: str  # as uploaded (path inside a ZIP included)
    data: bytes


def upload_size_check(content_length: int | str | None) -> None:
    """Refuse a request body larger than MAX_UPLOAD_MB before Django reads it into temp files."""
    try:
        length = int(content_length or 0)
    except (TypeError, ValueError):
        return
    limit = settings.MAX_UPLOAD_MB * MB
    # Form fields and multipart boundaries add a little; allow 1 MB of it.
    if length > limit + MB:
        raise UploadError(
            f"The upload is {length / MB:.1f} MB; the limit is {settings.MAX_UPLOAD_MB} MB "
            "(MAX_UPLOAD_MB). Upload the recordings in several parts."
        )


def sentence_upload_size_check(content_length: int | str | None) -> None:
    """Refuse a sentence-file request far over MAX_SENTENCE_FILE_KB before it is read."""
    try:
        length = int(content_length or 0)
    except (TypeError, ValueError):
        return
    limit_kb = settings.MAX_SENTENCE_FILE_KB
    # Multipart framing and the other form fields add a little; allow 64 KB of it.
    if length > (limit_kb + 64) * 1024:
        raise UploadError(
            f"The upload is {length / 1024:.0f} KB; sentence files are limited to {limit_kb} KB "
            "(MAX_SENTENCE_FILE_KB). Split the set into several files."
        )


def _junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        not parts
        or parts[0] == "__MACOSX"
        or parts[-1].startswith("._")
        or parts[-1] == ".DS_Store"
    )


def _zip_members(upload: IO[bytes], filename: str, report: AudioImportReport) -> list[_Member]:
    """Read a ZIP's audio members after checking the member count and the unpacked size from
    the directory, and while reading (a forged directory cannot smuggle in a ZIP bomb)."""
    max_members = settings.MAX_ZIP_MEMBERS
    max_unpacked = settings.MAX_UNZIPPED_MB * MB
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{filename!r} is not a readable ZIP file ({exc}).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise UploadError(
                f"{filename!r} holds {len(infos)} entries; the limit is {max_members}. "
                "Upload the recordings in several ZIP files."
            )
        total = sum(info.file_size for info in infos)
        if total > max_unpacked:
            raise UploadError(
                f"{filename!r} would unpack to {total / MB:.0f} MB; the limit is "
                f"{max_unpacked / MB:.0f} MB. Upload the recordings in several parts."
            )
        members: list[_Member] = []
        budget = max_unpacked
        for info in infos:
            if info.is_dir():
                continue
            if _junk(info.filename):
                report.skipped.append(info.filename)
                continue
            try:
                with archive.open(info) as stream:
                    data = stream.read(min(info.file_size, budget) + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                report.unreadable.append(
                    {"file": info.filename, "key": "", "error": f"Cannot unpack it ({exc})."}
                )
                continue
            if len(data) > info.file_size or len(data) > budget:
                raise UploadError(
                    f"{filename!r} unpacks to more than its directory says ({info.filename}); "
                    "it is damaged or a ZIP bomb, and was refused."
                )
            budget -= len(data)
            members.append(_Member(info.filename, data))
        return members


def _read_uploads(files: Iterable[Any], report: AudioImportReport) -> list[_Member]:
    """Audio members of the uploaded files: ZIPs are opened, loose files taken as they are."""
    limit = settings.MAX_UPLOAD_MB * MB
    files = list(files)
    total = sum(int(getattr(f, "size", 0) or 0) for f in files)
    if total > limit:
        raise UploadError(
            f"The files add up to {total / MB:.1f} MB; the limit is {settings.MAX_UPLOAD_MB} MB "
            "(MAX_UPLOAD_MB). Upload them in several parts."
        )
    if not files:
        raise UploadError(
            "No file was uploaded: choose a ZIP or audio files named by sentence key."
        )
    members: list[_Member] = []
    for upload in files:
        name = getattr(upload, "name", "") or "upload"
        if hasattr(upload, "seek"):
            upload.seek(0)
        if name.lower().endswith(".zip"):
            members.extend(_zip_members(upload, name, report))
        else:
            data = upload.read(limit + 1)
            if len(data) > limit:  # the declared size lied
                raise UploadError(f"{name!r} is larger than {settings.MAX_UPLOAD_MB} MB.")
            members.append(_Member(name, data))
    return members


def _match(members: list[_Member], keys: Iterable[str], report: AudioImportReport) -> dict:
    """Sentence key -> member, by file name without extension (exact, then ignoring case)."""
    keys = list(keys)
    exact = set(keys)
    folded: dict[str, list[str]] = {}
    for key in keys:
        folded.setdefault(key.casefold(), []).append(key)
    by_key: dict[str, list[_Member]] = {}
    for member in members:
        path = PurePosixPath(member.name.replace("\\", "/"))
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            report.unmatched.append(
                f"{member.name} (not an audio file: use .wav, .flac, .mp3 or .ogg)"
            )
            continue
        stem = path.stem
        key = stem if stem in exact else None
        if key is None and len(folded.get(stem.casefold(), [])) == 1:
            key = folded[stem.casefold()][0]
        if key is None:
            report.unmatched.append(member.name)
            continue
        by_key.setdefault(key, []).append(member)
    matched: dict[str, _Member] = {}
    for key, found in by_key.items():
        if len(found) > 1:
            report.duplicates.append({"key": key, "files": [m.name for m in found]})
        else:
            matched[key] = found[0]
    return matched


def system_audio_import(*, system: System, files: Iterable[Any]) -> AudioImportReport:
    """Store uploaded recordings as the clips of an uploaded or reference system.

    ``files``: uploaded file objects (``.name``, ``.size``, ``.read()``), each a ZIP or one audio
    file named ``<sentence key>.<wav|flac|mp3|ogg>``. Each file is decoded, resampled to the
    study's rate, trimmed and loudness-normalised to the study's target like synthesised clips,
    and written as FLAC under the clip's opaque name. Returns what happened to every file; a
    matching file that cannot be used marks its clip failed with the reason.
    """
    from synthesis.engine.audio import (
        SilentAudioError,
        UnreadableAudioError,
        decode_audio,
        encode_flac,
        postprocess,
    )

    study = system.study
    if study.design_frozen:
        raise ServiceError(
            f"Study '{study.slug}' is {study.get_status_display().lower()}: its clips are frozen. "
            "Create a new study to use other recordings."
        )
    if system.kind not in (System.Kind.UPLOADED, System.Kind.REFERENCE):
        raise ServiceError(
            f"System '{system.name}' is {system.get_kind_display().lower()}: recordings can be "
            "uploaded only for systems of kind 'uploaded' or 'reference'."
        )
    report = AudioImportReport(system=system.name)
    members = _read_uploads(files, report)
    sentences = dict(study.sentences.values_list("key", "id"))
    matched = _match(members, sentences, report)
    max_seconds = settings.MAX_CLIP_SECONDS

    # Decode and process outside any transaction: this is the slow part.
    ready: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for key, member in sorted(matched.items()):
        try:
            samples, rate = decode_audio(member.data, member.name)
            if samples.shape[0] > max_seconds * rate:
                raise UnreadableAudioError(
                    f"{member.name!r} is {samples.shape[0] / rate:.0f} s long; a stimulus is one "
                    f"sentence of at most {max_seconds} s."
                )
            processed = postprocess(
                samples,
                rate,
                target_lufs=study.loudness_target_lufs,
                target_sample_rate=study.sample_rate,
            )
        except SilentAudioError as exc:
            report.silent.append({"file": member.name, "key": key, "error": str(exc)})
            failed[key] = f"{member.name}: {exc}"
            continue
        except (UnreadableAudioError, ValueError) as exc:
            report.unreadable.append({"file": member.name, "key": key, "error": str(exc)})
            failed[key] = f"{member.name}: {exc}"
            continue
        ready[key] = (processed, encode_flac(processed.samples, processed.sample_rate))

    with transaction.atomic():
        study = _lock_unfrozen(study, "its clips")
        study_clips_ensure(study=study)
        clips = {
            c.sentence.key: c for c in Clip.objects.select_related("sentence").filter(system=system)
        }
        now = timezone.now()
        for key, (processed, flac) in ready.items():
            clip = clips[key]
            storage = clip.audio.storage
            if clip.audio:
                clip.audio.delete(save=False)
            # Same opaque name on a second upload: remove a leftover so the name stays the token.
            target = clip.audio.field.generate_filename(clip, "audio.flac")
            if storage.exists(target):
                storage.delete(target)
            clip.audio.save("audio.flac", ContentFile(flac), save=False)
            clip.status = Clip.Status.READY
            clip.duration_s = processed.duration_s
            clip.sample_rate = processed.sample_rate
            clip.loudness_lufs = processed.loudness_lufs
            clip.peak_dbfs = processed.peak_dbfs if math.isfinite(processed.peak_dbfs) else None
            clip.clipped = processed.clipped
            clip.error = ""
            clip.ready_at = now
            clip.save()
            report.stored.append(key)
        for key, error in failed.items():
            clip = clips[key]
            if clip.status != Clip.Status.READY:
                Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.FAILED, error=error)
        report.missing = sorted(
            c.sentence.key
            for c in Clip.objects.select_related("sentence").filter(system=system)
            if c.status != Clip.Status.READY
        )
    if study.status == Study.Status.SYNTHESIZING:
        study_sync_status(study=study)
    log.info(
        "recordings imported",
        extra={"study": study.slug, "system": system.name, "stored": len(report.stored)},
    )
    return report


__all__ = [
    "AudioImportReport",
    "SentencePreview",
    "SentenceRow",
    "UploadError",
    "screening_clean",
    "sentence_file_decode",
    "sentence_upload_size_check",
    "sentences_delete",
    "sentences_import",
    "sentences_preview",
    "sentences_preview_from_items",
    "study_create",
    "study_symbol_sets",
    "study_update",
    "system_add",
    "system_add_anchor",
    "system_audio_import",
    "system_delete",
    "system_update",
    "upload_size_check",
]
