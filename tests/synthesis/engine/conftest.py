"""Builders for checkpoint files in the public formats, for the synthesis engine's tests.

No weights can be downloaded here, so the tests write checkpoints themselves, in exactly the
layouts the loaders must read:

- NVIDIA Tacotron2 (NVIDIA/tacotron2 ``model.py``/``layers.py``, also DeepLearningExamples):
  built from ``_Nvidia*`` modules below, which mirror NVIDIA's module tree (``ConvNorm.conv``,
  ``LinearNorm.linear_layer``) independently of the loader's renaming rules, saved as
  ``{"state_dict": ...}``.
- torchaudio Tacotron2 bundle weights: ``torchaudio.models.Tacotron2(...).state_dict()``.
- HiFi-GAN ``generator_*``: ``{"generator": state_dict}`` of a generator wrapped with the
  old-style ``torch.nn.utils.weight_norm`` (``weight_g`` / ``weight_v`` keys).
- WaveGlow: ``_Glow*`` modules mirror NVIDIA/waveglow ``glow.py``'s module tree (with weight
  norm where NVIDIA puts it), saved as DeepLearningExamples does (``{"state_dict": module.*,
  "config": ...}``) or, posing as the module ``glow``, pickled whole as NVIDIA/waveglow does.
- Parallel WaveGAN: ``checkpoint-*.pkl`` as the project's trainer saves it, with ``config.yml``
  and ``stats.npy`` beside it; weight norm on every convolution, as the project applies it.

Builders are reached through the ``build`` fixture (conftest modules are not importable by name
when several test directories have one).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from synthesis.engine.hifigan import V1, V3, HiFiGANConfig, HiFiGANGenerator
from synthesis.engine.pwg import ParallelWaveGANGenerator, PWGConfig
from synthesis.engine.tacotron2 import Tacotron2Params, build_tacotron2

# Small shapes so the whole test set runs in seconds; 80 mels so they pair with the vocoders.
SMALL_TACOTRON2 = Tacotron2Params(
    n_symbol=38,
    symbol_embedding_dim=32,
    encoder_embedding_dim=32,
    decoder_rnn_dim=64,
    attention_rnn_dim=64,
    attention_hidden_dim=16,
    attention_location_n_filter=4,
    attention_location_kernel_size=7,
    prenet_dim=32,
    postnet_embedding_dim=32,
)

# Same structure as the published V1/V2 (type-1 resblocks) and V3 (type-2), few channels.
SMALL_V1 = dataclasses.replace(V1, upsample_initial_channel=32)
SMALL_V2 = dataclasses.replace(SMALL_V1, upsample_initial_channel=16)
SMALL_V3 = dataclasses.replace(V3, upsample_initial_channel=16)

# The audio part of the authors' config_v1/v2/v3.json (all three share it).
HIFIGAN_AUDIO_CONFIG = {
    "segment_size": 8192,
    "num_mels": 80,
    "num_freq": 1025,
    "n_fft": 1024,
    "hop_size": 256,
    "win_size": 1024,
    "sampling_rate": 22050,
    "fmin": 0,
    "fmax": 8000,
    "fmax_for_loss": None,
}


# --- NVIDIA's module tree (names only matter; no forward is needed) ----------------------------


class _ConvNorm(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, padding=(kernel - 1) // 2, bias=bias)


class _LinearNorm(nn.Module):
    def __init__(self, cin: int, cout: int, bias: bool = True) -> None:
        super().__init__()
        self.linear_layer = nn.Linear(cin, cout, bias=bias)


class _NvidiaLocationLayer(nn.Module):
    def __init__(self, p: Tacotron2Params) -> None:
        super().__init__()
        k = p.attention_location_kernel_size
        self.location_conv = _ConvNorm(2, p.attention_location_n_filter, k, bias=False)
        self.location_dense = _LinearNorm(
            p.attention_location_n_filter, p.attention_hidden_dim, bias=False
        )


class _NvidiaAttention(nn.Module):
    def __init__(self, p: Tacotron2Params) -> None:
        super().__init__()
        self.query_layer = _LinearNorm(p.attention_rnn_dim, p.attention_hidden_dim, bias=False)
        self.memory_layer = _LinearNorm(p.encoder_embedding_dim, p.attention_hidden_dim, bias=False)
        self.v = _LinearNorm(p.attention_hidden_dim, 1, bias=False)
        self.location_layer = _NvidiaLocationLayer(p)


class _NvidiaPrenet(nn.Module):
    def __init__(self, p: Tacotron2Params) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                _LinearNorm(p.n_mels, p.prenet_dim, bias=False),
                _LinearNorm(p.prenet_dim, p.prenet_dim, bias=False),
            ]
        )


class _NvidiaDecoder(nn.Module):
    def __init__(self, p: Tacotron2Params) -> None:
        super().__init__()
        self.prenet = _NvidiaPrenet(p)
        self.attention_rnn = nn.LSTMCell(
            p.prenet_dim + p.encoder_embedding_dim, p.attention_rnn_dim
        )
        self.attention_layer = _NvidiaAttention(p)
        self.decoder_rnn = nn.LSTMCell(
            p.attention_rnn_dim + p.encoder_embedding_dim, p.decoder_rnn_dim, 1
        )
        self.linear_projection = _LinearNorm(p.decoder_rnn_dim + p.encoder_embedding_dim, p.n_mels)
        self.gate_layer = _LinearNorm(p.decoder_rnn_dim + p.encoder_embedding_dim, 1)


class _NvidiaEncoder(nn.Module):
    def __init__(self, p: Tacotron2Params) -> None:
        super().__init__()
        e = p.encoder_embedding_dim
        self.convolutions = nn.ModuleList(
            nn.Sequential(_ConvNorm(e, e, p.encoder_kernel_size), nn.BatchNorm1d(e))
            for _ in range(p.encoder_n_convolution)
        )
        self.lstm = nn.LSTM(e, e // 2, 1, batch_first=True, bidirectional=True)


class _NvidiaPostnet(nn.Module):
    def __init__(self, p: Tacotron2Params) -> None:
        super().__init__()
        n, e, k = p.n_mels, p.postnet_embedding_dim, p.postnet_kernel_size
        sizes = [n] + [e] * (p.postnet_n_convolution - 1) + [n]
        self.convolutions = nn.ModuleList(
            nn.Sequential(_ConvNorm(cin, cout, k), nn.BatchNorm1d(cout))
            for cin, cout in zip(sizes[:-1], sizes[1:])
        )


class NvidiaTacotron2(nn.Module):
    """NVIDIA/tacotron2's ``Tacotron2`` module tree (same names, same parameter order)."""

    def __init__(self, p: Tacotron2Params) -> None:
        super().__init__()
        self.embedding = nn.Embedding(p.n_symbol, p.symbol_embedding_dim)
        self.encoder = _NvidiaEncoder(p)
        self.decoder = _NvidiaDecoder(p)
        self.postnet = _NvidiaPostnet(p)


