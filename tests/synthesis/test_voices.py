"""Voices become engines once per process: Piper from the bundle, an upload or a path; vocoders
whose file is not what the voice says are refused; clips of every engine become ready."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import soundfile as sf
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from listening.models import Clip, Sentence, Study, System
from listening.studies.lifecycle import study_clips_ensure
from synthesis.clips import voice_clips_synthesize
from synthesis.engine.piper import bundled_voice
from synthesis.models import Voice
from synthesis.voices import VoiceUnavailable, voice_load
from tests.factories import SENTENCES
from tests.synthesis.engine.conftest import Builders


def piper_voice(**fields) -> Voice:
    return Voice.objects.create(engine=Voice.Engine.PIPER, **{"name": "joe", **fields})


def study_with(voice: Voice, n_sentences: int = 2) -> System:
    owner, _ = get_user_model().objects.get_or_create(username="researcher")
    study = Study.objects.create(owner=owner, slug="piper", title="piper")
    Sentence.objects.bulk_create(
        Sentence(study=study, key=f"s{i}", text=SENTENCES[i], position=i)
        for i in range(n_sentences)
    )
    system = System.objects.create(study=study, name="piper", kind=System.Kind.VOICE, voice=voice)
    study_clips_ensure(study=study)
    return system


def test_the_bundled_piper_voice_needs_no_set_up(db):
    loaded = voice_load(piper_voice(piper_bundle=Voice.PiperBundle.JOE))
    assert loaded.engine == "piper" and loaded.sample_rate == 22050 and loaded.device == "cpu"


def test_the_voice_is_loaded_once_per_process(db):
    voice = piper_voice(piper_bundle=Voice.PiperBundle.JOE)
    assert voice_load(voice) is voice_load(voice)


def test_an_uploaded_pair_loads(db):
    model, config = bundled_voice()
    voice = piper_voice(
        piper_model_file=ContentFile(model.read_bytes(), name="en_US-joe-medium.onnx"),
        piper_config_file=ContentFile(config.read_bytes(), name="en_US-joe-medium.onnx.json"),
    )
    voice.full_clean()
    loaded = voice_load(voice)
    assert loaded.impl.settings["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()


def test_a_path_on_the_worker_loads_with_its_config_beside_it(db):
    model, _ = bundled_voice()
    assert voice_load(piper_voice(piper_model_path=str(model))).engine == "piper"


def test_a_mismatched_uploaded_config_fails_the_voice_with_the_files_name(db):
    model, config = bundled_voice()
    wrong = config.read_text(encoding="utf-8").replace('"num_speakers": 1', '"num_speakers": 3')
    voice = piper_voice(
        piper_model_file=ContentFile(model.read_bytes(), name="joe.onnx"),
        piper_config_file=ContentFile(wrong.encode(), name="joe.onnx.json"),
    )
    with pytest.raises(VoiceUnavailable, match=r"Voice 'joe': .*joe.*\.onnx\.json does not belong"):
        voice_load(voice)


def test_a_missing_path_says_how_to_supply_the_voice(db):
    with pytest.raises(VoiceUnavailable, match="does not exist on this worker.*upload both"):
        voice_load(piper_voice(piper_model_path="/nowhere/voice.onnx"))


def test_speaker_and_scales_come_from_the_voice(db):
    voice = piper_voice(
        piper_bundle=Voice.PiperBundle.JOE, options={"length_scale": 1.2, "noise_w": 0.5}
    )
    settings = voice_load(voice).impl.settings
    assert settings["length_scale"] == 1.2 and settings["noise_w"] == 0.5
    with pytest.raises(VoiceUnavailable, match="single-speaker"):
        voice_load(piper_voice(name="multi", piper_bundle="en_US-joe-medium", piper_speaker="2"))


def test_piper_clips_become_ready_and_the_same_seed_gives_the_same_clip(db):
    system = study_with(piper_voice(piper_bundle=Voice.PiperBundle.JOE))
    ids = list(system.clips.values_list("id", flat=True))
    assert voice_clips_synthesize(system_id=system.id, clip_ids=ids) == 2
    clip = Clip.objects.get(id=ids[0])
    assert clip.status == Clip.Status.READY and clip.device == "cpu"
    with clip.audio.open("rb") as fh:
        first, rate = sf.read(io.BytesIO(fh.read()), dtype="float32")
    assert rate == system.study.sample_rate and 1.0 < clip.duration_s < 4.0
    Clip.objects.filter(id=clip.id).update(status=Clip.Status.PENDING)
    assert voice_clips_synthesize(system_id=system.id, clip_ids=[clip.id]) == 1
    clip.refresh_from_db()
    with clip.audio.open("rb") as fh:
        again, _ = sf.read(io.BytesIO(fh.read()), dtype="float32")
    assert np.array_equal(first, again)


def test_a_vocoder_file_of_another_kind_than_the_voice_says_is_refused(db, tmp_path):
    build = Builders(tmp_path)
    acoustic = build.save(build.tacotron2(seed=1).state_dict(), "tacotron2.pth")
    waveglow = build.waveglow_deep_learning_examples(build.waveglow())
    voice = Voice.objects.create(
        name="t2",
        engine=Voice.Engine.TACOTRON2,
        acoustic_path=str(acoustic),
        vocoder=Voice.Vocoder.HIFIGAN,
        vocoder_path=str(waveglow),
    )
    with pytest.raises(VoiceUnavailable, match="is a WaveGlow.*voice says HiFi-GAN"):
        voice_load(voice)
    Voice.objects.filter(pk=voice.pk).update(vocoder=Voice.Vocoder.WAVEGLOW)
    voice.refresh_from_db()
    assert voice_load(voice).impl.vocoder.kind == "waveglow"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "piper_bundle", "exactly one source"),
        (
            {"piper_bundle": "en_US-joe-medium", "piper_model_path": "/x.onnx"},
            "piper_bundle",
            "found 2",
        ),
        ({"piper_model_file": ContentFile(b"x", name="v.onnx")}, "piper_config_file", "both"),
        (
            {"piper_model_url": "https://example.org/v.onnx", "piper_model_sha256": "a" * 64},
            "piper_config_url",
            "sha256s",
        ),
        (
            {"piper_bundle": "en_US-joe-medium", "options": {"noise_scale": 9}},
            "options",
            "noise_scale",
        ),
    ],
)
def test_admin_validation_of_piper_voices(fields, field, message):
    voice = Voice(name="v", engine=Voice.Engine.PIPER, **fields)
    with pytest.raises(ValidationError) as caught:
        voice.clean()
    assert message in str(caught.value.message_dict[field])
