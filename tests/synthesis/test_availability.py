"""A voice that cannot work is found out when it is chosen, with what is missing and its fix:
bundle weights absent, files missing or empty, a file of the wrong network, a cached download
with another sha256, a vocoder trained on other mel settings, a Piper voice without its
.onnx.json. Real checkpoint files, no mocks."""

from __future__ import annotations

import hashlib

import pytest
import torch
import yaml
from django.core.files.base import ContentFile

from listening.studies.demo import tacotron2_default_voice_ensure
from synthesis.availability import BUNDLE_FILES, voice_availability, voice_symbol_set
from synthesis.engine.piper import bundled_voice
from synthesis.models import Voice
from tests.synthesis.engine.conftest import Builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(tmp_path) -> Builders:
    return Builders(tmp_path)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def tacotron2(name: str = "taco", **fields) -> Voice:
    return Voice.objects.create(name=name, engine=Voice.Engine.TACOTRON2, **fields)


def test_the_default_tacotron2_voice_without_weights_is_unavailable(torch_home, settings):
    settings.TORCH_BUNDLES_FETCHABLE = False
    found = voice_availability(tacotron2_default_voice_ensure())
    assert not found.ok
    problem = found.problems[0]
    assert "tacotron2_english_characters_1500_epochs_ljspeech.pth" in problem
    assert str(torch_home / "hub" / "checkpoints") in problem
    assert "TORCH_BUNDLES_FETCHABLE" in problem and "upload" in problem


def test_the_default_voice_is_available_once_its_weights_are_in_the_hub_cache(
    torch_home, build, settings
):
    settings.TORCH_BUNDLES_FETCHABLE = False
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    weights = BUNDLE_FILES["TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH"]
    build.save(build.tacotron2().state_dict(), weights).rename(cache / weights)
    assert voice_availability(tacotron2_default_voice_ensure()).ok


def test_a_bundle_that_may_be_fetched_is_available_with_a_note(torch_home, settings):
    settings.TORCH_BUNDLES_FETCHABLE = True
    found = voice_availability(tacotron2_default_voice_ensure())
    assert found.ok and "first use" in found.notes[0]


def test_a_missing_acoustic_path_is_named(tmp_path):
    found = voice_availability(tacotron2(acoustic_path=str(tmp_path / "gone.pt")))
    assert not found.ok
    assert "gone.pt does not exist on this machine" in found.problems[0]


def test_a_real_tacotron2_checkpoint_with_griffinlim_is_available(build):
    path = build.save(build.tacotron2().state_dict(), "taco.pt")
    assert voice_availability(tacotron2(acoustic_path=str(path))).ok


def test_an_nvidia_checkpoint_is_recognised(build):
    path = build.nvidia_checkpoint(build.nvidia_tacotron2(), module_prefix=True)
    assert voice_availability(tacotron2(acoustic_path=str(path))).ok


def test_a_vocoder_given_as_the_acoustic_model_is_refused_by_its_keys(build):
    path = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v1))
    found = voice_availability(tacotron2(acoustic_path=str(path)))
    assert "is a HiFi-GAN generator, not a Tacotron2 checkpoint" in found.problems[0]


def test_an_empty_and_a_garbage_file_are_refused(build):
    empty = build.path("empty.pt")
    empty.write_bytes(b"")
    garbage = build.path("garbage.pt")
    garbage.write_bytes(b"<html>404 Not Found</html>")
    assert (
        "is empty (0 bytes)"
        in voice_availability(tacotron2("a", acoustic_path=str(empty))).problems[0]
    )
    found = voice_availability(tacotron2("b", acoustic_path=str(garbage)))
    assert "is not a PyTorch checkpoint" in found.problems[0]


def test_a_vocoder_file_of_another_kind_than_the_voice_says(build):
    acoustic = build.save(build.tacotron2().state_dict(), "taco.pt")
    glow = build.save(build.waveglow().state_dict(), "waveglow.pt")
    found = voice_availability(
        tacotron2(
            acoustic_path=str(acoustic), vocoder=Voice.Vocoder.HIFIGAN, vocoder_path=str(glow)
        )
    )
    assert "is a WaveGlow, not a HiFi-GAN generator" in found.problems[0]
    assert "set the voice's vocoder to a WaveGlow" in found.problems[0]


