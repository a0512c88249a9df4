"""Parallel WaveGAN generator: a non-autoregressive WaveNet that turns noise and a mel into speech.

Data flow: ``tacotron2`` (text -> log-mel frames) -> this module (log-mel frames -> samples) ->
``audio.postprocess``. ``checkpoints.load_pwg`` reads the ParallelWaveGAN project's
``checkpoint-*.pkl`` and its ``config.yml``; this module holds the network.

The architecture is Yamamoto, Song and Kim, "Parallel WaveGAN: A fast waveform generation model
based on generative adversarial networks with multi-resolution spectrogram" (ICASSP 2020), with
module names as in kan-bayashi/ParallelWaveGAN ``parallel_wavegan/models/parallel_wavegan.py``
(``ParallelWaveGANGenerator``) so its generator weights load unchanged:

- ``upsample_net``: the mel is stretched to the sample rate by nearest-neighbour repetition and
  smoothed by a ``(1, 2 * scale + 1)`` 2-D convolution per upsampling stage; the
  ``ConvInUpsampleNetwork`` variant first runs a ``2 * aux_context_window + 1``-tap convolution
  over the frames (the caller pads the mel by ``aux_context_window`` frames on each side by
  repeating its edge frames, as the project's ``inference`` does).
- ``first_conv`` lifts Gaussian noise ``(B, 1, T)`` to ``residual_channels``; ``layers``
  gated residual blocks with dilation ``2 ** (i % (layers / stacks))`` add the upsampled mel
  through 1x1 convolutions; their skip outputs are summed, scaled by ``sqrt(1 / layers)`` and
  projected to one channel by ReLU, 1x1, ReLU, 1x1.

Training uses weight norm on every convolution; it is folded before the weights are loaded.
The features it expects are the project's: log10 mel magnitudes, normalised with the training
set's mean and scale (``stats.h5`` or ``stats.npy``); ``checkpoints.load_pwg`` builds the input
transform from a Tacotron2's natural-log mel to those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["PWGConfig", "PWGVocoder", "ParallelWaveGANGenerator"]


@dataclass(frozen=True)
class PWGConfig:
    """``generator_params`` of the project's config.yml (defaults are the project's)."""

    in_channels: int = 1
    out_channels: int = 1
    kernel_size: int = 3
    layers: int = 30
    stacks: int = 3
    residual_channels: int = 64
    gate_channels: int = 128
    skip_channels: int = 64
    aux_channels: int = 80
    aux_context_window: int = 2
    upsample_scales: tuple[int, ...] = (4, 4, 4, 4)
    upsample_net: str = "ConvInUpsampleNetwork"
    bias: bool = True

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_scales)

    @classmethod
    def from_generator_params(cls, params: dict[str, Any]) -> PWGConfig:
        """From ``generator_params``; raises ``ValueError`` for settings this port lacks."""
        unsupported = {
            "use_causal_conv": False,
            "upsample_conditional_features": True,
            "dropout": 0.0,
        }
        for key, supported in unsupported.items():
            if key in params and params[key] != supported:
                raise ValueError(f"generator_params.{key}: {params[key]!r} is not supported")
        upsample = params.get("upsample_params") or {}
        if upsample.get("nonlinear_activation") is not None:
            raise ValueError("upsample_params.nonlinear_activation is not supported")
        if int(upsample.get("freq_axis_kernel_size", 1)) != 1:
            raise ValueError("upsample_params.freq_axis_kernel_size other than 1 is not supported")
        if upsample.get("interpolate_mode", "nearest") != "nearest":
            raise ValueError(
                f"upsample_params.interpolate_mode: {upsample['interpolate_mode']!r} is not "
                "supported"
            )
        defaults = cls()
        return cls(
            in_channels=int(params.get("in_channels", defaults.in_channels)),
            out_channels=int(params.get("out_channels", defaults.out_channels)),
            kernel_size=int(params.get("kernel_size", defaults.kernel_size)),
            layers=int(params.get("layers", defaults.layers)),
            stacks=int(params.get("stacks", defaults.stacks)),
            residual_channels=int(params.get("residual_channels", defaults.residual_channels)),
            gate_channels=int(params.get("gate_channels", defaults.gate_channels)),
            skip_channels=int(params.get("skip_channels", defaults.skip_channels)),
            aux_channels=int(params.get("aux_channels", defaults.aux_channels)),
            aux_context_window=int(params.get("aux_context_window", defaults.aux_context_window)),
            upsample_scales=tuple(
                int(s) for s in upsample.get("upsample_scales", defaults.upsample_scales)
            ),
            upsample_net=str(params.get("upsample_net", defaults.upsample_net)),
            bias=bool(params.get("bias", defaults.bias)),
        )


class _Stretch2d(nn.Module):
    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=(1.0, float(self.scale)), mode="nearest")


class _UpsampleNetwork(nn.Module):
    """``up_layers``: (stretch, conv) per scale; the stretches hold no weights."""

    def __init__(self, scales: tuple[int, ...]) -> None:
        super().__init__()
        self.up_layers = nn.ModuleList()
        for scale in scales:
            self.up_layers.append(_Stretch2d(scale))
            self.up_layers.append(
                nn.Conv2d(1, 1, (1, 2 * scale + 1), padding=(0, scale), bias=False)
            )

    def forward(self, c: Tensor) -> Tensor:
        c = c.unsqueeze(1)
        for layer in self.up_layers:
            c = layer(c)
        return c.squeeze(1)


class _ConvInUpsampleNetwork(nn.Module):
    def __init__(self, config: PWGConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv1d(
            config.aux_channels,
            config.aux_channels,
            2 * config.aux_context_window + 1,
            bias=False,
        )
        self.upsample = _UpsampleNetwork(config.upsample_scales)

    def forward(self, c: Tensor) -> Tensor:
        return self.upsample(self.conv_in(c))


class _ResidualBlock(nn.Module):
    def __init__(self, config: PWGConfig, dilation: int) -> None:
        super().__init__()
        k, bias = config.kernel_size, config.bias
        self.conv = nn.Conv1d(
            config.residual_channels,
            config.gate_channels,
            k,
            padding=(k - 1) // 2 * dilation,
            dilation=dilation,
            bias=bias,
        )
        half = config.gate_channels // 2
        self.conv1x1_aux = nn.Conv1d(config.aux_channels, config.gate_channels, 1, bias=False)
        self.conv1x1_out = nn.Conv1d(half, config.residual_channels, 1, bias=bias)
        self.conv1x1_skip = nn.Conv1d(half, config.skip_channels, 1, bias=bias)

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        residual = x
        xa, xb = self.conv(x).chunk(2, dim=1)
        ca, cb = self.conv1x1_aux(c).chunk(2, dim=1)
        x = torch.tanh(xa + ca) * torch.sigmoid(xb + cb)
        skip = self.conv1x1_skip(x)
        return (self.conv1x1_out(x) + residual) * math.sqrt(0.5), skip


class ParallelWaveGANGenerator(nn.Module):
    """``forward(mel, noise)``: normalised log10-mel ``(B, aux_channels, frames)`` padded by
    ``aux_context_window`` frames on each side (``pad``), and noise ``(B, 1, frames * hop)``
    -> waveform ``(B, frames * hop)``."""

    def __init__(self, config: PWGConfig) -> None:
        super().__init__()
        if config.layers % config.stacks:
            raise ValueError(f"layers {config.layers} is not a multiple of stacks {config.stacks}")
        self.config = config
        self.first_conv = nn.Conv1d(config.in_channels, config.residual_channels, 1, bias=True)
        if config.upsample_net == "ConvInUpsampleNetwork":
            self.upsample_net: nn.Module = _ConvInUpsampleNetwork(config)
        elif config.upsample_net == "UpsampleNetwork":
            self.upsample_net = _UpsampleNetwork(config.upsample_scales)
        else:
            raise ValueError(f"upsample_net {config.upsample_net!r} is not supported")
        per_stack = config.layers // config.stacks
        self.conv_layers = nn.ModuleList(
            _ResidualBlock(config, 2 ** (i % per_stack)) for i in range(config.layers)
        )
        self.last_conv_layers = nn.ModuleList(
            [
                nn.ReLU(),
                nn.Conv1d(config.skip_channels, config.skip_channels, 1, bias=True),
                nn.ReLU(),
                nn.Conv1d(config.skip_channels, config.out_channels, 1, bias=True),
            ]
        )

    def pad(self, mel: Tensor) -> Tensor:
        """Repeat the edge frames ``aux_context_window`` times (the project's inference)."""
        window = self.context_frames
        return F.pad(mel, (window, window), mode="replicate") if window else mel

    @property
    def context_frames(self) -> int:
        return (
            self.config.aux_context_window if self.config.upsample_net != "UpsampleNetwork" else 0
        )

    def forward(self, mel: Tensor, noise: Tensor) -> Tensor:
        c = self.upsample_net(mel)
        x = self.first_conv(noise)
        skips = torch.zeros((), device=x.device, dtype=x.dtype)
        for layer in self.conv_layers:
            x, skip = layer(x, c)
            skips = skips + skip
        x = skips * math.sqrt(1.0 / len(self.conv_layers))
        for layer in self.last_conv_layers:
            x = layer(x)
        return x.squeeze(1)


class PWGVocoder(nn.Module):
    """A generator with the input transform a Tacotron2 needs: natural-log mel -> the project's
    normalised log10 mel (``(log10(mel) - mean) / scale``, with the training set's statistics),
    edge padding, and seeded noise.

    ``forward``: ``(B, n_mels, frames)`` natural-log mel -> ``(B, frames * hop)`` samples.
    """

    def __init__(self, generator: ParallelWaveGANGenerator, mean: Tensor, scale: Tensor) -> None:
        super().__init__()
        self.generator = generator
        self.register_buffer("mean", mean.float().reshape(1, -1, 1))
        self.register_buffer("scale", scale.float().reshape(1, -1, 1))

    def forward(self, mel: Tensor, generator: torch.Generator | None = None) -> Tensor:
        features = (mel / math.log(10.0) - self.mean) / self.scale
        samples = mel.shape[-1] * self.generator.config.hop_length
        noise = torch.randn(
            (mel.shape[0], 1, samples), generator=generator, device=mel.device, dtype=torch.float32
        ).to(features.dtype)
        return self.generator(self.generator.pad(features), noise)
