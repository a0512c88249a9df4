"""Recordings uploaded for a system: matched by sentence key, decoded, resampled, normalised,
stored as FLAC under opaque names; everything that cannot be used is listed
(listening.studies.recordings.system_audio_import)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import soundfile
from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from listening.errors import ServiceError, UploadError
from listening.models import Clip, Study, System
from listening.studies.recordings import system_audio_import
from synthesis.engine.audio import measure_loudness
from synthesis.models import Voice
from tests.factories import (
    SentenceFactory,
    StudyFactory,
    SystemFactory,
    audio_bytes,
    flac_declaring,
    zip_of,
)


def tone(seconds: float = 1.0, rate: int = 44100, channels: int = 1, level: float = 0.3):
    """A harmonic tone with a little noise: speech-like enough for loudness measurement."""
    rng = np.random.default_rng(int(seconds * 1000) + rate)
    t = np.arange(int(seconds * rate)) / rate
    wave = level * (np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t))
    wave = wave + 0.01 * rng.standard_normal(t.size)
    wave = wave.astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


@pytest.fixture
def study(ada):
    study = StudyFactory(owner=ada, slug="refs", title="Refs", sample_rate=16000)
    for i in range(1, 6):
        SentenceFactory(study=study, key=f"s00{i}", text=f"Sentence {i}.", position=i)
    return study


@pytest.fixture
def reference(study):
    return SystemFactory(study=study, name="natural", kind=System.Kind.REFERENCE, position=0)


def test_zip_of_recordings_is_stored_and_every_problem_listed(study, reference):
    archive = zip_of(
        {
            "refs/s001.wav": audio_bytes(tone(1.0, 44100, channels=2), 44100, "WAV", "PCM_16"),
            "refs/S002.FLAC": audio_bytes(tone(0.8, 22050), 22050, "FLAC"),
            "refs/extra.wav": audio_bytes(tone(0.5), 44100, "WAV"),
            "refs/notes.txt": b"recorded in booth 2",
            "refs/s003.wav": audio_bytes(np.zeros(16000, dtype=np.float32), 16000, "WAV"),
            "refs/s004.wav": b"RIFF....this is not a wave file",
            "__MACOSX/refs/._s001.wav": b"\x00\x05\x16\x07",
        }
    )
    report = system_audio_import(system=reference, files=[upload("refs.zip", archive)])
    assert sorted(report.stored) == ["s001", "s002"]
    assert report.unmatched[0] == "refs/extra.wav"
    assert "refs/notes.txt (not an audio file" in report.unmatched[1]
    assert [s["key"] for s in report.silent] == ["s003"]
    assert [u["key"] for u in report.unreadable] == ["s004"]
    assert "Could not read 'refs/s004.wav' as audio" in report.unreadable[0]["error"]
    assert report.missing == ["s003", "s004", "s005"]
    assert report.skipped == ["__MACOSX/refs/._s001.wav"]

    clips = {c.sentence.key: c for c in Clip.objects.filter(system=reference)}
    assert clips["s003"].status == Clip.Status.FAILED and "silent" in clips["s003"].error
    assert clips["s004"].status == Clip.Status.FAILED
    assert clips["s005"].status == Clip.Status.PENDING
    for key in ("s001", "s002"):
        clip = clips[key]
        assert clip.status == Clip.Status.READY
        # Opaque storage name: the clip's random token, never the key or the system.
        assert clip.token in clip.audio.name and key not in clip.audio.name.lower()
        assert clip.audio.name.endswith(".flac")
        with clip.audio.open("rb") as stream:
            samples, rate = soundfile.read(io.BytesIO(stream.read()), dtype="float32")
        assert rate == study.sample_rate == clip.sample_rate
        assert samples.ndim == 1
        assert abs(measure_loudness(samples, rate) - study.loudness_target_lufs) < 0.5
        assert clip.duration_s == pytest.approx(samples.size / rate, abs=1e-3)


def test_loose_files_in_several_formats(study, reference):
    files = [
        upload("s001.ogg", audio_bytes(tone(1.0, 48000), 48000, "OGG", "VORBIS")),
        upload("s002.mp3", audio_bytes(tone(1.0, 44100), 44100, "MP3", "MPEG_LAYER_III")),
        upload("s003.wav", audio_bytes(tone(1.0, 8000), 8000, "WAV", "PCM_24")),
    ]
    report = system_audio_import(system=reference, files=files)
    assert sorted(report.stored) == ["s001", "s002", "s003"]
    assert report.missing == ["s004", "s005"]


def test_two_files_for_one_sentence_are_listed_and_neither_used(study, reference):
    files = [
        upload("s001.wav", audio_bytes(tone(), 44100, "WAV")),
        upload("s001.flac", audio_bytes(tone(), 44100, "FLAC")),
    ]
    report = system_audio_import(system=reference, files=files)
    assert report.duplicates == [{"key": "s001", "files": ["s001.wav", "s001.flac"]}]
    assert report.stored == []


def test_a_second_upload_replaces_the_audio_under_the_same_name(study, reference):
    system_audio_import(
        system=reference, files=[upload("s001.wav", audio_bytes(tone(1.0), 44100, "WAV"))]
    )
    first = Clip.objects.get(system=reference, sentence__key="s001")
    system_audio_import(
        system=reference, files=[upload("s001.wav", audio_bytes(tone(2.0), 44100, "WAV"))]
    )
    second = Clip.objects.get(pk=first.pk)
    assert second.audio.name == first.audio.name
    assert second.duration_s > first.duration_s + 0.5


@override_settings(MAX_ZIP_MEMBERS=3)
def test_zip_with_too_many_members_is_refused_before_unpacking(study, reference):
    archive = zip_of({f"x{i}.wav": b"x" for i in range(4)})
    with pytest.raises(UploadError, match="holds 4 entries; the limit is 3"):
        system_audio_import(system=reference, files=[upload("many.zip", archive)])


@override_settings(MAX_UNZIPPED_MB=1)
def test_zip_bomb_is_refused_by_its_unpacked_size(study, reference):
    archive = zip_of({"s001.wav": bytes(3 * 1024 * 1024)})
    assert len(archive) < 50_000  # 3 MB of zeros compress to a few KB
    with pytest.raises(UploadError, match="would unpack to 3 MB; the limit is 1 MB"):
        system_audio_import(system=reference, files=[upload("bomb.zip", archive)])


def test_zip_member_whose_directory_lies_about_its_size_is_not_unpacked(study, reference):
    archive = bytearray(zip_of({"s001.wav": bytes(200_000)}))
    # Forge the central directory and the local header: claim 10 bytes unpacked. Reading
    # stops at the declared size, and the checksum of those bytes then fails.
    central = archive.rindex(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
    archive[22:26] = (10).to_bytes(4, "little")
    report = system_audio_import(system=reference, files=[upload("forged.zip", bytes(archive))])
    assert report.stored == []
    assert report.unreadable[0]["file"] == "s001.wav"
    assert "Cannot unpack it" in report.unreadable[0]["error"]


@override_settings(MAX_UPLOAD_MB=1)
def test_files_over_the_upload_limit_are_refused(study, reference):
    big = upload("s001.wav", bytes(2 * 1024 * 1024))
    with pytest.raises(UploadError, match="limit is 1 MB"):
        system_audio_import(system=reference, files=[big])
    assert not Clip.objects.filter(system=reference).exclude(audio="").exists()


def test_not_a_zip_is_refused(study, reference):
    with pytest.raises(UploadError, match="not a readable ZIP"):
        system_audio_import(system=reference, files=[upload("refs.zip", b"plain text")])


def test_voice_systems_take_no_uploads(study):
    voice = Voice.objects.create(name="espeak", engine=Voice.Engine.ESPEAK)
    system = System.objects.create(study=study, name="e", kind=System.Kind.VOICE, voice=voice)
    with pytest.raises(ServiceError, match="only for systems of kind 'uploaded' or 'reference'"):
        system_audio_import(
            system=system, files=[upload("s001.wav", audio_bytes(tone(), 44100, "WAV"))]
        )


def test_frozen_study_refuses_recordings(study, reference):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    reference.refresh_from_db()
    with pytest.raises(ServiceError, match="clips are frozen"):
        system_audio_import(
            system=reference, files=[upload("s001.wav", audio_bytes(tone(), 44100, "WAV"))]
        )


def test_completing_the_uploads_of_a_synthesising_study_makes_it_ready(study, reference):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.SYNTHESIZING)
    files = [
        upload(f"s00{i}.wav", audio_bytes(tone(0.6 + i / 10), 44100, "WAV")) for i in range(1, 6)
    ]
    report = system_audio_import(system=reference, files=files)
    assert report.problems == 0
    assert Study.objects.get(pk=study.pk).status == Study.Status.READY


# --- hostile uploads: refused from what they declare, with memory bounded ----------------------


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A ZIP whose member ``s001.wav`` is 399 MB of zeros (under the 400 MB total a ZIP may
    unpack to by default), built by streaming so the test itself stays small."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("s001.wav", "w") as stream,
    ):
        block = bytes(1024 * 1024)
        for _ in range(399):
            stream.write(block)
    return path


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (flac_declaring(30 * 60 * 16000, 16000), "declares 1800 s of audio"),
        (flac_declaring((1 << 36) - 1, 16000), "of at most 60 s"),
        (flac_declaring(60 * 655350, 655350, channels=8), "655350 Hz; the limit is 192000"),
    ],
    ids=["30-min", "2^36-frames", "655350-Hz-8-ch"],
)
def test_hostile_recordings_are_refused_from_their_header(study, reference, data, refusal):
    report = system_audio_import(system=reference, files=[upload("s001.flac", data)])
    assert report.stored == []
    assert report.unreadable[0]["key"] == "s001"
    assert refusal in report.unreadable[0]["error"]
    clip = Clip.objects.get(system=reference, sentence__key="s001")
    assert clip.status == Clip.Status.FAILED and refusal in clip.error


def test_zip_member_over_the_per_file_limit_is_refused_unread(study, reference, bomb):
    assert bomb.stat().st_size < 1024 * 1024  # 399 MB of zeros in well under 1 MB
    with bomb.open("rb") as stream:
        report = system_audio_import(system=reference, files=[File(stream, name="bomb.zip")])
    assert report.stored == []
    assert "is 399 MB; the limit per recording is 100 MB" in report.unreadable[0]["error"]


# Run in a child process whose address space is capped a little above what it needs after
# start-up: if any of these files were decoded or unpacked whole, the child would die of a
# MemoryError (or be unable to allocate at all) instead of printing its refusals.
_BOUNDED_IMPORT = r"""
import json, os, resource, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mos_site.settings")
django.setup()
from django.core.files import File
from listening.models import Study
from listening.studies.recordings import AudioImportReport, _decode, _read_uploads

def vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

headroom = int(sys.argv[1]) * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + headroom, resource.RLIM_INFINITY))
study = Study(sample_rate=16000, loudness_target_lufs=-26.0)
results = {}
for path in sys.argv[2:]:
    with open(path, "rb") as stream:
        report = AudioImportReport(system="x")
        for member in _read_uploads([File(stream, name=os.path.basename(path))], report):
            try:
                processed = _decode(member, study)
                results[member.name] = f"ok {processed.duration_s:.2f}"
            except ValueError as exc:
                results[member.name] = str(exc)
print(json.dumps(results))
"""


def test_hostile_uploads_are_refused_within_bounded_memory(tmp_path, bomb):
    files = {
        "s001.flac": flac_declaring(30 * 60 * 48000, 48000),
        "s002.flac": flac_declaring((1 << 36) - 1, 16000),
        "s003.flac": flac_declaring(60 * 655350, 655350, channels=8),
        "s004.wav": audio_bytes(tone(2.0, 48000, channels=2), 48000, "WAV"),  # a real one
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / name) for name in files] + [str(bomb)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.run(
        [sys.executable, "-c", _BOUNDED_IMPORT, "256", *paths],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=settings.BASE_DIR,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout.strip().splitlines()[-1])
    assert "declares 1800 s" in results["s001.flac"]
    assert "of at most 60 s" in results["s002.flac"]
    assert "655350 Hz" in results["s003.flac"]
    assert results["s004.wav"].startswith("ok ")
    assert "the limit per recording is 100 MB" in results["s001.wav"]