def test_a_vocoder_trained_on_other_mel_settings_is_refused(build):
    acoustic = build.save(build.tacotron2().state_dict(), "taco.pt")
    generator = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v1))
    voice = tacotron2(
        acoustic_path=str(acoustic),
        vocoder=Voice.Vocoder.HIFIGAN,
        vocoder_path=str(generator),
        vocoder_config=build.hifigan_json(build.small_v1, sampling_rate=16000),
    )
    found = voice_availability(voice)
    assert len(found.problems) == 1
    assert "sample_rate 16000 (Tacotron2: 22050)" in found.problems[0]
    voice.vocoder_config = build.hifigan_json(build.small_v1)
    assert voice_availability(voice).ok


def test_a_cached_download_with_another_sha256_is_refused(build, settings):
    settings.CHECKPOINT_CACHE_DIR = build.path("cache")
    build.path("cache").mkdir()
    expected = "0" * 64
    (build.path("cache") / expected).write_bytes(b"not the file")
    voice = tacotron2(acoustic_url="https://example.org/t.pt", acoustic_sha256=expected)
    assert "does not have the sha256" in voice_availability(voice).problems[0]


def test_a_url_not_yet_fetched_is_a_note_not_a_problem(build, settings):
    settings.CHECKPOINT_CACHE_DIR = build.path("cache")
    voice = tacotron2(acoustic_url="https://example.org/t.pt", acoustic_sha256="1" * 64)
    found = voice_availability(voice)
    assert found.ok and "fetched from https://example.org/t.pt on first use" in found.notes[0]


def test_a_correct_cached_download_is_checked_and_available(build, settings):
    settings.CHECKPOINT_CACHE_DIR = build.path("cache")
    build.path("cache").mkdir()
    data = build.save(build.tacotron2().state_dict(), "t.pt").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    (build.path("cache") / digest).write_bytes(data)
    voice = tacotron2(acoustic_url="https://example.org/t.pt", acoustic_sha256=digest)
    assert voice_availability(voice).ok


def test_an_uploaded_checkpoint_is_read_from_storage(build):
    data = build.save(build.tacotron2().state_dict(), "t.pt").read_bytes()
    voice = tacotron2(acoustic_file=ContentFile(data, name="t.pt"))
    assert voice_availability(voice).ok
    voice.acoustic_file.storage.delete(voice.acoustic_file.name)
    assert "missing from storage" in voice_availability(voice).problems[0]


def test_espeak_and_the_bundled_piper_voice_are_available():
    espeak = Voice.objects.create(name="e", engine=Voice.Engine.ESPEAK)
    joe = Voice.objects.create(
        name="joe", engine=Voice.Engine.PIPER, piper_bundle=Voice.PiperBundle.JOE
    )
    assert voice_availability(espeak).ok and voice_availability(joe).ok


def test_a_piper_path_without_its_json_is_refused(tmp_path):
    model, _config = bundled_voice()
    copy = tmp_path / "voice.onnx"
    copy.write_bytes(model.read_bytes())
    voice = Voice.objects.create(name="p", engine=Voice.Engine.PIPER, piper_model_path=str(copy))
    found = voice_availability(voice)
    assert "voice.onnx.json does not exist on this machine" in found.problems[0]
    (tmp_path / "voice.onnx.json").write_text("{not json")
    assert not voice_availability(voice).ok
    (tmp_path / "voice.onnx.json").write_bytes(_config.read_bytes())
    assert voice_availability(voice).ok


def test_worker_paths_are_taken_on_trust_when_the_web_cannot_see_them(tmp_path, settings):
    settings.VOICE_PATHS_ON_WEB = False
    found = voice_availability(tacotron2(acoustic_path=str(tmp_path / "on-the-worker.pt")))
    assert found.ok and "checked by the worker" in found.notes[0]


