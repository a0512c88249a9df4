"""WaveGlow: the flow-based vocoder NVIDIA published beside Tacotron2, inference only.

Data flow: ``tacotron2`` (text -> log-mel frames) -> this module (log-mel frames -> samples) ->
``audio.postprocess``. Checkpoints are read by ``checkpoints.load_waveglow``; this module holds
the network.

The architecture is Prenger, Valle and Catanzaro, "WaveGlow: A Flow-based Generative Network for
Speech Synthesis" (ICASSP 2019), with module names as in NVIDIA/waveglow ``glow.py`` and
DeepLearningExamples ``PyTorch/SpeechSynthesis/Tacotron2/waveglow/model.py`` so that their
weights load unchanged: ``upsample`` (a transposed convolution from frames to samples), then
``n_flows`` steps of an invertible 1x1 convolution (``convinv``) and an affine coupling layer
whose scale and shift come from a WaveNet-like ``WN`` conditioned on the mel. Every
``n_early_every`` flows, ``n_early_size`` channels leave the flow early (training) or, at
inference, enter it as fresh noise. Inference runs the flows backwards from Gaussian noise of
standard deviation ``sigma``.

Weight norm (``WN``'s ``start``, ``in_layers``, ``res_skip_layers`` and conditioning layers) is
folded before loading, and each 1x1 convolution's inverse is computed once, in float64, when the
network is built.

The mel conditioning comes in two published layouts: one ``cond_layers`` convolution per layer
(DeepLearningExamples and the first NVIDIA/waveglow release) or a single ``cond_layer`` with all
layers' outputs stacked (later NVIDIA/waveglow); ``WaveGlowConfig.shared_cond_layer`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["WaveGlow", "WaveGlowConfig"]


@dataclass(frozen=True)
class WaveGlowConfig:
    """Hyper-parameters, named as in the published ``config.json`` (``waveglow_config``)."""

    n_mel_channels: int = 80
    n_flows: int = 12
    n_group: int = 8
    n_early_every: int = 4
    n_early_size: int = 2
    n_layers: int = 8
    n_channels: int = 256  # 512 in DeepLearningExamples' checkpoints
    kernel_size: int = 3
    upsample_kernel: int = 1024
    hop_length: int = 256  # the upsampling stride
    shared_cond_layer: bool = False

    def remaining_channels(self) -> list[int]:
        """Channels entering flow k (0..n_flows-1), as during training."""
        channels, out = self.n_group, []
        for k in range(self.n_flows):
            if k % self.n_early_every == 0 and k > 0:
                channels -= self.n_early_size
            out.append(channels)
        return out


class _WN(nn.Module):
    """The coupling network: (half the audio channels, upsampled mel) -> (shift, log-scale)."""

    def __init__(self, n_in: int, config: WaveGlowConfig) -> None:
        super().__init__()
        c, n_mel = config.n_channels, config.n_mel_channels * config.n_group
        self.n_layers, self.n_channels = config.n_layers, c
        self.start = nn.Conv1d(n_in, c, 1)
        self.end = nn.Conv1d(c, 2 * n_in, 1)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        k = config.kernel_size
        for i in range(config.n_layers):
            dilation = 2**i
            self.in_layers.append(
                nn.Conv1d(c, 2 * c, k, dilation=dilation, padding=(k * dilation - dilation) // 2)
            )
            last = i == config.n_layers - 1
            self.res_skip_layers.append(nn.Conv1d(c, c if last else 2 * c, 1))
        if config.shared_cond_layer:
            self.cond_layer = nn.Conv1d(n_mel, 2 * c * config.n_layers, 1)
        else:
            self.cond_layers = nn.ModuleList(
                nn.Conv1d(n_mel, 2 * c, 1) for _ in range(config.n_layers)
            )
        self.shared = config.shared_cond_layer

    def forward(self, audio: Tensor, spect: Tensor) -> Tensor:
        c = self.n_channels
        audio = self.start(audio)
        output = torch.zeros_like(audio)
        shared = self.cond_layer(spect) if self.shared else None
        for i in range(self.n_layers):
            if shared is not None:
                cond = shared[:, i * 2 * c : (i + 1) * 2 * c]
            else:
                cond = self.cond_layers[i](spect)
            acts = self.in_layers[i](audio) + cond
            acts = torch.tanh(acts[:, :c]) * torch.sigmoid(acts[:, c:])
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                audio = audio + res_skip[:, :c]
                output = output + res_skip[:, c:]
            else:
                output = output + res_skip
        return self.end(output)


class _Invertible1x1Conv(nn.Module):
    """``W`` as trained; ``inverse`` (set by ``WaveGlow.prepare``) is what inference uses."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1, bias=False)
        self.register_buffer("inverse", torch.eye(channels).unsqueeze(-1), persistent=False)


