"""HiFi-GAN generator: the neural vocoder that turns Tacotron2's mel spectrograms into waveforms.

Data flow: ``tacotron2`` (text -> log-mel frames) -> this module (log-mel frames -> samples) ->
``audio.postprocess`` (loudness, trimming). Checkpoint files are read by ``checkpoints.py``;
this module only holds the network and its configuration.

The architecture is the generator of Kong, Kim and Bae, "HiFi-GAN: Generative Adversarial
Networks for Efficient and High Fidelity Speech Synthesis" (NeurIPS 2020): a 7-tap ``conv_pre``,
one transposed convolution per upsampling stage, each followed by multi-receptive-field fusion
(the mean of ``len(resblock_kernel_sizes)`` residual blocks, type 1 or 2), leaky ReLU with slope
0.1, a 7-tap ``conv_post`` and ``tanh``. Module names follow the authors' code (jik876/hifi-gan)
so that their ``generator_v1``/``v2``/``v3`` files load unchanged. One quirk is kept on purpose:
the activation before ``conv_post`` is a leaky ReLU with PyTorch's default slope 0.01, not 0.1,
exactly as in the published generator; trained weights expect it.

Training used weight normalisation (Salimans and Kingma 2016): every convolution stores a
direction ``weight_v`` and a magnitude ``weight_g``. At inference the weight is constant, so
``fold_weight_norm`` computes ``weight = g * v / ||v||`` once and the network runs plain
convolutions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "LOG_MEL_SILENCE",
    "HiFiGANConfig",
    "HiFiGANGenerator",
    "HIFIGAN_CONFIGS",
    "V1",
    "V2",
    "V3",
    "fold_weight_norm",
]

LRELU_SLOPE = 0.1
# Log-mel value of silence: HiFi-GAN and Tacotron2 compress mel magnitudes with
# log(clamp(x, min=1e-5)), so an all-silent frame is log(1e-5) in every band.
LOG_MEL_SILENCE = math.log(1e-5)


@dataclass(frozen=True)
class HiFiGANConfig:
    """Generator hyper-parameters, named as in the authors' ``config.json``.

    Only the fields that shape the generator are kept; the audio fields of the same file
    (sampling_rate, hop_size, ...) become ``checkpoints.MelSettings``.
    """

    resblock: str
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    num_mels: int = 80

    def __post_init__(self) -> None:
        if self.resblock not in ("1", "2"):
            raise ValueError(f'resblock must be "1" or "2", got {self.resblock!r}')
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError(
                f"upsample_rates {list(self.upsample_rates)} and upsample_kernel_sizes "
                f"{list(self.upsample_kernel_sizes)} must have the same length"
            )
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError(
                f"resblock_kernel_sizes {list(self.resblock_kernel_sizes)} and "
                f"resblock_dilation_sizes {[list(d) for d in self.resblock_dilation_sizes]} "
                "must have the same length"
            )
        expected = 3 if self.resblock == "1" else 2
        for dilations in self.resblock_dilation_sizes:
            if len(dilations) != expected:
                raise ValueError(
                    f"a type-{self.resblock} resblock takes {expected} dilations, "
                    f"got {list(dilations)}"
                )

    @property
    def hop_length(self) -> int:
        """Output samples per mel frame: the product of the upsampling rates."""
        return math.prod(self.upsample_rates)

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> HiFiGANConfig:
        """Build from the authors' ``config.json`` contents (extra keys are ignored)."""
        missing = [
            key
            for key in (
                "resblock",
                "upsample_rates",
                "upsample_kernel_sizes",
                "upsample_initial_channel",
                "resblock_kernel_sizes",
                "resblock_dilation_sizes",
            )
            if key not in data
        ]
        if missing:
            raise ValueError(f"HiFi-GAN config lacks {', '.join(missing)}")
        return cls(
            resblock=str(data["resblock"]),
            upsample_rates=tuple(int(v) for v in data["upsample_rates"]),
            upsample_kernel_sizes=tuple(int(v) for v in data["upsample_kernel_sizes"]),
            upsample_initial_channel=int(data["upsample_initial_channel"]),
            resblock_kernel_sizes=tuple(int(v) for v in data["resblock_kernel_sizes"]),
            resblock_dilation_sizes=tuple(
                tuple(int(d) for d in ds) for ds in data["resblock_dilation_sizes"]
            ),
            num_mels=int(data.get("num_mels", 80)),
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The generator part of a ``config.json``."""
        return {
            "resblock": self.resblock,
            "upsample_rates": list(self.upsample_rates),
            "upsample_kernel_sizes": list(self.upsample_kernel_sizes),
            "upsample_initial_channel": self.upsample_initial_channel,
            "resblock_kernel_sizes": list(self.resblock_kernel_sizes),
            "resblock_dilation_sizes": [list(d) for d in self.resblock_dilation_sizes],
            "num_mels": self.num_mels,
        }


# The three published configurations (jik876/hifi-gan config_v1.json, config_v2.json,
# config_v3.json). All three are 22050 Hz, 80 mels, hop 256, window and FFT 1024, 0-8000 Hz.
V1 = HiFiGANConfig(
    resblock="1",
    upsample_rates=(8, 8, 2, 2),
    upsample_kernel_sizes=(16, 16, 4, 4),
    upsample_initial_channel=512,
    resblock_kernel_sizes=(3, 7, 11),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
)
V2 = dataclasses.replace(V1, upsample_initial_channel=128)  # V1 with fewer channels
V3 = HiFiGANConfig(
    resblock="2",
    upsample_rates=(8, 8, 4),
    upsample_kernel_sizes=(16, 16, 8),
    upsample_initial_channel=256,
    resblock_kernel_sizes=(3, 5, 7),
    resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
)
HIFIGAN_CONFIGS: dict[str, HiFiGANConfig] = {"v1": V1, "v2": V2, "v3": V3}


def _padding(kernel_size: int, dilation: int) -> int:
    # "Same" padding for an odd kernel: output length equals input length.
    return dilation * (kernel_size - 1) // 2


def _dilated_convs(channels: int, kernel_size: int, dilation: Sequence[int]) -> nn.ModuleList:
    # One length-keeping convolution per dilation: the first half of both residual blocks.
    return nn.ModuleList(
        nn.Conv1d(channels, channels, kernel_size, 1, _padding(kernel_size, d), dilation=d)
        for d in dilation
    )


class ResBlock1(nn.Module):
    """Three pairs (dilated conv, plain conv), each pair wrapped in a residual connection.

    Shapes: ``(batch, channels, time) -> (batch, channels, time)``.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = _dilated_convs(channels, kernel_size, dilation)
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, 1, _padding(kernel_size, 1))
            for _ in dilation
        )

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE))
            xt = c2(F.leaky_relu(xt, LRELU_SLOPE))
            x = xt + x
        return x


