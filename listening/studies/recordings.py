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

Every size limit (``MAX_UPLOAD_MB``, the unpacked size and member count of a ZIP) is checked
before anything is decoded or stored.
"""

from __future__ import annotations

import hashlib
import logging
import math
import zipfile
from collections.abc import Iterable
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
    detect_clipping,
    encode_flac,
    measure_loudness,
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


def _mismatch(system: System, key: str, found: str, expected: str) -> str:
    return (
        f"its sha256 is {found}, but the recipe this study was made from gives {expected} for "
        f"system '{system.name}', sentence '{key}', so it is not the same recording and was not "
        "stored. Upload the file from the original study's recipe bundle (its "
        f"audio/.../{key} file), or, to use other recordings, delete this system and add it "
        "again (a new system has no recipe to match)."
    )


def _as_is(samples: np.ndarray, rate: int) -> ProcessedAudio:
    """The measurements of a file stored as it is (the recipe's own processed clip)."""
    mono = to_mono(samples)
    if not mono.size or not np.any(mono):
        raise SilentAudioError("the file is silent.")
    peak = float(np.max(np.abs(mono)))
    return ProcessedAudio(
        samples=mono,
        sample_rate=rate,
        duration_s=mono.size / rate,
        loudness_lufs=measure_loudness(mono, rate),
        peak_dbfs=20.0 * math.log10(peak),
        clipped=detect_clipping(mono),
    )


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
    max_seconds = settings.MAX_CLIP_SECONDS

    # A study made from a recipe: each recording must be the file the recipe names.
    expected = dict(
        Clip.objects.filter(system=system)
        .exclude(expected_sha256="")
        .values_list("sentence__key", "expected_sha256")
    )

    # Decode and process outside any transaction: this is the slow part.
    ready: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for key, member in sorted(matched.items()):
        if key in expected:
            found = hashlib.sha256(member.data).hexdigest()
            if found != expected[key]:
                report.mismatched.append(
                    {
                        "file": member.name,
                        "key": key,
                        "error": _mismatch(system, key, found, expected[key]),
                    }
                )
                continue
        try:
            samples, rate = decode_audio(member.data, member.name)
            if samples.shape[0] > max_seconds * rate:
                raise UnreadableAudioError(
                    f"{member.name!r} is {samples.shape[0] / rate:.0f} s long; a stimulus is one "
                    f"sentence of at most {max_seconds} s."
                )
            if key in expected:
                # The recipe's own file is already the processed clip: stored byte for byte,
                # so this study's clips (and its recipe) carry the original's sha256.
                suffix = PurePosixPath(member.name).suffix.lower()
                ready[key] = (_as_is(samples, rate), member.data, f"audio{suffix}")
                continue
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
