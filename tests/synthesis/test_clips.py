"""Synthesis services (synthesis/clips.py): clips become ready FLAC files, idempotently; MNRU
anchors follow their source; a voice that cannot load fails every clip with how to fix it."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from django.conf import settings

from listening.models import Clip, System
from listening.studies.demo import tacotron2_default_voice_ensure
from listening.studies.lifecycle import study_clips_ensure
from synthesis.clips import anchor_clips_derive, voice_clips_synthesize
from synthesis.models import Voice
from tests.factories import clips_of, espeak_study


def read_clip(clip: Clip) -> tuple[np.ndarray, int]:
    with clip.audio.open("rb") as fh:
        return sf.read(io.BytesIO(fh.read()), dtype="float32")


def test_espeak_clips_become_loudness_normalised_flac(db):
    study = espeak_study(n_sentences=3)
    system = study.systems.get()
    ids = list(system.clips.values_list("id", flat=True))
    assert voice_clips_synthesize(system_id=system.id, clip_ids=ids) == 3
    for clip in clips_of(study):
        assert clip.status == Clip.Status.READY, clip.error
        # Opaque: the token alone names the file, nothing of the system or sentence.
        assert clip.audio.name == f"clips/{clip.token[:2]}/{clip.token}.flac"
        samples, sr = read_clip(clip)
        assert sr == study.sample_rate == clip.sample_rate
        assert abs(len(samples) / sr - clip.duration_s) < 1e-3
        assert 1.0 < clip.duration_s < 5.0
        assert abs(clip.loudness_lufs - study.loudness_target_lufs) < 1.0
        assert clip.device == "cpu" and clip.synthesis_seconds > 0 and clip.attempts == 1


def test_running_again_skips_ready_clips_and_keeps_their_files(db):
    study = espeak_study(n_sentences=2)
    system = study.systems.get()
    ids = list(system.clips.values_list("id", flat=True))
    voice_clips_synthesize(system_id=system.id, clip_ids=ids)
    before = {c.id: (c.audio.name, c.audio.read()) for c in clips_of(study)}
    assert voice_clips_synthesize(system_id=system.id, clip_ids=ids) == 0
    after = {c.id: (c.audio.name, c.audio.read()) for c in clips_of(study)}
    assert before == after
    assert set(clips_of(study).values_list("attempts", flat=True)) == {1}


def test_same_seed_gives_the_same_audio(db):
    study = espeak_study(n_sentences=1)
    clip = clips_of(study).get()
    voice_clips_synthesize(system_id=clip.system_id, clip_ids=[clip.id])
    clip.refresh_from_db()
    first, _ = read_clip(clip)
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.PENDING)
    voice_clips_synthesize(system_id=clip.system_id, clip_ids=[clip.id])
    clip.refresh_from_db()
    second, _ = read_clip(clip)
    np.testing.assert_array_equal(first, second)


def test_missing_checkpoint_fails_every_clip_with_how_to_fix(db, tmp_path):
    study = espeak_study(n_sentences=2)
    voice = Voice.objects.create(
        name="taco-missing",
        engine=Voice.Engine.TACOTRON2,
        acoustic_path=str(tmp_path / "nowhere" / "tacotron2_statedict.pt"),
    )
    system = System.objects.create(study=study, name="taco", kind=System.Kind.VOICE, voice=voice)
    study_clips_ensure(study=study)
    ids = list(system.clips.values_list("id", flat=True))
    assert voice_clips_synthesize(system_id=system.id, clip_ids=ids) == 0
    for clip in system.clips.all():
        assert clip.status == Clip.Status.FAILED
        assert "does not exist on this worker" in clip.error
        assert "upload the file in the admin" in clip.error


def test_mnru_anchor_is_derived_from_the_source_clip(db):
    study = espeak_study(n_sentences=2, anchors=[5, 25])
    source = study.systems.get(kind="voice")
    voice_clips_synthesize(
        system_id=source.id, clip_ids=list(source.clips.values_list("id", flat=True))
    )
    noise_ratios = {}
    for anchor in study.systems.filter(kind="anchor"):
        ids = list(anchor.clips.values_list("id", flat=True))
        assert anchor_clips_derive(system_id=anchor.id, clip_ids=ids) == 2
        clip = anchor.clips.order_by("sentence__key").first()
        src = source.clips.get(sentence=clip.sentence)
        degraded, sr = read_clip(clip)
        clean, _ = read_clip(src)
        assert len(degraded) == len(clean)
        # Compare at equal loudness: the residual is the modulated noise.
        a = degraded / np.sqrt(np.mean(degraded**2))
        b = clean / np.sqrt(np.mean(clean**2))
        noise_ratios[anchor.anchor_q_db] = float(np.mean((a - b) ** 2))
    assert noise_ratios[5.0] > 5 * noise_ratios[25.0] > 0


def test_anchor_waits_for_its_source_and_fails_with_it(db):
    study = espeak_study(n_sentences=2, anchors=[15])
    anchor = study.systems.get(kind="anchor")
    first, second = anchor.clips.order_by("sentence__key")
    source_second = study.systems.get(kind="voice").clips.get(sentence=second.sentence)
    Clip.objects.filter(pk=source_second.pk).update(status=Clip.Status.FAILED, error="boom")
    assert anchor_clips_derive(system_id=anchor.id, clip_ids=[first.id, second.id]) == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Clip.Status.PENDING
    assert second.status == Clip.Status.FAILED and "source clip" in second.error


def test_default_voice_offline_fails_with_how_to_supply_checkpoints(db, monkeypatch):
    """torchaudio fetches the bundle's weights on first use; with no network that fails, and
    each clip says how to supply the checkpoint instead. The download is made to fail here so
    the test never fetches 100 MB on a connected machine."""
    import urllib.error

    import torch.hub

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setenv("TORCH_HOME", str(settings.VAR_DIR / "torch-home"))
    study = espeak_study(n_sentences=1)
    system = System.objects.create(
        study=study, name="taco", kind=System.Kind.VOICE, voice=tacotron2_default_voice_ensure()
    )
    study_clips_ensure(study=study)
    clip = system.clips.get()
    assert voice_clips_synthesize(system_id=system.id, clip_ids=[clip.id]) == 0
    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert "could not fetch the weights of TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH" in clip.error
    assert "seems to be offline" in clip.error and "acoustic path" in clip.error
