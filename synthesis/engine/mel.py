"""The mel spectrogram an acoustic model and its vocoder exchange, and the check that they agree.

Pure dataclasses and no torch, so the web process can compare a voice's mel settings when a
researcher chooses it (``synthesis.availability``) while the workers use the same definition
when they load the checkpoints (``checkpoints``, ``vocoders``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class MelSettingsMismatch(ValueError):
    """The acoustic model and the vocoder disagree on the mel spectrogram they exchange."""


@dataclass(frozen=True)
class MelSettings:
    """The mel spectrogram an acoustic model produces or a vocoder consumes.

    Both sides must agree field by field; ``check_mel_settings`` compares them before any
    synthesis, because a mismatched pair produces plausible-looking noise, not an error.
    """

    sample_rate: int = 22050
    n_mels: int = 80
    hop_length: int = 256
    win_length: int = 1024
    n_fft: int = 1024
    f_min: float = 0.0
    f_max: float = 8000.0

    def differences(self, other: MelSettings) -> list[str]:
        return [
            f.name
            for f in fields(self)
            if float(getattr(self, f.name)) != float(getattr(other, f.name))
        ]


# NVIDIA/tacotron2 hparams, torchaudio's TACOTRON2_*_CHAR_LJSPEECH bundles and HiFi-GAN's
# config_v1/v2/v3 all use these (LJSpeech, 22050 Hz).
LJSPEECH_MEL = MelSettings()


def check_mel_settings(acoustic: MelSettings, vocoder: MelSettings) -> None:
    """Raise ``MelSettingsMismatch`` naming every field where the two differ, with both values."""
    differing = acoustic.differences(vocoder)
    if differing:
        details = "; ".join(
            f"{name}: acoustic model {getattr(acoustic, name)}, vocoder {getattr(vocoder, name)}"
            for name in differing
        )
        raise MelSettingsMismatch(
            f"The acoustic model and the vocoder use different mel spectrograms ({details}). "
            "Pair the Tacotron2 checkpoint with a vocoder trained on the same mel settings."
        )


def mel_from_vocoder_config(kind: str, data: Mapping[str, Any]) -> MelSettings:
    """The mel settings a HiFi-GAN ``config.json`` or a Parallel WaveGAN ``config.yml`` (as a
    mapping) declares; what it leaves out is LJSpeech's. ``kind``: "hifigan" or "pwg"."""
    d = LJSPEECH_MEL
    rate = int(data.get("sampling_rate", d.sample_rate))
    if kind == "pwg":
        fft = int(data.get("fft_size", d.n_fft))
        win = int(data.get("win_length") or fft)
    else:
        fft = int(data.get("n_fft", d.n_fft))
        win = int(data.get("win_size", d.win_length))
    fmax = data.get("fmax", d.f_max)
    return MelSettings(
        sample_rate=rate,
        n_mels=int(data.get("num_mels", d.n_mels)),
        hop_length=int(data.get("hop_size", d.hop_length)),
        win_length=win,
        n_fft=fft,
        f_min=float(data.get("fmin") or 0.0),
        f_max=float(fmax) if fmax is not None else rate / 2,
    )