# --- NVIDIA/waveglow's module tree (glow.py); pickled under the module name "glow" -------------

# Small, but with early outputs (every 2 flows) and both conditioning layouts.
SMALL_WAVEGLOW = {
    "n_mel_channels": 80,
    "n_flows": 4,
    "n_group": 8,
    "n_early_every": 2,
    "n_early_size": 2,
    "WN_config": {"n_layers": 2, "kernel_size": 3, "n_channels": 8},
}


def _weight_norm(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # weight_norm is deprecated
        return nn.utils.weight_norm(module)


class _GlowWN(nn.Module):
    def __init__(self, n_in, n_mel, n_layers, n_channels, kernel_size, shared_cond):
        super().__init__()
        self.n_layers, self.n_channels = n_layers, n_channels
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.start = _weight_norm(nn.Conv1d(n_in, n_channels, 1))
        self.end = nn.Conv1d(n_channels, 2 * n_in, 1)
        if shared_cond:
            self.cond_layer = _weight_norm(nn.Conv1d(n_mel, 2 * n_channels * n_layers, 1))
        else:
            self.cond_layers = nn.ModuleList(
                _weight_norm(nn.Conv1d(n_mel, 2 * n_channels, 1)) for _ in range(n_layers)
            )
        for i in range(n_layers):
            d = 2**i
            self.in_layers.append(
                _weight_norm(
                    nn.Conv1d(
                        n_channels,
                        2 * n_channels,
                        kernel_size,
                        dilation=d,
                        padding=(kernel_size * d - d) // 2,
                    )
                )
            )
            out = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(_weight_norm(nn.Conv1d(n_channels, out, 1)))


class _GlowInvertible1x1Conv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv1d(c, c, 1, bias=False)
        weight = torch.linalg.qr(torch.randn(c, c))[0]
        if torch.det(weight) < 0:
            weight[:, 0] = -weight[:, 0]
        self.conv.weight.data = weight.unsqueeze(-1)


class _GlowWaveGlow(nn.Module):
    def __init__(self, n_mel_channels, n_flows, n_group, n_early_every, n_early_size, WN_config,
                 shared_cond=False):  # fmt: skip
        super().__init__()
        self.upsample = nn.ConvTranspose1d(n_mel_channels, n_mel_channels, 1024, stride=256)
        self.n_flows, self.n_group = n_flows, n_group
        self.n_early_every, self.n_early_size = n_early_every, n_early_size
        self.WN = nn.ModuleList()
        self.convinv = nn.ModuleList()
        n_half, remaining = n_group // 2, n_group
        for k in range(n_flows):
            if k % n_early_every == 0 and k > 0:
                n_half -= n_early_size // 2
                remaining -= n_early_size
            self.convinv.append(_GlowInvertible1x1Conv(remaining))
            self.WN.append(
                _GlowWN(n_half, n_mel_channels * n_group, shared_cond=shared_cond, **WN_config)
            )
        self.n_remaining_channels = remaining


def _as_glow_module():
    """A stand-in ``glow`` module so that pickle names the classes as NVIDIA's file does."""
    module = types.ModuleType("glow")
    for cls, name in (
        (_GlowWaveGlow, "WaveGlow"),
        (_GlowWN, "WN"),
        (_GlowInvertible1x1Conv, "Invertible1x1Conv"),
    ):
        cls.__module__, cls.__name__, cls.__qualname__ = "glow", name, name
        setattr(module, name, cls)
    return module


def _randomize(module: nn.Module, seed: int) -> None:
    """Give every parameter and BatchNorm statistic a random, non-default value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                tensor.fill_(1000)
            elif name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean"):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            else:
                fan_in = tensor[0].numel() if tensor.dim() > 1 else tensor.numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) / max(fan_in, 1) ** 0.5)


class Builders:
    """Checkpoint writers; files go to the test's ``tmp_path``."""

    small_tacotron2 = SMALL_TACOTRON2
    small_v1, small_v2, small_v3 = SMALL_V1, SMALL_V2, SMALL_V3
    hifigan_audio_config = HIFIGAN_AUDIO_CONFIG

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def path(self, name: str) -> Path:
        return self.tmp_path / name

    def save(self, obj: object, name: str) -> Path:
        target = self.path(name)
        torch.save(obj, target)
        return target

    # Tacotron2 ---------------------------------------------------------------------------

    def params(self, n_symbol: int = 38, **changes: int) -> Tacotron2Params:
        return dataclasses.replace(SMALL_TACOTRON2, n_symbol=n_symbol, **changes)

    def tacotron2(
        self,
        params: Tacotron2Params | None = None,
        *,
        seed: int = 0,
        gate_bias: float | None = -30.0,
        gate_scale: float = 1.0,
    ) -> nn.Module:
        """A torchaudio Tacotron2 with random weights.

        ``gate_bias`` -30 keeps the stop token silent (runs are then ended by
        ``ignore_stop_token`` or the step limit); +30 makes it fire on the first frame; None
        keeps the random bias. ``gate_scale`` multiplies the gate weights.
        """
        model = build_tacotron2(params or SMALL_TACOTRON2)
        _randomize(model, seed)
        with torch.no_grad():
            model.decoder.gate_layer.weight.mul_(gate_scale)
            if gate_bias is not None:
                model.decoder.gate_layer.bias.fill_(gate_bias)
        return model.eval()

    def nvidia_tacotron2(self, params: Tacotron2Params | None = None, *, seed: int = 0):
        model = NvidiaTacotron2(params or dataclasses.replace(SMALL_TACOTRON2, n_symbol=148))
        _randomize(model, seed)
        with torch.no_grad():
            model.decoder.gate_layer.linear_layer.bias.fill_(-30.0)
        return model

    @staticmethod
    def same_weights_in_torchaudio_layout(nvidia: nn.Module, params: Tacotron2Params):
        """A torchaudio Tacotron2 holding ``nvidia``'s weights, matched by parameter order.

        Both implementations register their modules in the same order, so pairing the two
        state dicts position by position is a mapping independent of the loader's rules.
        """
        model = build_tacotron2(params)
        target = model.state_dict()
        source = list(nvidia.state_dict().values())
        assert len(source) == len(target)
        for (key, value), src in zip(target.items(), source):
            assert value.shape == src.shape, key
            value.copy_(src)
        return model.eval()

    def nvidia_checkpoint(
        self,
        model: nn.Module,
        name: str = "tacotron2_statedict.pt",
        *,
        num_batches_tracked: bool = True,
        module_prefix: bool = False,
        deep_learning_examples_metadata: bool = False,
    ) -> Path:
        state = {
            key: value
            for key, value in model.state_dict().items()
            if num_batches_tracked or not key.endswith("num_batches_tracked")
        }
        if module_prefix:
            state = {f"module.{key}": value for key, value in state.items()}
        checkpoint: dict[str, object] = {"state_dict": state}
        if deep_learning_examples_metadata:
            # What DeepLearningExamples' train.py save_checkpoint stores next to the weights.
            checkpoint.update(
                epoch=1500,
                cuda_rng_state_all=[],
                random_rng_state=torch.get_rng_state(),
                config={"n_mel_channels": 80, "n_symbols": 148, "mask_padding": False},
                optimizer={"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
            )
        return self.save(checkpoint, name)

    # HiFi-GAN ----------------------------------------------------------------------------

    def weight_normed_generator(self, config: HiFiGANConfig, *, seed: int = 0) -> nn.Module:
        """A generator whose convolutions carry old-style weight norm (weight_g, weight_v).

        The magnitudes ``g`` are set away from ``||v||`` so folding them matters.
        """
        torch.manual_seed(seed)
        generator = HiFiGANGenerator(config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # weight_norm is deprecated
            for module in generator.modules():
                if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
                    nn.utils.weight_norm(module)
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, tensor in generator.state_dict().items():
                if name.endswith("weight_g"):
                    tensor.mul_(torch.rand(tensor.shape, generator=gen) + 0.5)
                elif name.endswith("bias"):
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.01)
        return generator.eval()

    def hifigan_checkpoint(self, generator: nn.Module, name: str = "generator_v1") -> Path:
        return self.save({"generator": generator.state_dict()}, name)

    def hifigan_json(self, config: HiFiGANConfig, **audio_changes: object) -> dict:
        """The authors' config.json layout for ``config``."""
        data = {"resblock": config.resblock, "num_gpus": 0, "batch_size": 16}
        data.update(
            upsample_rates=list(config.upsample_rates),
            upsample_kernel_sizes=list(config.upsample_kernel_sizes),
            upsample_initial_channel=config.upsample_initial_channel,
            resblock_kernel_sizes=list(config.resblock_kernel_sizes),
            resblock_dilation_sizes=[list(d) for d in config.resblock_dilation_sizes],
        )
        data.update(HIFIGAN_AUDIO_CONFIG)
        data.update(audio_changes)
        return data

    # WaveGlow ----------------------------------------------------------------------------

    small_waveglow = SMALL_WAVEGLOW

    def waveglow(self, *, shared_cond: bool = False, seed: int = 0) -> nn.Module:
        """A weight-normed WaveGlow in NVIDIA's module tree, small random weights, ``g``
        away from ``||v||``."""
        torch.manual_seed(seed)
        model = _GlowWaveGlow(**SMALL_WAVEGLOW, shared_cond=shared_cond)
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                if name.endswith("weight_g"):
                    tensor.mul_((torch.rand(tensor.shape, generator=gen) + 0.5) * 0.3)
                elif name.endswith("bias") or name.startswith("WN.") and ".end." in name:
                    tensor.mul_(0.1)
        return model.eval()

    def waveglow_deep_learning_examples(self, model: nn.Module, name: str = "waveglow.pt"):
        """DeepLearningExamples' train.py: DDP's ``module.`` prefix, config and optimizer."""
        state = {f"module.{k}": v for k, v in model.state_dict().items()}
        return self.save(
            {
                "epoch": 1000,
                "cuda_rng_state_all": [],
                "random_rng_state": torch.get_rng_state(),
                "config": dict(SMALL_WAVEGLOW),
                "state_dict": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
            },
            name,
        )

    def waveglow_nvidia_pickle(
        self, model: nn.Module, name: str = "waveglow_v5.pt", **extra: object
    ) -> Path:
        """NVIDIA/waveglow's train.py: the whole module object under "model"."""
        sys.modules["glow"] = _as_glow_module()
        try:
            return self.save(
                {
                    "model": model,
                    "iteration": 580000,
                    "optimizer": None,
                    "learning_rate": 1e-4,
                    **extra,
                },
                name,
            )
        finally:
            del sys.modules["glow"]

    # Parallel WaveGAN -----------------------------------------------------------------------

    small_pwg = PWGConfig(layers=6, stacks=3, residual_channels=8, gate_channels=16,
                          skip_channels=8)  # fmt: skip

    def pwg_config_yml(self, config: PWGConfig | None = None, **audio: object) -> dict:
        """The project's config.yml layout (parallel_wavegan.v1 with small channels)."""
        config = config or self.small_pwg
        data = {
            "sampling_rate": 22050,
            "fft_size": 1024,
            "hop_size": 256,
            "win_length": None,
            "window": "hann",
            "num_mels": 80,
            "fmin": 80,
            "fmax": 7600,
            "global_gain_scale": 1.0,
            "trim_silence": True,
            "format": "hdf5",
            "generator_type": "ParallelWaveGANGenerator",
            "generator_params": {
                "in_channels": 1,
                "out_channels": 1,
                "kernel_size": config.kernel_size,
                "layers": config.layers,
                "stacks": config.stacks,
                "residual_channels": config.residual_channels,
                "gate_channels": config.gate_channels,
                "skip_channels": config.skip_channels,
                "aux_channels": config.aux_channels,
                "aux_context_window": config.aux_context_window,
                "dropout": 0.0,
                "use_weight_norm": True,
                "upsample_net": config.upsample_net,
                "upsample_params": {"upsample_scales": list(config.upsample_scales)},
            },
            "discriminator_type": "ParallelWaveGANDiscriminator",
            "discriminator_params": {"layers": 10, "conv_channels": 64},
            "batch_size": 6,
            "batch_max_steps": 25600,
        }
        data.update(audio)
        return data

    def pwg_checkpoint(
        self,
        config: PWGConfig | None = None,
        *,
        seed: int = 0,
        steps: int = 400000,
        yml: dict | None = None,
        stats: bool = True,
    ) -> Path:
        """``exp/NAME/checkpoint-STEPSsteps.pkl`` with config.yml and stats.npy beside it."""
        config = config or self.small_pwg
        torch.manual_seed(seed)
        generator = ParallelWaveGANGenerator(config)
        for module in generator.modules():
            if isinstance(module, nn.Conv1d | nn.Conv2d):
                _weight_norm(module)
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, tensor in generator.state_dict().items():
                if name.endswith("weight_g"):
                    tensor.mul_(torch.rand(tensor.shape, generator=gen) + 0.5)
        directory = self.tmp_path / "exp" / "train_nodev_ljspeech_parallel_wavegan.v1"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"checkpoint-{steps}steps.pkl"
        torch.save(
            {
                "model": {"generator": generator.state_dict(), "discriminator": {}},
                "optimizer": {"generator": {}, "discriminator": {}},
                "scheduler": {"generator": {}, "discriminator": {}},
                "steps": steps,
                "epochs": 100,
            },
            path,
        )
        (directory / "config.yml").write_text(
            yaml.safe_dump(yml or self.pwg_config_yml(config)), encoding="utf-8"
        )
        if stats:
            rng = np.random.default_rng(seed)
            mean = rng.normal(-2.0, 0.5, size=80)
            scale = rng.uniform(0.5, 1.5, size=80)
            np.save(directory / "stats.npy", np.stack([mean, scale]).astype(np.float32))
        return path


@pytest.fixture
def build(tmp_path: Path) -> Builders:
    return Builders(tmp_path)
