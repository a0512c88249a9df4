"""The engines' shared steps: a request cut into seeded pieces, and pieces joined into a result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from synthesis.engine.protocol import (
    SynthesisRequest,
    piece_seed,
    pieces_result,
    prepare_request,
)
from synthesis.engine.text import PAUSE_SECONDS_BETWEEN_PIECES


@dataclass
class Piece:
    index: int
    text: str
    seed: int
    samples: np.ndarray | None = None
    frames: int = 0
    seconds: float = 0.0


def test_each_piece_gets_its_index_text_and_derived_seed():
    request = SynthesisRequest("First sentence here. " * 20, seed=7)
    prepared = prepare_request(request, 1000, Piece)
    assert prepared.error is None and len(prepared.items) > 1
    assert [p.index for p in prepared.items] == list(range(len(prepared.items)))
    assert [p.seed for p in prepared.items] == [piece_seed(7, p.index) for p in prepared.items]


@pytest.mark.parametrize(
    ("text", "seed", "expected"),
    [("", 1, "empty"), ("Fine.", -1, "seed"), ("x" * 50, 1, "too long")],
)
def test_a_request_that_cannot_be_cut_has_an_error_and_no_pieces(text, seed, expected):
    prepared = prepare_request(SynthesisRequest(text, seed=seed), 40, Piece)
    assert prepared.items == []
    assert expected in prepared.error


def test_a_value_error_of_the_engine_becomes_the_error():
    def refuse(index: int, text: str, seed: int) -> Piece:
        raise ValueError("the voice cannot say '~'")

    prepared = prepare_request(SynthesisRequest("Hello.", seed=1), 1000, refuse)
    assert (prepared.items, prepared.error) == ([], "the voice cannot say '~'")


def test_pieces_are_joined_with_the_pause_and_their_counts_summed():
    rate = 1000
    pieces = [
        Piece(0, "a", 1, np.ones(10, np.float32), frames=2, seconds=0.5),
        Piece(1, "b", 2, np.ones(20, np.float32), frames=3, seconds=0.25),
    ]
    result = pieces_result(
        SynthesisRequest("a b", seed=1, key="k"),
        pieces,
        sample_rate=rate,
        device="cpu",
        settings={"engine": "test"},
    )
    gap = int(round(PAUSE_SECONDS_BETWEEN_PIECES * rate))
    assert result.ok and result.samples.size == 30 + gap
    assert (result.mel_frames, result.seconds, result.pieces) == (5, 0.75, 2)
    assert (result.key, result.seed, result.settings) == ("k", 1, {"engine": "test"})


def test_an_error_result_has_no_samples_but_keeps_the_seconds_spent():
    pieces = [Piece(0, "a", 1, None, frames=4, seconds=0.5)]
    result = pieces_result(
        SynthesisRequest("a", seed=3),
        pieces,
        sample_rate=1000,
        device="cpu",
        settings={},
        error="no stop token",
    )
    assert not result.ok and result.samples.size == 0 and result.samples.dtype == np.float32
    assert (result.mel_frames, result.seconds, result.pieces) == (0, 0.5, 1)
