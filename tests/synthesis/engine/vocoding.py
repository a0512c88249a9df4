"""What the vocoder tests share: a seeded random log-mel input and vocoding it with a seeded
noise generator, so two runs with the same seeds give the same samples."""

from __future__ import annotations

import torch

HOP = 256  # samples per mel frame in every vocoder under test (22050 Hz, LJSpeech settings)


def log_mel(frames: int, seed: int = 0) -> torch.Tensor:
    """A random ``(1, 80, frames)`` log-mel around -5, the level of real speech frames."""
    return torch.randn(1, 80, frames, generator=torch.Generator().manual_seed(seed)) - 5.0


def vocode(loaded, frames: int, seed: int = 3) -> torch.Tensor:
    """``loaded``'s generator on :func:`log_mel` ``(frames)``, its noise drawn from ``seed``."""
    with torch.inference_mode():
        return loaded.generator(log_mel(frames), generator=torch.Generator().manual_seed(seed))
