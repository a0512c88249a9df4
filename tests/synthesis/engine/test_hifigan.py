"""HiFi-GAN generator: published configurations, weight-norm folding, receptive field."""

from __future__ import annotations

import warnings

import pytest
import torch

from synthesis.engine.hifigan import (
    HIFIGAN_CONFIGS,
    HiFiGANConfig,
    HiFiGANGenerator,
    fold_weight_norm,
)
from synthesis.engine.vocoders import load_hifigan


def test_published_configs_upsample_by_the_hop_of_256():
    for name, config in HIFIGAN_CONFIGS.items():
        assert config.hop_length == 256, name
        assert config.num_mels == 80


def test_config_round_trips_through_json_dict():
    for config in HIFIGAN_CONFIGS.values():
        assert HiFiGANConfig.from_json_dict(config.to_json_dict()) == config
    with pytest.raises(ValueError, match="lacks upsample_rates"):
        HiFiGANConfig.from_json_dict(
            {"resblock": "1"}
            | {
                k: v
                for k, v in HIFIGAN_CONFIGS["v1"].to_json_dict().items()
                if k != "upsample_rates"
            }
        )


def test_v1_generator_file_has_the_authors_key_names():
    # Key names of the authors' generator_v1 (jik876/hifi-gan models.py with weight_norm):
    # conv_pre, 4 ups, 4 x 3 ResBlock1 (convs1/convs2, 3 convs each), conv_post; every conv
    # carries weight_g, weight_v and bias.
    generator = HiFiGANGenerator(HIFIGAN_CONFIGS["v1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for module in generator.modules():
            if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
                torch.nn.utils.weight_norm(module)
    keys = set(generator.state_dict())
    assert len(keys) == 3 + 4 * 3 + 12 * 6 * 3 + 3
    for key in (
        "conv_pre.weight_g",
        "conv_pre.weight_v",
        "ups.3.weight_v",
        "resblocks.11.convs1.2.weight_g",
        "resblocks.0.convs2.0.bias",
        "conv_post.weight_v",
    ):
        assert key in keys
    assert generator.state_dict()["ups.0.weight_v"].shape == (512, 256, 16)
    assert generator.state_dict()["ups.0.weight_g"].shape == (512, 1, 1)


def test_v3_generator_uses_two_conv_resblocks():
    keys = set(HiFiGANGenerator(HIFIGAN_CONFIGS["v3"]).state_dict())
    assert "resblocks.8.convs.1.weight" in keys
    assert not any("convs1" in key for key in keys)


@pytest.mark.parametrize("config_name", ["small_v1", "small_v3"])
@pytest.mark.parametrize("with_config_json", [True, False])
def test_folded_generator_matches_the_weight_norm_generator(build, config_name, with_config_json):
    config = getattr(build, config_name)
    reference = build.weight_normed_generator(config, seed=3)
    path = build.hifigan_checkpoint(reference)
    loaded = load_hifigan(path, build.hifigan_json(config) if with_config_json else None)
    assert loaded.config == config
    mel = torch.randn(2, 80, 12) - 4.0
    with torch.inference_mode():
        expected = reference(mel)
        got = loaded.generator(mel)
    assert got.shape == (2, 12 * 256)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # The folded network holds plain weights only.
    assert not any(key.endswith(("weight_g", "weight_v")) for key in loaded.generator.state_dict())


def test_parametrization_style_weight_norm_folds_the_same(build):
    config = build.small_v2
    generator = HiFiGANGenerator(config)
    for module in generator.modules():
        if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            torch.nn.utils.parametrizations.weight_norm(module)
    state = generator.state_dict()
    assert "conv_pre.parametrizations.weight.original0" in state
    plain = HiFiGANGenerator(config)
    plain.load_state_dict(fold_weight_norm(state))
    mel = torch.randn(1, 80, 5)
    with torch.inference_mode():
        torch.testing.assert_close(plain(mel), generator(mel), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config_name", ["small_v1", "small_v3"])
def test_receptive_field_bounds_how_far_a_frame_reaches(build, config_name):
    config = getattr(build, config_name)
    torch.manual_seed(0)
    generator = HiFiGANGenerator(config).double().eval()
    reach = generator.receptive_field_frames()
    frames, poke = 4 * reach, 2 * reach
    mel = torch.randn(1, 80, frames, dtype=torch.float64)
    changed = mel.clone()
    changed[:, :, poke] += 1.0
    with torch.inference_mode():
        diff = (generator(changed) - generator(mel)).abs()[0]
    touched = diff.nonzero().flatten()
    hop = config.hop_length
    assert touched.numel() > 0
    assert touched.min() >= (poke - reach) * hop
    assert touched.max() < (poke + reach + 1) * hop


def test_config_rejects_inconsistent_lists():
    with pytest.raises(ValueError, match="same length"):
        HiFiGANConfig(
            resblock="1",
            upsample_rates=(8, 8),
            upsample_kernel_sizes=(16,),
            upsample_initial_channel=16,
            resblock_kernel_sizes=(3,),
            resblock_dilation_sizes=((1, 3, 5),),
        )
    with pytest.raises(ValueError, match="type-2 resblock takes 2 dilations"):
        HiFiGANConfig(
            resblock="2",
            upsample_rates=(8,),
            upsample_kernel_sizes=(16,),
            upsample_initial_channel=16,
            resblock_kernel_sizes=(3,),
            resblock_dilation_sizes=((1, 3, 5),),
        )
