"""A study's sentence set: decode an uploaded file, preview every problem, import all or nothing.

Where it sits: the researcher's sentence pages and the API's sentences endpoint parse a request
and call the functions here, so both refuse the same things with the same messages. The flow is
two-step so nothing is half-imported::

    bytes ─ sentence_file_decode ─> text ─ sentences_preview ─> SentencePreview (shown to the
    researcher: blank lines, duplicates, over-long sentences, unsupported characters)
                                            └─ sentences_import (one transaction, all or nothing)

The characters a sentence may use are those of the voices the study's systems use: Tacotron2's
symbol sets (``synthesis.engine.text``), a Piper voice's words (``engine.piper_voice``); eSpeak
NG and uploaded audio only limit the length. Adding a system re-checks the sentences already
there (``sentences_unreadable_by``).
A sentence file over ``MAX_SENTENCE_FILE_KB`` is refused before it is decoded, one that would
take the study over ``MAX_SENTENCES`` before its rows are checked, and a CSV/TSV whose quote is
left open (which would merge the following lines into one sentence) with the line of the quote.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction

from listening.errors import ServiceError, UploadError
from listening.models import Clip, Sentence, Study, System
from listening.studies.lifecycle import study_design_changed, study_lock_unfrozen
from synthesis.availability import voice_symbol_set
from synthesis.engine.piper_voice import piper_text_problems
from synthesis.engine.text import SymbolSet, check_text
from synthesis.models import Voice

log = logging.getLogger(__name__)

# Longest sentence (after normalisation) accepted for one stimulus: a sentence or two. ITU-T
# P.800 stimuli are short sentences; Tacotron2 checkpoints trained on LJSpeech read up to ~190.
MAX_SENTENCE_CHARS = 300
SENTENCE_EXTENSIONS = {".txt", ".csv", ".tsv"}
KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
KEY_MAX = 64


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


def _line_of(data: bytes, position: int, codec: str) -> tuple[int, int]:
    """(1-based line, 1-based column in bytes) of byte ``position`` in ``data``."""
    before = data[:position].decode(codec, errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return line, column


# What a researcher may ask a file to be read as when it is not UTF-8: Windows-1252 is what
# Excel writes on Windows ("CSV" without "UTF-8"); Latin-1 decodes every byte.
READ_AS = {"cp1252": "Windows-1252", "latin-1": "Latin-1 (ISO-8859-1)"}
# Bad lines listed in a message and decoded in a preview; the count is always given.
MAX_LINES_SHOWN = 20


@dataclass
class BadLine:
    """A line that is not valid in the encoding tried: where, and the first bad byte."""

    line: int
    column: int
    byte: int


class SentenceDecodeError(UploadError):
    """A sentence file that is not UTF-8: every bad line, and how each other encoding would
    read those lines (``alternatives``: ``{"encoding", "label", "ok", "lines": [(n, text)]}``)
    so the researcher can choose one with a preview of the result."""

    def __init__(self, message: str, *, bad_lines: list[BadLine], alternatives: list[dict]):
        super().__init__(message)
        self.bad_lines = bad_lines
        self.alternatives = alternatives

    def as_dict(self) -> dict:
        return {
            "detail": str(self),
            "bad_lines": [asdict(b) for b in self.bad_lines],
            "read_as": self.alternatives,
        }


def _bad_lines(body: bytes, codec: str) -> list[BadLine]:
    """Every line of ``body`` that does not decode as ``codec`` (one byte per char codecs and
    UTF-8 only: their lines can be split on the newline byte)."""
    bad = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        try:
            raw.decode(codec)
        except UnicodeDecodeError as exc:
            column = len(raw[: exc.start].decode(codec, errors="replace")) + 1
            bad.append(BadLine(line=number, column=column, byte=raw[exc.start]))
    return bad


def _where(bad: Sequence[BadLine]) -> str:
    shown = ", ".join(
        f"line {b.line} (byte 0x{b.byte:02X} near column {b.column})" for b in bad[:MAX_LINES_SHOWN]
    )
    return shown + (f" and {len(bad) - MAX_LINES_SHOWN} more" if len(bad) > MAX_LINES_SHOWN else "")


def _alternatives(body: bytes, bad: Sequence[BadLine]) -> list[dict]:
    lines = body.split(b"\n")
    found = []
    for codec, label in READ_AS.items():
        undecodable = _bad_lines(body, codec)
        shown = [
            (b.line, lines[b.line - 1].decode(codec, errors="replace").rstrip("\r"))
            for b in bad[:MAX_LINES_SHOWN]
        ]
        # Latin-1 decodes Windows-1252's quotes, dashes and euro (0x80-0x9F) as invisible
        # control characters: a sign the file is Windows-1252, worth saying beside the preview.
        controls = any("\x80" <= ch <= "\x9f" for _, text in shown for ch in text)
        found.append(
            {
                "encoding": codec,
                "label": label,
                "ok": not undecodable,
                "problem": f"Not valid {label} either: {_where(undecodable)}."
                if undecodable
                else "",
                "warning": "Read this way, some lines contain invisible control characters "
                "where Windows-1252 has quotes, dashes or €: the file is probably not "
                f"{label}."
                if controls
                else "",
                "lines": shown,
            }
        )
    return found


def _utf8_refusal(body: bytes, filename: str) -> SentenceDecodeError:
    bad = _bad_lines(body, "utf-8")
    if len(bad) == 1:
        b = bad[0]
        where = (
            f"Line {b.line} of {filename!r} is not valid UTF-8 (byte 0x{b.byte:02X} near column "
            f"{b.column})."
        )
    else:
        where = f"{len(bad)} lines of {filename!r} are not valid UTF-8: {_where(bad)}."
    return SentenceDecodeError(
        f"{where} It is probably Windows-1252 or Latin-1 (what Excel writes): read it as one "
        "of those, checking the preview of those lines, or save the file as UTF-8 (or UTF-16 "
        "with a byte-order mark) and upload it again.",
        bad_lines=bad,
        alternatives=_alternatives(body, bad),
    )


def sentence_file_decode(data: bytes, filename: str, read_as: str = "") -> tuple[str, str]:
    """Decode an uploaded sentence file: (text, encoding name).

    UTF-8 with or without a byte-order mark and UTF-16 with one are accepted; a file that is
    not UTF-8 is refused with ``SentenceDecodeError`` listing every bad line and a preview of
    them read as each of ``READ_AS``. ``read_as`` ("cp1252", "latin-1") decodes the file that
    way instead, when the researcher has chosen it. Raises UploadError.
    """
    limit_kb = settings.MAX_SENTENCE_FILE_KB
    if len(data) > limit_kb * 1024:
        raise UploadError(
            f"{filename!r} is {len(data) / 1024:.0f} KB; sentence files are limited to "
            f"{limit_kb} KB (MAX_SENTENCE_FILE_KB). Split the set into several files."
        )
    if read_as and read_as not in READ_AS:
        raise UploadError(
            f"Unknown encoding {read_as!r}: choose one of {', '.join(READ_AS)}, or none to "
            "read UTF-8 or UTF-16."
        )
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise UploadError(f"{filename!r} is UTF-32; save it as UTF-8 or UTF-16 and upload again.")
    if read_as:
        codec, label, body = read_as, READ_AS[read_as], data
    elif data.startswith(codecs.BOM_UTF8):
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
        if codec == "utf-8":
            raise _utf8_refusal(body, filename) from None
        if read_as:
            raise UploadError(
                f"{filename!r} is not valid {label}: {_where(_bad_lines(body, codec))}. Read it "
                "as Latin-1, which accepts every byte, or save the file as UTF-8."
            ) from None
        line, column = _line_of(body, exc.start, codec)
        raise UploadError(
            f"Line {line} of {filename!r} is not valid {label} (byte 0x{body[exc.start]:02X} "
            f"near column {column}). The file may be cut short or not really UTF-16. Save the "
            "file as UTF-8 (or UTF-16 with a byte-order mark) and upload it again."
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UploadError(
            f"Line {line} of {filename!r} contains NUL characters: the file looks like UTF-16 "
            "without a byte-order mark. Save it as UTF-8 (or UTF-16 with a BOM) and upload again."
        )
    # One line ending for the rest of the code: Windows (\r\n) and old Mac (\r) files too.
    return text.replace("\r\n", "\n").replace("\r", "\n"), label


PIPER_READER = "piper"


def voices_text_readers(voices: Iterable[Voice]) -> list[str]:
    """How ``voices`` read text: the symbol sets of the Tacotron2 voices ("nvidia",
    "torchaudio"; for a voice that detects its set from the checkpoint, the set its checkpoint's
    embedding size names, ``synthesis.availability.voice_symbol_set``, and both only when the
    file cannot be read here) and "piper" for a Piper voice (words through its phonemiser).
    eSpeak NG reads any text: it adds nothing, and a study with no voice at all (uploaded or
    reference audio only) checks only lengths."""
    both = [Voice.SymbolSet.NVIDIA.value, Voice.SymbolSet.TORCHAUDIO.value]
    readers: set[str] = set()
    for voice in voices:
        if voice.engine == Voice.Engine.TACOTRON2:
            detected = voice_symbol_set(voice)
            readers.update([detected] if detected else both)
        elif voice.engine == Voice.Engine.PIPER:
            readers.add(PIPER_READER)
    return sorted(readers)


def study_text_readers(study: Study) -> list[str]:
    """``voices_text_readers`` of the voices the study's systems actually use."""
    voices = Voice.objects.filter(systems__study=study, systems__kind=System.Kind.VOICE)
    return voices_text_readers(voices.distinct())


