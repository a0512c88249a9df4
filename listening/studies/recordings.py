"""Recordings for a study's uploaded and reference systems: a ZIP or loose files, one per sentence.

Where it sits: the researcher's systems page and the API's system-audio endpoint call
:func:`system_audio_import`. Files named by sentence key go ``decode_audio`` -> ``postprocess``
(study rate, study loudness, the same as synthesised clips: ITU-T P.800 asks for stimuli at one
listening level) -> FLAC in the default storage under the clip's opaque name. Files that match no
sentence, sentences with no file, unreadable and silent files come back in an
``AudioImportReport``; none is dropped quietly.

In a study made from a recipe (``listening.studies.recipes``), each recorded clip keeps the
sha256 the recipe gives (``Clip.expected_sha256``): a file with another sha256 is refused,
named in ``mismatched``, rather than stored with a warning. The recipe's promise is the same
stimuli as the original study (ITU-T P.800.2 asks that MOS be reported with what was rated), and
a warning on a page is easy to miss while the ratings it would taint are not undone. The
matching file is the original's processed clip, so it is stored byte for byte, not processed a
second time.

Every size limit (``MAX_UPLOAD_MB``, the unpacked size and member count of a ZIP, the size of
one recording) is checked before anything is decoded or stored, and nothing is held whole in
memory: a ZIP member is streamed to a temporary file (its actual bytes counted against what
the directory declares), a file's header is read before its samples (over-long, over-rate and
over-channel files are refused from the header: ``MAX_CLIP_SECONDS``,
``MAX_UPLOAD_SAMPLE_RATE``, ``MAX_UPLOAD_CHANNELS``), and samples are decoded and resampled in
blocks (``synthesis.engine.audio``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from listening.errors import ServiceError, UploadError
from listening.models import Clip, Study, System
from listening.studies.lifecycle import study_clips_ensure, study_lock_unfrozen, study_sync_status
from synthesis.engine.audio import (
    ProcessedAudio,
    SilentAudioError,
    UnreadableAudioError,
    decode_audio,
    encode_flac,
    measured,
    postprocess,
    to_mono,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024
AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".oga"}


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
    mismatched: list[dict] = field(default_factory=list)  # {"file", "key", "error"}: not the
    # recipe's file (a study made from a recipe)
    skipped: list[str] = field(default_factory=list)  # folders, macOS metadata

    @property
    def problems(self) -> int:
        return (
            len(self.unmatched)
            + len(self.missing)
            + len(self.unreadable)
            + len(self.silent)
            + len(self.duplicates)
            + len(self.mismatched)
        )

    def as_dict(self) -> dict:
        data = asdict(self)
        data["n_problems"] = self.problems
        return data


class _Budget:
    """Bytes a ZIP may still unpack to, across all its members (checked while streaming)."""

    def __init__(self, limit: int) -> None:
        self.left = limit


@dataclass
class _Member:
    name: str  # as uploaded (path inside a ZIP included)
    size: int  # as declared (the ZIP directory, or the uploaded file's size)
    # Opens the member as a seekable binary file; a ZIP member is streamed to a temporary file.
    open: Callable[[], AbstractContextManager[IO[bytes]]]


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


def _junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        not parts
        or parts[0] == "__MACOSX"
        or parts[-1].startswith("._")
        or parts[-1] == ".DS_Store"
    )


class _MemberError(Exception):
    """One member cannot be used; the others still can (it is listed as unreadable)."""


_COPY_BLOCK = 1024 * 1024


@contextmanager
def _unpacked(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, filename: str, budget: _Budget
) -> Iterator[IO[bytes]]:
    """A ZIP member streamed to a temporary file, 1 MB at a time, never held whole in memory.

    The declared size was checked against the per-file and total limits from the directory;
    the bytes actually unpacked are counted as they come, so a forged directory is caught at
    its first extra megabyte, not after the bomb has gone off.
    """
    limit = min(info.file_size, settings.MAX_AUDIO_FILE_MB * MB, budget.left)
    with tempfile.TemporaryFile(prefix="harken-upload-") as spool:
        written = 0
        try:
            with archive.open(info) as stream:
                while block := stream.read(_COPY_BLOCK):
                    written += len(block)
                    if written > limit:
                        raise UploadError(
                            f"{filename!r} unpacks to more than its directory says "
                            f"({info.filename}); it is damaged or a ZIP bomb, and was refused."
                        )
                    spool.write(block)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
            raise _MemberError(f"Cannot unpack it ({exc}).") from None
        budget.left -= written
        spool.seek(0)
        yield spool


def _zip_members(upload: IO[bytes], filename: str, report: AudioImportReport) -> list[_Member]:
    """A ZIP's audio members, after checking the member count and the unpacked size from the
    directory; each is unpacked only when it is decoded (see ``_unpacked``)."""
    max_members = settings.MAX_ZIP_MEMBERS
    max_unpacked = settings.MAX_UNZIPPED_MB * MB
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{filename!r} is not a readable ZIP file ({exc}).") from None
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
    budget = _Budget(max_unpacked)
    members: list[_Member] = []
    for info in infos:
        if info.is_dir():
            continue
        if _junk(info.filename):
            report.skipped.append(info.filename)
            continue
        opener = functools.partial(_unpacked, archive, info, filename, budget)
        members.append(_Member(info.filename, info.file_size, opener))
    return members


@contextmanager
def _as_is(upload: Any) -> Iterator[IO[bytes]]:
    """A loose uploaded file, read where Django put it (memory or a temporary file)."""
    stream = getattr(upload, "file", upload)
    stream.seek(0)
    yield stream


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
            size = int(getattr(upload, "size", 0) or 0)
            members.append(_Member(name, size, functools.partial(_as_is, upload)))
    return members


def _member_sha256(member: _Member) -> str:
    """The sha256 of a member's bytes, read in blocks (never whole into memory)."""
    if member.size > settings.MAX_AUDIO_FILE_MB * MB:
        raise UnreadableAudioError(
            f"{member.name!r} is {member.size / MB:.0f} MB; the limit per recording is "
            f"{settings.MAX_AUDIO_FILE_MB} MB (MAX_AUDIO_FILE_MB)."
        )
    digest = hashlib.sha256()
    try:
        with member.open() as stream:
            for block in iter(lambda: stream.read(_COPY_BLOCK), b""):
                digest.update(block)
    except _MemberError as exc:
        raise UnreadableAudioError(str(exc)) from None
    return digest.hexdigest()