def test_a_parallel_wavegan_is_checked_with_its_experiment_files(build):
    acoustic = build.save(build.tacotron2().state_dict(), "taco.pt")
    matching = build.pwg_config_yml(fmin=0, fmax=8000)
    path = build.pwg_checkpoint(yml=matching)
    voice = tacotron2(
        acoustic_path=str(acoustic), vocoder=Voice.Vocoder.PWG, vocoder_path=str(path)
    )
    assert voice_availability(voice).ok, voice_availability(voice).problems
    # The ljspeech recipe's own config.yml (fmin 80, fmax 7600): the engine refuses the pair.
    (path.parent / "config.yml").write_text(yaml.safe_dump(build.pwg_config_yml()))
    (problem,) = voice_availability(voice).problems
    assert "f_min 80 (Tacotron2: 0)" in problem and "f_max 7600 (Tacotron2: 8000)" in problem
    (path.parent / "config.yml").unlink()
    (path.parent / "stats.npy").unlink()
    problems = voice_availability(voice).problems
    assert "No stats.npy (or stats.h5) beside" in problems[0]
    assert "No config.yml beside" in problems[1]


def test_the_admin_shows_what_a_voice_is_missing(admin_client, torch_home, settings):
    settings.TORCH_BUNDLES_FETCHABLE = False
    voice = tacotron2_default_voice_ensure()
    listing = admin_client.get("/admin/synthesis/voice/").content.decode()
    assert 'alt="False"' in listing
    change = admin_client.get(f"/admin/synthesis/voice/{voice.pk}/change/").content.decode()
    assert "tacotron2_english_characters_1500_epochs_ljspeech.pth" in change


# --- The symbol set read off the checkpoint -----------------------------------------------------


def test_detect_reads_the_symbol_set_off_the_embedding_in_every_layout(build, tmp_path):
    nvidia = build.nvidia_checkpoint(build.nvidia_tacotron2(), module_prefix=True)
    dle = build.nvidia_checkpoint(
        build.nvidia_tacotron2(), "dle.pt", deep_learning_examples_metadata=True
    )
    chars = build.save(build.tacotron2().state_dict(), "chars.pt")
    legacy = tmp_path / "legacy.pt"  # torch's pre-zip format, as old checkpoints are
    torch.save(
        {"state_dict": build.nvidia_tacotron2().state_dict()},
        legacy,
        _use_new_zipfile_serialization=False,
    )
    for path, expected in (
        (nvidia, "nvidia"),
        (dle, "nvidia"),
        (legacy, "nvidia"),
        (chars, "torchaudio"),
    ):
        voice = tacotron2(path.name, acoustic_path=str(path))
        assert voice.symbol_set == Voice.SymbolSet.AUTO
        assert voice_symbol_set(voice) == expected, path.name
        found = voice_availability(voice)
        assert found.ok, found.problems
        assert f"Symbol set detected from the checkpoint: {expected}" in " ".join(found.notes)


def test_detect_gives_nothing_when_the_file_cannot_be_read_here(tmp_path, settings):
    assert voice_symbol_set(tacotron2(acoustic_path=str(tmp_path / "gone.pt"))) is None
    settings.VOICE_PATHS_ON_WEB = False
    assert voice_symbol_set(tacotron2("elsewhere", acoustic_path="/worker/t.pt")) is None
    explicit = tacotron2("set", acoustic_path="/worker/t.pt", symbol_set="nvidia")
    assert voice_symbol_set(explicit) == "nvidia"
    assert voice_symbol_set(tacotron2_default_voice_ensure()) == "torchaudio"


def test_a_symbol_set_that_contradicts_the_checkpoint_is_a_problem(build):
    path = build.nvidia_checkpoint(build.nvidia_tacotron2())
    found = voice_availability(tacotron2(acoustic_path=str(path), symbol_set="torchaudio"))
    assert not found.ok
    problem = found.problems[0]
    assert "embeds 148 symbols (the 'nvidia' set)" in problem
    assert "Detect from the checkpoint" in problem


def test_a_phoneme_checkpoint_is_refused_by_its_symbol_count(build):
    path = build.save(build.tacotron2(build.params(n_symbol=96)).state_dict(), "phonemes.pt")
    found = voice_availability(tacotron2(acoustic_path=str(path)))
    assert not found.ok
    assert "embeds 96 symbols" in found.problems[0]
    assert "nvidia (148), torchaudio (38)" in found.problems[0]