def _text_problems(text: str, readers: Sequence[str]) -> list[str]:
    if not readers:
        if len(text) > MAX_SENTENCE_CHARS:
            return [
                f"The text is {len(text)} characters long; the limit is {MAX_SENTENCE_CHARS}. "
                "Split it into shorter sentences."
            ]
        return []
    problems: list[str] = []
    seen: set[str] = set()
    for name in readers:
        if name == PIPER_READER:
            found = piper_text_problems(text, max_chars=MAX_SENTENCE_CHARS)
        else:
            found = check_text(text, SymbolSet(name), max_chars=MAX_SENTENCE_CHARS)
        for problem in found:
            # The same characters refused by both sets is one problem, not two.
            same = problem.replace(f"'{name}'", "'*'")
            if same not in seen:
                seen.add(same)
                problems.append(problem)
    return problems


def sentences_unreadable_by(*, study: Study, voice: Voice) -> list[tuple[Sentence, list[str]]]:
    """The study's current sentences that ``voice`` cannot read, with the problems: what the
    systems page warns about when a system is added after the sentences were checked."""
    readers = voices_text_readers([voice])
    if not readers:
        return []
    found = []
    for sentence in study.sentences.order_by("position", "key"):
        problems = _text_problems(sentence.text, readers)
        if problems:
            found.append((sentence, problems))
    return found