def _decode(member: _Member, study: Study, *, as_is: bool = False) -> Any:
    """Decode and process one member; every way it can fail is an ``UnreadableAudioError``
    (or ``SilentAudioError``) with words for the researcher, never a 500. ``as_is``: measure
    the file as it is (a recipe's own processed clip) instead of processing it."""
    max_file = settings.MAX_AUDIO_FILE_MB
    if member.size > max_file * MB:
        raise UnreadableAudioError(
            f"{member.name!r} is {member.size / MB:.0f} MB; the limit per recording is "
            f"{max_file} MB (MAX_AUDIO_FILE_MB). A stimulus is one sentence: cut or compress it."
        )
    try:
        with member.open() as stream:
            samples, rate = decode_audio(
                stream,
                member.name,
                max_seconds=settings.MAX_CLIP_SECONDS,
                max_sample_rate=settings.MAX_UPLOAD_SAMPLE_RATE,
                max_channels=settings.MAX_UPLOAD_CHANNELS,
            )
        if as_is:
            return _measured_as_is(samples, rate)
        return postprocess(
            samples,
            rate,
            target_lufs=study.loudness_target_lufs,
            target_sample_rate=study.sample_rate,
        )
    except _MemberError as exc:
        raise UnreadableAudioError(str(exc)) from None
    except MemoryError:
        raise UnreadableAudioError(
            f"{member.name!r} is too large to process; upload a shorter, mono recording."
        ) from None


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


def _mismatch(system: System, key: str, found: str, expected: str) -> str:
    return (
        f"its sha256 is {found}, but the recipe this study was made from gives {expected} for "
        f"system '{system.name}', sentence '{key}', so it is not the same recording and was not "
        "stored. Upload the file from the original study's recipe bundle (its "
        f"audio/.../{key} file), or, to use other recordings, delete this system and add it "
        "again (a new system has no recipe to match)."
    )


def _measured_as_is(samples: np.ndarray, rate: int) -> ProcessedAudio:
    """The measurements of a file stored as it is (the recipe's own processed clip)."""
    mono = to_mono(samples)
    if not np.any(mono):
        raise SilentAudioError("the file is silent.")
    return measured(mono, rate)


def system_audio_import(*, system: System, files: Iterable[Any]) -> AudioImportReport:
    """Store uploaded recordings as the clips of an uploaded or reference system.

    ``files``: uploaded file objects (``.name``, ``.size``, ``.read()``), each a ZIP or one audio
    file named ``<sentence key>.<wav|flac|mp3|ogg>``. Each file is decoded, resampled to the
    study's rate, trimmed and loudness-normalised to the study's target like synthesised clips,
    and written as FLAC under the clip's opaque name. Returns what happened to every file; a
    matching file that cannot be used marks its clip failed with the reason.
    """
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

    # A study made from a recipe: each recording must be the file the recipe names.
    expected = dict(
        Clip.objects.filter(system=system)
        .exclude(expected_sha256="")
        .values_list("sentence__key", "expected_sha256")
    )

    # Decode and process outside any transaction: this is the slow part. One member at a time,
    # so at most one recording is unpacked or decoded at any moment.
    ready: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for key, member in sorted(matched.items()):
        try:
            if key in expected:
                found = _member_sha256(member)
                if found != expected[key]:
                    report.mismatched.append(
                        {
                            "file": member.name,
                            "key": key,
                            "error": _mismatch(system, key, found, expected[key]),
                        }
                    )
                    continue
                # The recipe's own file is already the processed clip: stored byte for byte,
                # so this study's clips (and its recipe) carry the original's sha256.
                processed = _decode(member, study, as_is=True)
                with member.open() as stream:
                    data = stream.read()
                suffix = PurePosixPath(member.name).suffix.lower()
                ready[key] = (processed, data, f"audio{suffix}")
                continue
            processed = _decode(member, study)
        except SilentAudioError as exc:
            report.silent.append({"file": member.name, "key": key, "error": str(exc)})
            failed[key] = f"{member.name}: {exc}"
            continue
        except (UnreadableAudioError, ValueError) as exc:
            report.unreadable.append({"file": member.name, "key": key, "error": str(exc)})
            failed[key] = f"{member.name}: {exc}"
            continue
        ready[key] = (
            processed,
            encode_flac(processed.samples, processed.sample_rate),
            "audio.flac",
        )

    with transaction.atomic():
        study = study_lock_unfrozen(study, "its clips")
        study_clips_ensure(study=study)
        clips = {
            c.sentence.key: c for c in Clip.objects.select_related("sentence").filter(system=system)
        }
        now = timezone.now()
        for key, (processed, data, filename) in ready.items():
            clip = clips[key]
            storage = clip.audio.storage
            if clip.audio:
                clip.audio.delete(save=False)
            # Same opaque name on a second upload: remove a leftover so the name stays the token.
            target = clip.audio.field.generate_filename(clip, filename)
            if storage.exists(target):
                storage.delete(target)
            clip.audio.save(filename, ContentFile(data), save=False)
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
