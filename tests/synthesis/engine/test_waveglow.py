"""WaveGlow: both published layouts load, fold their weight norm, and vocode frames * hop samples."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from synthesis.engine.checkpoints import LJSPEECH_MEL, CheckpointError, check_mel_settings
from synthesis.engine.vocoders import load_vocoder, load_waveglow
from synthesis.engine.waveglow import WaveGlow, WaveGlowConfig
from tests.synthesis.engine import vocoding
from tests.synthesis.engine.vocoding import HOP

# This file's tests vocode 12 frames unless they say otherwise.
mel = functools.partial(vocoding.log_mel, 12)
vocode = functools.partial(vocoding.vocode, frames=12)


def without_weight_norm(plain: nn.Module) -> dict:
    """The plain weights NVIDIA's ``remove_weightnorm`` would leave (changes ``plain``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for module in plain.modules():
            if hasattr(module, "weight_g"):
                nn.utils.remove_weight_norm(module)
    return plain.state_dict()


@pytest.mark.parametrize("shared_cond", [False, True], ids=["cond_layers", "cond_layer"])
def test_deep_learning_examples_checkpoint_loads_and_vocodes(build, shared_cond):
    model = build.waveglow(shared_cond=shared_cond)
    loaded = load_waveglow(build.waveglow_deep_learning_examples(model))
    assert loaded.kind == "waveglow"
    assert "DeepLearningExamples" in loaded.source_format
    assert loaded.config.n_flows == 4 and loaded.config.n_early_every == 2
    assert loaded.config.shared_cond_layer is shared_cond
    audio = vocode(loaded, frames=12)
    assert audio.shape == (1, 12 * HOP)
    assert torch.isfinite(audio).all()


def test_nvidia_whole_model_pickle_loads_without_running_its_code(build):
    model = build.waveglow(shared_cond=True)
    path = build.waveglow_nvidia_pickle(model)
    loaded = load_waveglow(path)
    assert "whole-model pickle" in loaded.source_format
    reference = load_waveglow(build.waveglow_deep_learning_examples(model))
    assert torch.equal(vocode(loaded), vocode(reference))


def test_weight_norm_is_folded_into_the_weights_nvidia_would_infer_with(build):
    model = build.waveglow()
    loaded = load_waveglow(build.waveglow_deep_learning_examples(model))
    direct = WaveGlow(loaded.config)
    direct.load_state_dict(without_weight_norm(build.waveglow()))  # the same weights again
    direct.eval().prepare()
    with torch.inference_mode():
        expected = direct(mel(), generator=torch.Generator().manual_seed(3))
    assert torch.allclose(vocode(loaded), expected, atol=1e-5)


def test_same_seed_same_samples_and_sigma_zero_needs_no_noise(build):
    loaded = load_waveglow(build.waveglow_deep_learning_examples(build.waveglow()))
    assert torch.equal(vocode(loaded, seed=1), vocode(loaded, seed=1))
    assert not torch.equal(vocode(loaded, seed=1), vocode(loaded, seed=2))
    with torch.inference_mode():
        a = loaded.generator(mel(), generator=torch.Generator().manual_seed(1), sigma=0.0)
        b = loaded.generator(mel(), generator=torch.Generator().manual_seed(2), sigma=0.0)
    assert torch.equal(a, b)


def test_its_mel_settings_are_tacotron2s(build):
    loaded = load_waveglow(build.waveglow_deep_learning_examples(build.waveglow()))
    check_mel_settings(LJSPEECH_MEL, loaded.mel)  # raises on any difference


def test_load_vocoder_detects_both_layouts(build):
    model = build.waveglow()
    for path in (
        build.waveglow_deep_learning_examples(model),
        build.waveglow_nvidia_pickle(model),
    ):
        assert load_vocoder(path).kind == "waveglow"


def test_a_pickle_with_other_classes_is_refused_by_name(build):
    optimizer = torch.optim.Adam([nn.Parameter(torch.zeros(1))])
    path = build.waveglow_nvidia_pickle(build.waveglow(), "with_optimizer.pt", extra=optimizer)
    with pytest.raises(CheckpointError, match=r"with_optimizer\.pt holds Python objects.*Adam"):
        load_waveglow(path)


def test_a_config_that_disagrees_with_the_tensors_is_refused(build):
    model = build.waveglow()
    path = build.waveglow_deep_learning_examples(model)
    raw = torch.load(path, weights_only=True)
    raw["config"]["WN_config"]["n_channels"] = 512
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="n_channels = 512.*say 8"):
        load_waveglow(path)


def test_config_channels_follow_early_outputs():
    config = WaveGlowConfig(n_flows=12, n_group=8, n_early_every=4, n_early_size=2)
    assert config.remaining_channels() == [8] * 4 + [6] * 4 + [4] * 4
    assert np.prod(config.upsample_kernel // config.hop_length) == 4
