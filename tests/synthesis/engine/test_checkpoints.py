"""Checkpoint loaders: every public layout loads; every broken file fails with a clear message."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json

import numpy as np
import pytest
import torch

from synthesis.engine.checkpoints import (
    LJSPEECH_MEL,
    CheckpointError,
    MelSettings,
    MelSettingsMismatch,
    acoustic_from_bundle_model,
    check_mel_settings,
    load_acoustic,
)
from synthesis.engine.hifigan import HIFIGAN_CONFIGS, HiFiGANGenerator
from synthesis.engine.synthesizer import SynthesisRequest, Synthesizer
from synthesis.engine.tacotron2 import Tacotron2Params, build_tacotron2
from synthesis.engine.text import SymbolSet
from synthesis.engine.vocoders import load_hifigan, load_vocoder, read_hifigan_config


class _NotAWeight:
    """A class a checkpoint must not be allowed to instantiate."""

    def __init__(self, value: int) -> None:
        self.value = value


def _assert_same_weights(nvidia_model, loaded_model):
    # Pair by position (both implementations register modules in the same order).
    source = list(nvidia_model.state_dict().values())
    target = list(loaded_model.state_dict().values())
    assert len(source) == len(target)
    for a, b in zip(source, target):
        assert torch.equal(a.to(b.dtype), b) or a.numel() == 1  # num_batches_tracked may differ


# --- Tacotron2: the public layouts --------------------------------------------------------------


@pytest.mark.parametrize("num_batches_tracked", [True, False])
@pytest.mark.parametrize("module_prefix", [False, True])
def test_nvidia_statedict_loads_with_its_weights(build, num_batches_tracked, module_prefix):
    nvidia = build.nvidia_tacotron2(seed=1)
    path = build.nvidia_checkpoint(
        nvidia, num_batches_tracked=num_batches_tracked, module_prefix=module_prefix
    )
    loaded = load_acoustic(path)
    assert loaded.symbol_set is SymbolSet.NVIDIA
    assert loaded.params == build.params(148)
    assert loaded.mel == LJSPEECH_MEL
    assert "NVIDIA naming" in loaded.source_format
    _assert_same_weights(nvidia, loaded.model)
    gate = nvidia.decoder.gate_layer.linear_layer.weight
    assert torch.equal(loaded.model.decoder.gate_layer.weight, gate)
    conv = nvidia.decoder.attention_layer.location_layer.location_conv.conv.weight
    assert torch.equal(
        loaded.model.decoder.attention_layer.location_layer.location_conv.weight, conv
    )


def test_deep_learning_examples_checkpoint_with_metadata_loads(build):
    nvidia = build.nvidia_tacotron2(seed=2)
    path = build.nvidia_checkpoint(nvidia, module_prefix=True, deep_learning_examples_metadata=True)
    loaded = load_acoustic(path)
    _assert_same_weights(nvidia, loaded.model)


def test_checkpoint_with_argparse_namespace_metadata_loads(build):
    nvidia = build.nvidia_tacotron2(seed=2)
    path = build.save(
        {"state_dict": nvidia.state_dict(), "args": argparse.Namespace(lr=1e-3, epochs=10)},
        "with_namespace.pt",
    )
    loaded = load_acoustic(path)
    _assert_same_weights(nvidia, loaded.model)


def test_torchaudio_bundle_weights_load(build):
    model = build.tacotron2(seed=4)
    path = build.save(model.state_dict(), "tacotron2_english_characters_1500_epochs_ljspeech.pth")
    loaded = load_acoustic(path)
    assert loaded.symbol_set is SymbolSet.TORCHAUDIO
    assert loaded.source_format == "torchaudio naming, plain state dict"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


def test_plain_nvidia_state_dict_without_wrapper_loads(build):
    nvidia = build.nvidia_tacotron2(seed=5)
    path = build.save(nvidia.state_dict(), "plain.pt")
    loaded = load_acoustic(path)
    assert loaded.source_format == "NVIDIA naming, plain state dict"
    _assert_same_weights(nvidia, loaded.model)


def test_torchaudio_training_checkpoint_with_ddp_prefix_loads(build):
    # torchaudio's examples/pipeline_tacotron2 saves {"state_dict": DDP model state, ...}.
    model = build.tacotron2(seed=6)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = build.save({"epoch": 3, "state_dict": state, "optimizer": {}}, "ckpt.pth")
    loaded = load_acoustic(path)
    assert loaded.source_format == "torchaudio naming, 'state_dict' entry"
    assert torch.equal(loaded.model.embedding.weight, model.embedding.weight)


def test_a_model_torchaudio_built_can_be_wrapped(build):
    model = build.tacotron2(seed=7)
    loaded = acoustic_from_bundle_model(model, "TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH")
    assert loaded.model is model and loaded.symbol_set is SymbolSet.TORCHAUDIO
    assert loaded.source_format == "torchaudio bundle TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH"
    phones = build.tacotron2(build.params(n_symbol=96))
    with pytest.raises(CheckpointError, match="PHONE_LJSPEECH embeds 96 symbols"):
        acoustic_from_bundle_model(phones, "TACOTRON2_GRIFFINLIM_PHONE_LJSPEECH")


def test_symbol_set_can_be_given_and_must_fit(build):
    path = build.save(build.tacotron2().state_dict(), "t.pth")
    assert load_acoustic(path, symbol_set="torchaudio").symbol_set is SymbolSet.TORCHAUDIO
    with pytest.raises(
        CheckpointError, match=r"embeds 38 symbols but the 'nvidia' symbol set has 148"
    ):
        load_acoustic(path, symbol_set=SymbolSet.NVIDIA)


def test_unknown_symbol_count_is_refused(build):
    path = build.save(build.tacotron2(build.params(n_symbol=96)).state_dict(), "phones.pth")
    with pytest.raises(CheckpointError) as error:
        load_acoustic(path)
    message = str(error.value)
    assert "phones.pth" in message and "96 symbols" in message
    assert "nvidia (148)" in message and "torchaudio (38)" in message


@pytest.mark.slow
def test_full_size_checkpoints_infer_the_published_shapes(build):
    nvidia = build.nvidia_tacotron2(Tacotron2Params(n_symbol=148), seed=0)
    loaded = load_acoustic(build.nvidia_checkpoint(nvidia))
    assert loaded.params == Tacotron2Params(n_symbol=148)
    bundle = build_tacotron2(Tacotron2Params(n_symbol=38))
    loaded = load_acoustic(build.save(bundle.state_dict(), "bundle.pth"))
    assert loaded.params == Tacotron2Params(n_symbol=38)
    assert loaded.symbol_set is SymbolSet.TORCHAUDIO


# --- Tacotron2: broken files -----------------------------------------------------------------


def test_missing_file_is_named(build):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such file"):
        load_acoustic(build.path("nope.pt"))


def test_empty_file_is_named(build):
    path = build.path("empty.pt")
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt is empty \(0 bytes\)"):
        load_acoustic(path)


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01garbage" * 100, b"<html>404 Not Found</html>", b"not a checkpoint\n"],
)
def test_non_torch_file_is_refused_clearly(build, content):
    path = build.path("weights.pt")
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        load_acoustic(path)
    assert "weights.pt is not a readable PyTorch Tacotron2 checkpoint" in str(error.value)
    assert "sha256" in str(error.value)


def test_truncated_checkpoint_is_refused_clearly(build):
    buffer = io.BytesIO()
    torch.save(build.tacotron2().state_dict(), buffer)
    path = build.path("truncated.pt")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt is not a readable PyTorch"):
        load_acoustic(path)


def test_pickled_code_is_refused_and_named(build):
    state = build.tacotron2().state_dict()
    path = build.save({"state_dict": state, "extra": _NotAWeight(3)}, "unsafe.pt")
    with pytest.raises(CheckpointError) as error:
        load_acoustic(path)
    message = str(error.value)
    assert "unsafe.pt" in message and "_NotAWeight" in message
    assert "re-save only the weights" in message


def test_unknown_layout_names_expected_and_found_keys(build):
    path = build.save({"encoder.weight": torch.zeros(3), "head.bias": torch.zeros(2)}, "odd.pt")
    with pytest.raises(CheckpointError) as error:
        load_acoustic(path)
    message = str(error.value)
    assert "odd.pt is not a Tacotron2 checkpoint in a known layout" in message
    assert "found keys encoder.weight, head.bias (2 in all)" in message
    assert "embedding.weight" in message  # an expected key


def test_hifigan_file_given_as_tacotron2_is_an_unknown_layout(build):
    path = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v2))
    with pytest.raises(CheckpointError, match="not a Tacotron2 checkpoint in a known layout"):
        load_acoustic(path)


def test_wrong_shape_names_key_and_both_shapes(build):
    state = build.tacotron2().state_dict()
    state["decoder.gate_layer.weight"] = torch.zeros(1, 99)
    path = build.save(state, "mixed.pth")
    with pytest.raises(CheckpointError) as error:
        load_acoustic(path)
    message = str(error.value)
    assert "mixed.pth" in message
    assert "1 tensor(s) with the wrong shape" in message
    assert "decoder.gate_layer.weight: expected (1, 96), found (1, 99)" in message


def test_missing_layers_are_counted_and_named(build):
    state = build.tacotron2().state_dict()
    del state["decoder.linear_projection.bias"]
    del state["encoder.lstm.bias_hh_l0_reverse"]
    state["decoder.extra.weight"] = torch.zeros(2)
    path = build.save(state, "partial.pth")
    with pytest.raises(CheckpointError) as error:
        load_acoustic(path)
    message = str(error.value)
    assert "partial.pth does not match the Tacotron2 network" in message
    assert (
        "missing keys decoder.linear_projection.bias, encoder.lstm.bias_hh_l0_reverse (2 in all)"
        in message
    )
    assert "unexpected keys decoder.extra.weight (1 in all)" in message


# --- HiFi-GAN ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["v2", "v3"])
def test_published_generators_load_without_config(build, name):
    config = HIFIGAN_CONFIGS[name]
    path = build.hifigan_checkpoint(build.weight_normed_generator(config), f"generator_{name}")
    loaded = load_hifigan(path)
    assert loaded.config == config
    assert loaded.mel == LJSPEECH_MEL


@pytest.mark.slow
def test_v1_generator_loads_without_config(build):
    path = build.hifigan_checkpoint(build.weight_normed_generator(HIFIGAN_CONFIGS["v1"]))
    assert load_hifigan(path).config == HIFIGAN_CONFIGS["v1"]


def test_config_json_sets_the_mel_settings(build, tmp_path):
    config = build.small_v1
    path = build.hifigan_checkpoint(build.weight_normed_generator(config))
    json_path = tmp_path / "config.json"
    json_path.write_text(json.dumps(build.hifigan_json(config, fmax=None)))
    loaded = load_hifigan(path, read_hifigan_config(json_path))
    assert loaded.mel == dataclasses.replace(LJSPEECH_MEL, f_max=11025.0)


def test_config_that_does_not_fit_the_weights_names_shapes(build):
    path = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v1))
    wrong = build.hifigan_json(dataclasses.replace(build.small_v1, upsample_initial_channel=64))
    with pytest.raises(CheckpointError) as error:
        load_hifigan(path, wrong)
    assert "conv_pre.weight: expected (64, 80, 7), found (32, 80, 7)" in str(error.value)


def test_config_with_wrong_hop_is_refused(build):
    path = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v1))
    with pytest.raises(CheckpointError, match="hop_size 300 differs"):
        load_hifigan(path, build.hifigan_json(build.small_v1, hop_size=300))


def test_discriminator_file_is_recognised(build):
    path = build.save({"mpd": {"a": torch.zeros(1)}, "msd": {}, "steps": 5}, "do_02500000")
    with pytest.raises(CheckpointError, match="do_02500000 is a HiFi-GAN discriminator"):
        load_hifigan(path)


def test_tacotron2_file_given_as_hifigan_names_keys(build):
    path = build.save(build.tacotron2().state_dict(), "taco.pth")
    with pytest.raises(CheckpointError) as error:
        load_hifigan(path)
    message = str(error.value)
    assert "taco.pth is not a HiFi-GAN generator in a known layout" in message
    assert "conv_pre.weight" in message


def test_unpublished_type2_generator_needs_its_config(build):
    config = dataclasses.replace(build.small_v3, resblock_kernel_sizes=(3, 5, 9))
    path = build.hifigan_checkpoint(build.weight_normed_generator(config))
    with pytest.raises(CheckpointError, match="dilations cannot be inferred. Pass its config.json"):
        load_hifigan(path)
    assert load_hifigan(path, build.hifigan_json(config)).config == config


def test_half_a_weight_norm_pair_is_refused(build):
    state = build.weight_normed_generator(build.small_v2).state_dict()
    del state["conv_post.weight_g"]
    path = build.save({"generator": state}, "g_broken")
    with pytest.raises(CheckpointError, match="g_broken: conv_post: weight norm needs both"):
        load_hifigan(path)


def test_corrupt_hifigan_file_is_refused(build):
    path = build.path("generator_v1")
    path.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(CheckpointError, match="generator_v1 is not a readable PyTorch HiFi-GAN"):
        load_hifigan(path)


def test_plain_generator_state_dict_loads(build):
    generator = HiFiGANGenerator(build.small_v3)
    path = build.save(generator.state_dict(), "plain_generator.pt")
    assert load_hifigan(path).config == build.small_v3


# --- Mel settings ------------------------------------------------------------------------------


def test_mel_settings_mismatch_names_every_field_with_both_values():
    vocoder = MelSettings(sample_rate=16000, n_mels=80, hop_length=200, win_length=800)
    with pytest.raises(MelSettingsMismatch) as error:
        check_mel_settings(LJSPEECH_MEL, vocoder)
    message = str(error.value)
    assert "sample_rate: acoustic model 22050, vocoder 16000" in message
    assert "hop_length: acoustic model 256, vocoder 200" in message
    assert "win_length: acoustic model 1024, vocoder 800" in message
    assert "n_mels" not in message


def test_equal_mel_settings_pass():
    check_mel_settings(LJSPEECH_MEL, MelSettings())


# --- Any vocoder: the format is detected ------------------------------------------------------


def test_load_vocoder_detects_a_hifigan_generator(build):
    path = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v2))
    assert load_vocoder(path).kind == "hifigan"


def test_an_unknown_vocoder_format_is_refused_with_what_was_found(build):
    path = build.save({"encoder.weight": torch.zeros(2), "decoder.bias": torch.zeros(2)}, "x.pt")
    with pytest.raises(CheckpointError, match=r"x\.pt is not a vocoder.*decoder\.bias, encoder"):
        load_vocoder(path)
    listed = build.save([torch.zeros(1)], "list.pt")
    with pytest.raises(CheckpointError, match=r"list\.pt is not a vocoder.*a list"):
        load_vocoder(listed)


@pytest.mark.parametrize("kind", ["waveglow", "pwg"])
def test_tacotron2_with_each_noise_vocoder_gives_frames_times_hop_samples(build, kind):
    acoustic = load_acoustic(build.save(build.tacotron2(seed=1).state_dict(), "t.pth"))
    if kind == "waveglow":
        path = build.waveglow_deep_learning_examples(build.waveglow())
    else:
        path = build.pwg_checkpoint(yml=build.pwg_config_yml(fmin=0, fmax=8000))
    vocoder = load_vocoder(path)
    synthesizer = Synthesizer(
        acoustic, vocoder, device="cpu", max_decoder_steps=16, ignore_stop_token=True
    )
    requests = [SynthesisRequest("Noise vocoders.", seed=5)]
    (result,) = synthesizer.synthesize(requests)
    assert result.error is None
    assert result.samples.shape == (16 * 256,)
    assert np.isfinite(result.samples).all()
    (again,) = synthesizer.synthesize(requests)
    assert np.array_equal(result.samples, again.samples)


def test_a_published_parallel_wavegan_is_refused_for_tacotron2(build):
    acoustic = load_acoustic(build.save(build.tacotron2(seed=1).state_dict(), "t.pth"))
    vocoder = load_vocoder(build.pwg_checkpoint())  # fmin 80, fmax 7600
    with pytest.raises(MelSettingsMismatch, match="f_max: acoustic model 8000.0, vocoder 7600.0"):
        Synthesizer(acoustic, vocoder, device="cpu")