class WaveGlow(nn.Module):
    """WaveGlow with plain (folded) weights.

    ``forward(mel, noise)``: log-mel ``(batch, n_mel_channels, frames)`` and a generator for the
    noise -> waveform ``(batch, frames * hop_length)``. ``sigma`` scales the noise (NVIDIA's
    Tacotron2 inference uses 0.6-0.666; 1.0 is the training distribution).
    """

    def __init__(self, config: WaveGlowConfig) -> None:
        super().__init__()
        self.config = config
        self.upsample = nn.ConvTranspose1d(
            config.n_mel_channels,
            config.n_mel_channels,
            config.upsample_kernel,
            stride=config.hop_length,
        )
        self.WN = nn.ModuleList()
        self.convinv = nn.ModuleList()
        for channels in config.remaining_channels():
            self.WN.append(_WN(channels // 2, config))
            self.convinv.append(_Invertible1x1Conv(channels))

    @torch.no_grad()
    def prepare(self) -> WaveGlow:
        """Invert every 1x1 convolution once (after the weights are loaded)."""
        for layer in self.convinv:
            weight = layer.conv.weight.squeeze(-1).double()
            layer.inverse = torch.linalg.inv(weight).to(layer.conv.weight.dtype).unsqueeze(-1)
        return self

    def forward(
        self, mel: Tensor, generator: torch.Generator | None = None, sigma: float = 0.666
    ) -> Tensor:
        config = self.config
        batch, frames = mel.shape[0], mel.shape[-1]
        spect = self.upsample(mel)
        # The transposed convolution overhangs by kernel - stride samples: frames * hop remain.
        spect = spect[:, :, : frames * config.hop_length]
        groups = spect.shape[-1] // config.n_group
        # (B, mel, T) -> (B, mel * n_group, T / n_group): each step of the flow sees n_group
        # consecutive samples' conditioning stacked.
        spect = (
            spect.unfold(2, config.n_group, config.n_group)
            .permute(0, 2, 1, 3)
            .reshape(batch, groups, -1)
            .permute(0, 2, 1)
        )
        remaining = config.remaining_channels()
        noise_shape = (batch, remaining[-1], groups)
        audio = sigma * torch.randn(
            noise_shape, generator=generator, device=mel.device, dtype=torch.float32
        ).to(spect.dtype)
        for k in reversed(range(config.n_flows)):
            half = audio.shape[1] // 2
            audio_0, audio_1 = audio[:, :half], audio[:, half:]
            output = self.WN[k](audio_0, spect)
            shift, log_scale = output[:, :half], output[:, half:]
            audio_1 = (audio_1 - shift) / torch.exp(log_scale)
            audio = torch.cat([audio_0, audio_1], 1)
            audio = F.conv1d(audio, self.convinv[k].inverse.to(audio.dtype))
            if k % config.n_early_every == 0 and k > 0:
                early = torch.randn(
                    (batch, config.n_early_size, groups),
                    generator=generator,
                    device=mel.device,
                    dtype=torch.float32,
                ).to(audio.dtype)
                audio = torch.cat([sigma * early, audio], 1)
        return audio.permute(0, 2, 1).reshape(batch, -1)
