"""Parallel WaveGAN: the project's checkpoint-*.pkl, config.yml and stats.npy load and vocode."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from synthesis.engine.checkpoints import (
    LJSPEECH_MEL,
    CheckpointError,
    MelSettingsMismatch,
    check_mel_settings,
)
from synthesis.engine.pwg import ParallelWaveGANGenerator, PWGConfig
from synthesis.engine.vocoders import load_pwg, load_vocoder
from tests.synthesis.engine import vocoding
from tests.synthesis.engine.vocoding import HOP

# This file's tests vocode 10 frames unless they say otherwise.
log_mel = functools.partial(vocoding.log_mel, 10)
vocode = functools.partial(vocoding.vocode, frames=10)


def test_the_projects_checkpoint_loads_with_its_config_and_stats(build):
    loaded = load_pwg(build.pwg_checkpoint())
    assert loaded.kind == "pwg"
    assert loaded.config.layers == 6 and loaded.config.hop_length == HOP
    assert loaded.mel.f_min == 80.0 and loaded.mel.f_max == 7600.0
    audio = vocode(loaded, frames=10)
    assert audio.shape == (1, 10 * HOP)
    assert torch.isfinite(audio).all()


def test_the_generator_has_the_projects_parameter_names(build):
    # parallel_wavegan/models/parallel_wavegan.py, with weight norm on every convolution.
    state = torch.load(build.pwg_checkpoint(), weights_only=True)["model"]["generator"]
    for key in (
        "first_conv.weight_g",
        "upsample_net.conv_in.weight_v",
        "upsample_net.upsample.up_layers.1.weight_g",
        "upsample_net.upsample.up_layers.7.weight_v",
        "conv_layers.5.conv.bias",
        "conv_layers.0.conv1x1_aux.weight_g",
        "conv_layers.0.conv1x1_skip.weight_v",
        "last_conv_layers.3.bias",
    ):
        assert key in state, key


def test_weight_norm_is_folded_and_the_input_transform_matches_the_projects(build):
    path = build.pwg_checkpoint()
    loaded = load_pwg(path)
    raw = torch.load(path, weights_only=True)["model"]["generator"]
    generator = ParallelWaveGANGenerator(build.small_pwg)
    plain = {}
    for key, value in raw.items():
        if key.endswith("weight_v"):
            g = raw[key[:-1] + "g"]
            norm = value.flatten(1).norm(dim=1).view(-1, *([1] * (value.dim() - 1)))
            plain[key[: -len("_v")]] = g * value / norm
        elif not key.endswith("weight_g"):
            plain[key] = value
    generator.load_state_dict(plain)
    generator.eval()
    mean, scale = np.load(path.parent / "stats.npy")
    mel = log_mel()
    features = (mel / math.log(10) - torch.tensor(mean)[:, None]) / torch.tensor(scale)[:, None]
    padded = F.pad(features, (2, 2), mode="replicate")  # the project's inference
    noise = torch.randn((1, 1, 10 * HOP), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        expected = generator(padded, noise)
    assert torch.allclose(vocode(loaded), expected, atol=1e-5)


def test_same_seed_same_samples(build):
    loaded = load_pwg(build.pwg_checkpoint())
    assert torch.equal(vocode(loaded, seed=1), vocode(loaded, seed=1))
    assert not torch.equal(vocode(loaded, seed=1), vocode(loaded, seed=2))


def test_the_published_mel_range_is_not_tacotron2s(build):
    loaded = load_pwg(build.pwg_checkpoint())
    with pytest.raises(MelSettingsMismatch, match="f_min: acoustic model 0.0, vocoder 80.0"):
        check_mel_settings(LJSPEECH_MEL, loaded.mel)
    matching = build.pwg_checkpoint(yml=build.pwg_config_yml(fmin=0, fmax=8000), seed=1)
    check_mel_settings(LJSPEECH_MEL, load_pwg(matching).mel)


def test_load_vocoder_detects_it(build):
    assert load_vocoder(build.pwg_checkpoint()).kind == "pwg"


def test_a_missing_config_or_stats_file_is_named(build):
    path = build.pwg_checkpoint(stats=False)
    with pytest.raises(CheckpointError, match=r"stats\.npy: no such file"):
        load_pwg(path)
    (path.parent / "config.yml").unlink()
    with pytest.raises(CheckpointError, match=r"config\.yml: no such file"):
        load_pwg(path)


def test_hdf5_stats_get_a_conversion_hint(build):
    path = build.pwg_checkpoint(stats=False)
    (path.parent / "stats.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(CheckpointError, match=r"stats\.h5: HDF5.*numpy\.save"):
        load_pwg(path)


def test_other_generators_of_the_project_are_refused(build):
    yml = build.pwg_config_yml()
    yml["generator_type"] = "MelGANGenerator"
    with pytest.raises(CheckpointError, match="MelGANGenerator"):
        load_pwg(build.pwg_checkpoint(yml=yml))


def test_a_config_of_another_model_is_refused(build):
    yml = build.pwg_config_yml()
    yml["generator_params"]["layers"] = 30
    with pytest.raises(CheckpointError, match="does not match the Parallel WaveGAN generator"):
        load_pwg(build.pwg_checkpoint(yml=yml))


def test_config_reads_the_projects_generator_params():
    config = PWGConfig.from_generator_params({"upsample_params": {"upsample_scales": [4, 5, 3, 5]}})
    assert config.hop_length == 300 and config.layers == 30
    with pytest.raises(ValueError, match="use_causal_conv"):
        PWGConfig.from_generator_params({"use_causal_conv": True})
