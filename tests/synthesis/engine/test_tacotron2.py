"""Tacotron2 batched decoding: per-item seeds, stop tokens, step limits, masking."""

from __future__ import annotations

import pytest
import torch

from synthesis.engine.tacotron2 import (
    Tacotron2Params,
    _encode,
    build_tacotron2,
    decode_batch,
    onednn_linear_available,
    params_from_state_dict,
)

TOKENS = [
    [12, 13, 14, 15, 16, 17, 11, 18, 19, 20, 21, 7],
    [30, 31, 32],
    [20, 21, 22, 23, 24, 25, 26],
]


def _decode(model, tokens, seeds, limits, **options):
    with torch.inference_mode():
        return decode_batch(model, tokens, seeds, limits, **options)


def test_params_are_read_back_from_a_state_dict():
    for params in (Tacotron2Params(), Tacotron2Params(n_symbol=38, decoder_rnn_dim=64)):
        model = build_tacotron2(params)
        assert params_from_state_dict(model.state_dict()) == params


@pytest.mark.parametrize("kernels", ["fused", "onednn"])
def test_fused_decoder_step_matches_torchaudios_decode(build, kernels):
    if kernels == "onednn" and not onednn_linear_available():
        pytest.skip("this PyTorch build has no oneDNN packed linear kernels")
    model = build.tacotron2(seed=6, gate_bias=-1.0, gate_scale=16.0)
    reference = _decode(model, TOKENS, [1, 2, 3], [60, 60, 60], kernels="torchaudio")
    fused = _decode(model, TOKENS, [1, 2, 3], [60, 60, 60], kernels=kernels)
    for a, b in zip(reference, fused):
        assert (a.frames, a.stopped) == (b.frames, b.stopped)
        torch.testing.assert_close(b.mel, a.mel, rtol=1e-4, atol=1e-5)


def test_unknown_kernels_are_refused(build):
    with pytest.raises(ValueError, match="kernels must be auto, torchaudio, fused or onednn"):
        _decode(build.tacotron2(), TOKENS, [1, 2, 3], [5, 5, 5], kernels="fast")


def test_same_seed_gives_the_same_mel_bit_for_bit(build):
    model = build.tacotron2(seed=1)
    first = _decode(model, TOKENS, [1, 2, 3], [30, 30, 30], ignore_stop_token=True)
    again = _decode(model, TOKENS, [1, 2, 3], [30, 30, 30], ignore_stop_token=True)
    for a, b in zip(first, again):
        assert torch.equal(a.mel, b.mel)


def test_prenet_dropout_stays_on_so_the_seed_matters(build):
    model = build.tacotron2(seed=1)
    one = _decode(model, TOKENS[:1], [1], [30], ignore_stop_token=True)[0]
    two = _decode(model, TOKENS[:1], [2], [30], ignore_stop_token=True)[0]
    assert not model.training
    assert (one.mel - two.mel).abs().max() > 1e-3


def test_an_item_decodes_the_same_alone_and_in_any_batch(build):
    model = build.tacotron2(seed=2)
    alone = [
        _decode(model, [tokens], [seed], [40], ignore_stop_token=True)[0]
        for tokens, seed in zip(TOKENS, [7, 8, 9])
    ]
    together = _decode(model, TOKENS, [7, 8, 9], [40, 40, 40], ignore_stop_token=True)
    shuffled = _decode(
        model,
        [TOKENS[2], [5] * 25, TOKENS[0], TOKENS[1]],
        [9, 123, 7, 8],
        [40, 55, 40, 40],
        ignore_stop_token=True,
    )
    for solo, batched in zip(alone, together):
        assert batched.frames == solo.frames == 40
        torch.testing.assert_close(batched.mel, solo.mel, rtol=1e-4, atol=1e-5)
    for solo, batched in zip(alone, [shuffled[2], shuffled[3], shuffled[0]]):
        torch.testing.assert_close(batched.mel, solo.mel, rtol=1e-4, atol=1e-5)


def test_masked_encoder_matches_a_solo_run(build):
    model = build.tacotron2(seed=3)
    lengths = torch.tensor([len(t) for t in TOKENS[:2]])
    padded = torch.zeros(2, 12, dtype=torch.long)
    for row, tokens in enumerate(TOKENS[:2]):
        padded[row, : len(tokens)] = torch.tensor(tokens)
    with torch.inference_mode():
        batched = _encode(model, padded, lengths)
        solo = _encode(model, torch.tensor([TOKENS[1]]), torch.tensor([3]))
    torch.testing.assert_close(batched[1, :3], solo[0], rtol=1e-5, atol=1e-6)


def test_items_with_different_limits_stop_at_their_own_limit(build):
    model = build.tacotron2(seed=4)
    results = _decode(model, TOKENS, [1, 2, 3], [25, 7, 13], ignore_stop_token=True)
    assert [r.frames for r in results] == [25, 7, 13]
    assert all(r.stopped for r in results)
    alone = _decode(model, TOKENS[1:2], [2], [7], ignore_stop_token=True)[0]
    torch.testing.assert_close(results[1].mel, alone.mel, rtol=1e-4, atol=1e-5)


def test_stop_token_ends_each_item_on_the_frame_it_fires(build):
    model = build.tacotron2(seed=5, gate_bias=30.0)
    results = _decode(model, TOKENS, [1, 2, 3], [50, 50, 50])
    assert [(r.frames, r.stopped) for r in results] == [(1, True)] * 3


def test_an_item_that_never_stops_reports_it_at_its_limit(build):
    model = build.tacotron2(seed=5, gate_bias=-30.0)
    results = _decode(model, TOKENS, [1, 2, 3], [12, 20, 16])
    assert [(r.frames, r.stopped) for r in results] == [(12, False), (20, False), (16, False)]


def test_random_stop_tokens_stop_items_at_different_steps_batch_invariantly(build):
    # A random gate (scaled up) fires at a step that depends on each item's own state.
    model = build.tacotron2(seed=2, gate_bias=-1.0, gate_scale=16.0)
    seeds = [21, 22, 23, 24]
    tokens = [*TOKENS, [8, 9, 10, 11, 12]]
    together = _decode(model, tokens, seeds, [200] * 4)
    frames = [r.frames for r in together]
    assert all(r.stopped for r in together)
    assert len(set(frames)) > 1, frames
    for item, seed, batched in zip(tokens, seeds, together):
        solo = _decode(model, [item], [seed], [200])[0]
        assert solo.frames == batched.frames
        torch.testing.assert_close(batched.mel, solo.mel, rtol=1e-4, atol=1e-5)


def test_empty_item_is_refused(build):
    model = build.tacotron2()
    with pytest.raises(ValueError, match="at least one symbol"):
        _decode(model, [[1, 2], []], [1, 2], [5, 5])
