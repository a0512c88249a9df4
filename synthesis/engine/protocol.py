"""What every voice engine speaks: a list of requests in, one result per request out.

Tacotron2 + vocoder (``synthesizer.Synthesizer``), Piper (``piper.PiperSynthesizer``) and eSpeak
NG (``espeak.EspeakSynthesizer``) all offer ``synthesize(requests) -> results``, ``sample_rate``,
``device`` and ``peak_memory_bytes``, so the worker (``synthesis.clips``) handles every voice the
same way. The two engines that cut a text into pieces (Tacotron2 and Piper) also share here how a
request becomes pieces (:func:`prepare_request`) and how the pieces become its result
(:func:`pieces_result`). This module needs neither torch nor onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from .text import PAUSE_SECONDS_BETWEEN_PIECES, request_pieces

__all__ = [
    "MAX_SEED",
    "PreparedRequest",
    "join_pieces",
    "pieces_result",
    "prepare_request",
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


class SynthesisedPiece(Protocol):
    """What :func:`pieces_result` reads of an engine's piece once it has been synthesised."""

    samples: np.ndarray | None
    frames: int
    seconds: float


PieceT = TypeVar("PieceT")


@dataclass
class PreparedRequest(Generic[PieceT]):
    """A request cut into the engine's pieces, or why it cannot be (``error`` set, no pieces)."""

    items: list[PieceT] = field(default_factory=list)
    error: str | None = None


def prepare_request(
    request: SynthesisRequest,
    max_text_chars: int,
    make_piece: Callable[[int, str, int], PieceT],
) -> PreparedRequest[PieceT]:
    """``request``'s text as the engine's pieces: ``make_piece(index, text, seed)`` for each
    piece of ``text.request_pieces``, seeded by :func:`piece_seed`.

    A bad seed, a text with nothing to say or too long, or a ``ValueError`` of ``make_piece``
    (characters the voice cannot say) becomes the request's ``error``, with no pieces, so one
    bad request never stops the others of a batch.
    """
    error = seed_problem(request.seed)
    if error is not None:
        return PreparedRequest(error=error)
    try:
        pieces = request_pieces(request.text, max_text_chars)
        return PreparedRequest(
            items=[
                make_piece(index, piece, piece_seed(int(request.seed), index))
                for index, piece in enumerate(pieces)
            ]
        )
    except ValueError as problem:  # UnsupportedCharactersError, EmptyTextError, split_text
        return PreparedRequest(error=str(problem))


def pieces_result(
    request: SynthesisRequest,
    pieces: Sequence[SynthesisedPiece],
    *,
    sample_rate: int,
    device: str,
    settings: dict[str, Any],
    error: str | None = None,
) -> SynthesisResult:
    """The result of ``request`` from its synthesised pieces: their samples joined, their frames
    and seconds summed. With ``error``, no samples and no frames; the seconds spent still count.
    """
    seconds = sum(piece.seconds for piece in pieces)
    if error is not None:
        return SynthesisResult(
            key=request.key,
            samples=np.zeros(0, dtype=np.float32),
            sample_rate=sample_rate,
            mel_frames=0,
            seconds=seconds,
            device=device,
            error=error,
            seed=request.seed,
            pieces=len(pieces),
            settings=settings,
        )
    return SynthesisResult(
        key=request.key,
        samples=join_pieces([piece.samples for piece in pieces], sample_rate),
        sample_rate=sample_rate,
        mel_frames=sum(piece.frames for piece in pieces),
        seconds=seconds,
        device=device,
        seed=request.seed,
        pieces=len(pieces),
        settings=settings,
    )