class ResBlock2(nn.Module):
    """Two dilated convolutions, each wrapped in a residual connection (the V3 block).

    Shapes: ``(batch, channels, time) -> (batch, channels, time)``.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: Sequence[int]) -> None:
        super().__init__()
        self.convs = _dilated_convs(channels, kernel_size, dilation)

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = c(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


class HiFiGANGenerator(nn.Module):
    """The HiFi-GAN generator with plain (already folded) convolution weights.

    ``forward``: log-mel ``(batch, num_mels, frames)`` -> waveform ``(batch, frames * hop)``
    in [-1, 1].
    """

    def __init__(self, config: HiFiGANConfig) -> None:
        super().__init__()
        self.config = config
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.num_upsamples = len(config.upsample_rates)
        ch0 = config.upsample_initial_channel
        self.conv_pre = nn.Conv1d(config.num_mels, ch0, 7, 1, padding=3)
        block = ResBlock1 if config.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = ch0
        for i, (u, k) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes)):
            ch = ch0 // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(ch0 // (2**i), ch, k, u, padding=(k - u) // 2))
            for k_res, d_res in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
                self.resblocks.append(block(ch, k_res, d_res))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs = xs + block(x)
            x = xs / self.num_kernels
        # Default slope (0.01) here, as in the published generator.
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x).squeeze(1)

    def receptive_field_frames(self) -> int:
        """How many mel frames on either side can influence an output sample (an upper bound).

        The synthesizer pads every item with this many frames of silence so that an item's
        samples do not depend on what else shares its batch.
        """
        cfg = self.config
        # Work backwards in samples at each stage's rate, then convert to frames.
        reach_samples = 3.0  # conv_post
        rate = cfg.hop_length
        for i in reversed(range(self.num_upsamples)):
            per_block = []
            for k, dilations in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                half = (k - 1) // 2
                reach = sum(half * d for d in dilations)
                if cfg.resblock == "1":
                    reach += half * len(dilations)
                per_block.append(reach)
            reach_samples += max(per_block)
            # Through the transposed convolution: one input step covers `u` outputs and a
            # kernel of `k` taps reaches ceil(k / u) input steps.
            u, k = cfg.upsample_rates[i], cfg.upsample_kernel_sizes[i]
            reach_samples = reach_samples / u + math.ceil(k / u)
            rate //= u
        reach_frames = reach_samples + 3  # conv_pre
        return int(math.ceil(reach_frames))


def _norm_except_dim0(v: Tensor) -> Tensor:
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


def fold_weight_norm(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace weight-norm pairs by the plain weights they define.

    Accepts the old ``torch.nn.utils.weight_norm`` names (``X.weight_g``, ``X.weight_v``) and
    the parametrization names of ``torch.nn.utils.parametrizations.weight_norm``
    (``X.parametrizations.weight.original0`` / ``original1``). Both normalise over every
    dimension except 0, so ``weight = g * v / ||v||`` with the norm taken per slice of dim 0
    (output channels for Conv1d, input channels for ConvTranspose1d). Keys that carry a
    plain ``weight`` are passed through.
    """
    folded: dict[str, Tensor] = {}
    pairs: dict[str, dict[str, Tensor]] = {}
    for key, value in state.items():
        if key.endswith((".weight_g", ".weight_v")):
            pairs.setdefault(key[: -len(".weight_g")], {})[key[-1]] = value
        elif key.endswith(".parametrizations.weight.original0"):
            pairs.setdefault(key[: -len(".parametrizations.weight.original0")], {})["g"] = value
        elif key.endswith(".parametrizations.weight.original1"):
            pairs.setdefault(key[: -len(".parametrizations.weight.original1")], {})["v"] = value
        else:
            folded[key] = value
    for prefix, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            raise ValueError(f"{prefix}: weight norm needs both g and v, found only {set(pair)}")
        g, v = pair["g"].float(), pair["v"].float()
        folded[f"{prefix}.weight"] = g * v / _norm_except_dim0(v)
    return folded
