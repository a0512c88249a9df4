"""What every voice engine speaks: a list of requests in, one result per request out.

Tacotron2 + vocoder (``synthesizer.Synthesizer``), Piper (``piper.PiperSynthesizer``) and eSpeak
NG (``espeak.EspeakSynthesizer``) all offer ``synthesize(requests) -> results``, ``sample_rate``,
``device`` and ``peak_memory_bytes``, so the worker (``synthesis.clips``) handles every voice the
same way. This module needs neither torch nor onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .text import PAUSE_SECONDS_BETWEEN_PIECES

__all__ = [
    "MAX_SEED",
    "join_pieces",
    "SynthesisRequest",
    "SynthesisResult",
    "piece_seed",
    "seed_problem",
]

MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class SynthesisRequest:
    """One sentence to synthesise. ``seed`` fixes every random choice the engine makes
    (Tacotron2's prenet dropout and Griffin-Lim's phase, VITS's noise)."""

    text: str
    seed: int
    key: str = ""


@dataclass
class SynthesisResult:
    """The clip for one request, or why there is none.

    ``samples``: float32 mono at ``sample_rate``, the pieces of the text joined with
    ``text.PAUSE_SECONDS_BETWEEN_PIECES`` of silence; empty when ``error`` is set.
    ``mel_frames``: acoustic frames behind the samples (``frames * hop`` samples per piece; 0 for
    eSpeak NG). ``seconds``: wall-clock synthesis time spent on this clip, so ``seconds /
    duration_s`` is its real-time factor. ``settings``: what produced the clip besides its seed
    and text (engine, model digest, speaker, noise and length scales...), for the clip's record.
    """

    key: str
    samples: np.ndarray
    sample_rate: int
    mel_frames: int
    seconds: float
    device: str
    error: str | None = None
    seed: int = 0
    pieces: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate if self.sample_rate else 0.0


def seed_problem(seed: object) -> str | None:
    """Why ``seed`` cannot seed a clip, or None when it can (an integer in 0..2**63 - 1)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        return f"the seed must be an integer, got {seed!r}"
    if not 0 <= int(seed) <= MAX_SEED:
        return f"the seed must be between 0 and 2**63 - 1, got {seed}"
    return None


def piece_seed(seed: int, index: int) -> int:
    """The seed of piece ``index`` of a request: the request's seed itself for the first."""
    if index == 0:
        return seed
    state = np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0]
    return int(state) & MAX_SEED


def join_pieces(parts: list[np.ndarray], sample_rate: int) -> np.ndarray:
    """The pieces of one request as one float32 clip, ``PAUSE_SECONDS_BETWEEN_PIECES`` apart."""
    gap = np.zeros(int(round(PAUSE_SECONDS_BETWEEN_PIECES * sample_rate)), dtype=np.float32)
    joined: list[np.ndarray] = []
    for index, part in enumerate(parts):
        if index:
            joined.append(gap)
        joined.append(part)
    return np.concatenate(joined).astype(np.float32, copy=False)
