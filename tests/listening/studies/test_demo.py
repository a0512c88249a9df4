"""The demo study `make run` loads: a neural voice (Piper) against eSpeak NG and MNRU anchors
derived from the neural voice; its Piper clips become real speech with no download."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from listening.models import Clip, System
from listening.studies.demo import (
    HARVARD_SENTENCES,
    demo_study_ensure,
    piper_default_voice_ensure,
)
from synthesis.availability import BUNDLE_FILES
from synthesis.clips import anchor_clips_derive, voice_clips_synthesize
from synthesis.models import Voice
from tests.factories import ResearcherFactory
from tests.synthesis.engine.conftest import Builders


def test_the_demo_compares_the_piper_voice_with_espeak_and_anchors(db):
    study, created = demo_study_ensure(owner=ResearcherFactory())
    assert created
    systems = {s.name: s for s in study.systems.select_related("voice", "anchor_source")}
    piper = systems["piper-joe"]
    assert piper.kind == System.Kind.VOICE
    assert piper.voice.engine == Voice.Engine.PIPER
    assert piper.voice.piper_bundle == Voice.PiperBundle.JOE
    assert systems["espeak-ng"].voice.engine == Voice.Engine.ESPEAK
    anchors = [s for s in systems.values() if s.kind == System.Kind.ANCHOR]
    assert sorted(a.anchor_q_db for a in anchors) == [5.0, 15.0, 25.0]
    # MNRU degrades the most natural speech of the study (see listening/studies/demo.py).
    assert {a.anchor_source for a in anchors} == {piper}
    assert "Piper" in study.title
    assert piper.clips.count() == len(HARVARD_SENTENCES)


def test_the_piper_voice_is_made_once_and_an_admins_edits_stay(db):
    demo_study_ensure(owner=ResearcherFactory())
    voice = Voice.objects.get(engine=Voice.Engine.PIPER)
    Voice.objects.filter(pk=voice.pk).update(options={"length_scale": 1.2})
    assert piper_default_voice_ensure().options == {"length_scale": 1.2}
    assert Voice.objects.filter(engine=Voice.Engine.PIPER).count() == 1


def test_the_demos_piper_clips_become_speech_and_its_anchors_follow(db):
    study, _ = demo_study_ensure(owner=ResearcherFactory())
    piper = study.systems.get(name="piper-joe")
    ids = list(piper.clips.values_list("id", flat=True))
    assert voice_clips_synthesize(system_id=piper.id, clip_ids=ids) == len(HARVARD_SENTENCES)
    clips = list(piper.clips.select_related("sentence"))
    assert all(c.status == Clip.Status.READY for c in clips), [c.error for c in clips]
    # A Harvard sentence is 2-3 s of speech. (How fast they are made is benchmarks/synthesis.py's
    # question: a shared machine's load would make a timing assertion flaky.)
    assert 30 < sum(c.duration_s for c in clips) < 80
    for clip in clips:
        with clip.audio.open("rb") as fh:
            samples, rate = sf.read(io.BytesIO(fh.read()), dtype="float32")
        assert rate == study.sample_rate == 22050
        assert 0.04 < clip.duration_s / len(clip.sentence.text) < 0.12
        assert np.sqrt(np.mean(samples**2)) > 0.01

    q5 = study.systems.get(name="mnru-q5")
    anchor_ids = list(q5.clips.values_list("id", flat=True))
    assert anchor_clips_derive(system_id=q5.id, clip_ids=anchor_ids) == len(HARVARD_SENTENCES)
    anchor = q5.clips.select_related("sentence").first()
    source = piper.clips.get(sentence=anchor.sentence)
    assert anchor.duration_s == source.duration_s
    assert anchor.provenance["source_clip"] == source.token
    assert anchor.provenance["source"]["settings"]["engine"] == "piper"


# --- The Tacotron2 voice joins only when the systems page would call it available ----------------


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, settings):
    """An empty torch hub cache, and no fetching: the demo of a machine with no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    settings.TORCH_BUNDLES_FETCHABLE = False
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    return cache


def demo_system_names() -> set[str]:
    study, _ = demo_study_ensure(owner=ResearcherFactory())
    return set(study.systems.values_list("name", flat=True))


def test_without_its_weights_the_tacotron2_voice_stays_out(db, hub_cache):
    assert "tacotron2-griffinlim" not in demo_system_names()


def test_with_its_weights_in_the_hub_cache_the_tacotron2_voice_joins(db, hub_cache, tmp_path):
    build = Builders(tmp_path)
    weights = BUNDLE_FILES["TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH"]
    build.save(build.tacotron2().state_dict(), weights).rename(hub_cache / weights)
    assert "tacotron2-griffinlim" in demo_system_names()


def test_a_truncated_weight_file_keeps_the_tacotron2_voice_out(db, hub_cache):
    # A download cut off at 0 bytes has the right name; the voice check sees it cannot load.
    (hub_cache / BUNDLE_FILES["TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH"]).write_bytes(b"")
    assert "tacotron2-griffinlim" not in demo_system_names()


def test_fetchable_bundles_let_the_tacotron2_voice_join(db, hub_cache, settings):
    settings.TORCH_BUNDLES_FETCHABLE = True
    assert "tacotron2-griffinlim" in demo_system_names()