def unreadable_warning(voice: Voice, found: Sequence[tuple[Sentence, list[str]]], limit=10) -> str:
    """One message for the researcher about ``sentences_unreadable_by``'s answer ("" if none)."""
    if not found:
        return ""
    lines = "; ".join(
        f"sentence {s.position} ({s.key}): {' '.join(problems)}" for s, problems in found[:limit]
    )
    more = f"; and {len(found) - limit} more" if len(found) > limit else ""
    return (
        f"The voice '{voice.name}' cannot read {len(found)} of the study's sentences as they "
        f"are: {lines}{more}. Fix them in the sentence file and upload it again with 'replace' "
        "ticked, or those clips will fail."
    )


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


def _open_quote(line: int, ran_to: int, kind: str) -> UploadError:
    return UploadError(
        f"Line {line} opens a quote that is not closed on that line (the {kind} reader ran on "
        f"to line {ran_to}, merging those sentences into one). Close the quote on line {line}, "
        'or write a quote inside a text as two ("").'
    )


def _rows_from_delimited(text: str, delimiter: str) -> tuple[list[tuple[int, list[str]]], bool]:
    """(line, cells) for each record of a CSV/TSV text and whether the first was a header."""
    kind = "TSV" if delimiter == "\t" else "CSV"
    # strict: a quote followed by anything but a delimiter is an error, not a merged field.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if reader.line_num > start:
                # A sentence is one line: a record spanning lines is a quote left open, which
                # would silently swallow the sentences after it into one.
                raise _open_quote(start, reader.line_num, kind)
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc) and reader.line_num > start:
            raise _open_quote(start, reader.line_num, kind) from None
        raise UploadError(
            f"Line {start} could not be read as {kind} ({exc}). Check the quotes on that line: "
            'a quoted text ends with a quote followed by the delimiter; a quote inside it is "".'
        ) from None
    header = bool(records) and _is_header(records[0][1])
    return (records[1:] if header else records), header


def _cap_check(n_new: int, study: Study, replace: bool, what: str) -> None:
    """Refuse more sentences than ``MAX_SENTENCES`` in the study (after this upload) before
    they are checked one by one: a 2 MB file can hold a million one-letter lines."""
    cap = settings.MAX_SENTENCES
    current = 0 if replace else study.sentences.count()
    if n_new + current > cap:
        kept = f" (with the study's {current} current ones)" if current else ""
        raise UploadError(
            f"{what} holds {n_new} sentences{kept}; a study takes at most {cap} "
            "(MAX_SENTENCES). Listening tests use far fewer: choose a subset and upload it again."
        )


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
    readers = study_text_readers(study)
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
            row.problems.extend(_text_problems(row.text, readers))


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
    # Non-blank lines bound the sentences (a header is one more): a file over the cap by
    # itself is refused before a row is parsed or checked.
    n_lines = sum(1 for line in text.split("\n") if line.strip())
    if n_lines > settings.MAX_SENTENCES + 1:
        _cap_check(n_lines, study, True, repr(filename))
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
    _cap_check(len(preview.rows), study, replace, repr(filename))
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
    _cap_check(len(preview.rows), study, replace, "The list")
    _check_rows(preview.rows, study, replace, existing)
    return preview


@transaction.atomic
def sentences_import(*, study: Study, preview: SentencePreview) -> int:
    """Save every sentence of a preview in one transaction; returns how many.

    Refuses a preview with problems and a frozen study. With ``preview.replace`` the study's
    current sentences (and their clips) are deleted first. Checked again under the study's row
    lock: a key taken since the preview was made fails the whole import, nothing is half-done.
    """
    study = study_lock_unfrozen(study, "its sentences")
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
    study_design_changed(study=study)
    log.info("sentences imported", extra={"study": study.slug, "sentences": len(preview.rows)})
    return len(preview.rows)


@transaction.atomic
def sentences_delete(*, study: Study) -> int:
    """Delete every sentence of a study that has not been opened (their clips go too)."""
    study = study_lock_unfrozen(study, "its sentences")
    for clip in Clip.objects.filter(sentence__study=study).exclude(audio=""):
        clip.audio.delete(save=False)
    n, _ = study.sentences.all().delete()
    study_design_changed(study=study)
    return n
