"""Synthesizer: checkpoints in every public format become clips of the right length and rate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile
import torch
from torch.nn import functional as F
from torchaudio.pipelines import TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH

from synthesis.engine.checkpoints import (
    LJSPEECH_MEL,
    CheckpointError,
    MelSettingsMismatch,
    load_acoustic,
)
from synthesis.engine.hifigan import HIFIGAN_CONFIGS
from synthesis.engine.synthesizer import (
    NO_STOP_TOKEN,
    SynthesisRequest,
    Synthesizer,
    griffinlim_vocoder,
    piece_seed,
)
from synthesis.engine.tacotron2 import Tacotron2Params
from synthesis.engine.text import PAUSE_SECONDS_BETWEEN_PIECES
from synthesis.engine.vocoders import load_hifigan
from synthesis.management.commands.synthesize_text import SynthesisFailed, synthesize_text

HOP = 256
RATE = 22050


@pytest.fixture
def torchaudio_acoustic(build):
    return load_acoustic(build.save(build.tacotron2(seed=1).state_dict(), "bundle.pth"))


@pytest.fixture
def small_hifigan(build):
    return load_hifigan(build.hifigan_checkpoint(build.weight_normed_generator(build.small_v2)))


def _fixed(acoustic, vocoder, steps=24, **options):
    return Synthesizer(
        acoustic, vocoder, device="cpu", max_decoder_steps=steps, ignore_stop_token=True, **options
    )


def _check_clip(result, frames, bounded=True):
    assert result.error is None
    assert result.sample_rate == RATE
    assert result.mel_frames == frames
    assert result.samples.dtype == np.float32
    assert result.samples.shape == (frames * HOP,)
    assert result.duration_s == pytest.approx(frames * HOP / RATE)
    assert result.seconds > 0  # compute time spent on it
    assert np.all(np.isfinite(result.samples)) and np.abs(result.samples).max() > 0
    if bounded:  # HiFi-GAN ends in tanh; Griffin-Lim's output is not bounded
        assert np.abs(result.samples).max() <= 1.0


# --- every public format makes audio ------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [
        "tacotron2_statedict",
        "no_num_batches_tracked",
        "ddp_module_prefix",
        "deep_learning_examples",
        "plain_state_dict",
    ],
)
def test_nvidia_checkpoints_with_hifigan_make_clips(build, layout):
    nvidia = build.nvidia_tacotron2(seed=3)
    if layout == "plain_state_dict":
        path = build.save(nvidia.state_dict(), "plain.pt")
    else:
        path = build.nvidia_checkpoint(
            nvidia,
            num_batches_tracked=layout != "no_num_batches_tracked",
            module_prefix=layout in ("ddp_module_prefix", "deep_learning_examples"),
            deep_learning_examples_metadata=layout == "deep_learning_examples",
        )
    acoustic = load_acoustic(path)
    vocoder = load_hifigan(build.hifigan_checkpoint(build.weight_normed_generator(build.small_v1)))
    (result,) = _fixed(acoustic, vocoder, steps=17).synthesize(
        [SynthesisRequest("Hello {HH AH0 L OW1} world.", seed=4, key="k")]
    )
    assert result.key == "k" and result.device == "cpu" and result.seed == 4
    _check_clip(result, 17)


@pytest.mark.parametrize("config_name", ["small_v1", "small_v2", "small_v3"])
@pytest.mark.parametrize("with_config_json", [True, False])
def test_each_hifigan_family_makes_clips(build, torchaudio_acoustic, config_name, with_config_json):
    config = getattr(build, config_name)
    path = build.hifigan_checkpoint(build.weight_normed_generator(config))
    vocoder = load_hifigan(path, build.hifigan_json(config) if with_config_json else None)
    (result,) = _fixed(torchaudio_acoustic, vocoder, steps=9).synthesize(
        [SynthesisRequest("A short test.", seed=1)]
    )
    _check_clip(result, 9)


def test_griffinlim_makes_clips_of_frames_times_hop(torchaudio_acoustic):
    synthesizer = _fixed(torchaudio_acoustic, griffinlim_vocoder(), steps=20)
    results = synthesizer.synthesize(
        [SynthesisRequest("Griffin and Lim.", seed=2), SynthesisRequest("Again.", seed=3)]
    )
    for result in results:
        _check_clip(result, 20, bounded=False)


def test_griffinlim_reproduces_torchaudios_bundle_vocoder(torchaudio_acoustic):
    synthesizer = _fixed(torchaudio_acoustic, griffinlim_vocoder())
    mel = torch.randn(80, 30) * 2 - 6
    ours = synthesizer._griffinlim(mel, seed=5)
    bundle = TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH.get_vocoder()  # needs no download
    torch.manual_seed(5)
    with torch.inference_mode():
        # The bundle's output spans (frames - 1) * hop; ours appends one silent frame.
        reference, _ = bundle(F.pad(mel, (0, 1), value=math.log(1e-5))[None])
    assert ours.shape == (30 * HOP,)
    np.testing.assert_allclose(ours, reference[0].numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_full_size_nvidia_tacotron2_with_hifigan_v1(build):
    nvidia = build.nvidia_tacotron2(Tacotron2Params(n_symbol=148), seed=0)
    acoustic = load_acoustic(build.nvidia_checkpoint(nvidia, module_prefix=True))
    vocoder = load_hifigan(
        build.hifigan_checkpoint(build.weight_normed_generator(HIFIGAN_CONFIGS["v1"]))
    )
    results = _fixed(acoustic, vocoder, steps=12).synthesize(
        [SynthesisRequest("Full size.", seed=1), SynthesisRequest("Two items here.", seed=2)]
    )
    for result in results:
        _check_clip(result, 12)


# --- the same weights in both layouts ---------------------------------------------------------


def test_same_weights_in_nvidia_and_torchaudio_layout_give_the_same_clip(build):
    params = build.params(148)
    nvidia = build.nvidia_tacotron2(params, seed=8)
    torchaudio_model = build.same_weights_in_torchaudio_layout(nvidia, params)
    from_nvidia = load_acoustic(build.nvidia_checkpoint(nvidia, num_batches_tracked=False))
    from_torchaudio = load_acoustic(build.save(torchaudio_model.state_dict(), "ta.pth"))
    assert from_torchaudio.symbol_set == from_nvidia.symbol_set
    requests = [SynthesisRequest("Same weights, same sound.", seed=11)]
    clips = [
        _fixed(acoustic, griffinlim_vocoder(), steps=15).synthesize(requests)[0]
        for acoustic in (from_nvidia, from_torchaudio)
    ]
    np.testing.assert_array_equal(clips[0].samples, clips[1].samples)
    # And the mel itself (before the vocoder):
    mels = []
    for acoustic in (from_nvidia, from_torchaudio):
        synthesizer = _fixed(acoustic, griffinlim_vocoder(), steps=15)
        (item,) = synthesizer._prepare(requests[0]).items
        synthesizer._decode([item])
        mels.append(item.mel)
    assert torch.equal(mels[0], mels[1])


# --- seeds and batches -------------------------------------------------------------------------


def test_same_seed_same_clip_alone_or_with_other_items(torchaudio_acoustic, small_hifigan):
    synthesizer = _fixed(torchaudio_acoustic, small_hifigan, steps=30)
    target = SynthesisRequest("The quick brown fox.", seed=42, key="target")
    alone = synthesizer.synthesize([target])[0]
    again = synthesizer.synthesize([target])[0]
    np.testing.assert_array_equal(alone.samples, again.samples)
    crowd = synthesizer.synthesize(
        [
            SynthesisRequest("A much longer sentence that comes first in the batch.", seed=1),
            target,
            SynthesisRequest("Tiny.", seed=42),
        ]
    )
    assert crowd[1].key == "target"
    # Equal to float rounding (measured ~1e-7); another seed moves samples by ~1e-4 with this
    # small random vocoder.
    np.testing.assert_allclose(crowd[1].samples, alone.samples, rtol=0, atol=1e-6)
    other_seed = synthesizer.synthesize([SynthesisRequest(target.text, seed=43)])[0]
    assert np.abs(other_seed.samples - alone.samples).max() > 2e-5


def test_frame_budget_splits_batches_without_changing_clips(torchaudio_acoustic, small_hifigan):
    requests = [SynthesisRequest(f"Sentence number {i}.", seed=i) for i in range(5)]
    one_batch = _fixed(torchaudio_acoustic, small_hifigan, steps=20)
    many = _fixed(
        torchaudio_acoustic, small_hifigan, steps=20, max_batch_frames=40, vocoder_batch_frames=60
    )
    big = one_batch.synthesize(requests)
    small = many.synthesize(requests)
    assert one_batch.last_stats.batches == 1
    assert many.last_stats.batches == 3
    for a, b in zip(big, small):
        np.testing.assert_allclose(a.samples, b.samples, rtol=0, atol=1e-6)


@pytest.mark.parametrize("config_name", ["small_v1", "small_v3"])
def test_vocoder_tiling_does_not_change_clips(build, torchaudio_acoustic, config_name):
    path = build.hifigan_checkpoint(build.weight_normed_generator(getattr(build, config_name)))
    vocoder = load_hifigan(path)
    requests = [SynthesisRequest("Tiles.", seed=1), SynthesisRequest("More tiles here.", seed=2)]
    whole = _fixed(torchaudio_acoustic, vocoder, steps=40, vocoder_chunk_frames=1000)
    tiled = _fixed(
        torchaudio_acoustic, vocoder, steps=40, vocoder_chunk_frames=7, vocoder_batch_frames=100
    )
    for a, b in zip(whole.synthesize(requests), tiled.synthesize(requests)):
        _check_clip(b, 40)
        np.testing.assert_allclose(a.samples, b.samples, rtol=0, atol=1e-6)


def test_bf16_autocast_path_makes_clips_of_the_same_length(torchaudio_acoustic, small_hifigan):
    # Exercises torchaudio's own decoder step (chosen under autocast, as on CUDA).
    requests = [SynthesisRequest("Half precision.", seed=3)]
    fp32 = _fixed(torchaudio_acoustic, small_hifigan, steps=12).synthesize(requests)[0]
    bf16 = _fixed(torchaudio_acoustic, small_hifigan, steps=12, cpu_bf16=True).synthesize(requests)
    _check_clip(bf16[0], 12)
    assert np.abs(bf16[0].samples - fp32.samples).max() < 0.05


def test_threads_option_sets_torch_threads(torchaudio_acoustic, small_hifigan):
    before = torch.get_num_threads()
    try:
        Synthesizer(torchaudio_acoustic, small_hifigan, device="cpu", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        Synthesizer(torchaudio_acoustic, small_hifigan, device="cpu", threads=0)


def test_stats_record_time_and_peak_memory(torchaudio_acoustic, small_hifigan):
    synthesizer = _fixed(torchaudio_acoustic, small_hifigan, steps=10)
    results = synthesizer.synthesize(
        [SynthesisRequest("Memory.", seed=1), SynthesisRequest("And time.", seed=2)]
    )
    stats = synthesizer.last_stats
    assert stats.items == 2 and stats.batches == 1
    assert stats.audio_seconds == pytest.approx(2 * 10 * HOP / RATE)
    assert stats.wall_seconds >= stats.decoder_seconds + stats.vocoder_seconds
    # Each clip carries its share of the batch's time; the shares add up.
    assert sum(r.seconds for r in results) == pytest.approx(
        stats.decoder_seconds + stats.vocoder_seconds
    )
    assert synthesizer.peak_memory_bytes == stats.peak_memory_bytes > 10_000_000
    assert stats.peak_memory_source.startswith("ru_maxrss")
    assert synthesizer.device == "cpu" and synthesizer.sample_rate == RATE


# --- long text, stop tokens, limits ---------------------------------------------------------------


def test_long_text_is_split_and_joined_with_pauses(torchaudio_acoustic, small_hifigan):
    sentence = "This sentence has about sixty characters in it, give or take. "
    text = sentence * 5
    synthesizer = _fixed(torchaudio_acoustic, small_hifigan, steps=10)
    (result,) = synthesizer.synthesize([SynthesisRequest(text, seed=5)])
    assert result.error is None
    assert result.pieces >= 2
    gap = round(PAUSE_SECONDS_BETWEEN_PIECES * RATE)
    assert result.mel_frames == 10 * result.pieces
    assert result.samples.size == 10 * HOP * result.pieces + gap * (result.pieces - 1)
    first_gap = result.samples[10 * HOP : 10 * HOP + gap]
    assert not first_gap.any()


def test_pieces_get_distinct_derived_seeds():
    assert piece_seed(7, 0) == 7
    assert len({piece_seed(7, i) for i in range(5)}) == 5
    assert piece_seed(7, 1) == piece_seed(7, 1) != piece_seed(8, 1)


def test_step_limit_grows_with_text_and_is_capped(torchaudio_acoustic, small_hifigan):
    synthesizer = Synthesizer(torchaudio_acoustic, small_hifigan, device="cpu")
    assert synthesizer.step_limit(10) == 50 + 12 * 10
    assert synthesizer.step_limit(1000) == 2000
    capped = Synthesizer(torchaudio_acoustic, small_hifigan, device="cpu", max_decoder_steps=100)
    assert capped.step_limit(10) == 100


def test_stop_token_ends_clips(build, small_hifigan):
    acoustic = load_acoustic(build.save(build.tacotron2(gate_bias=30.0).state_dict(), "s.pth"))
    synthesizer = Synthesizer(acoustic, small_hifigan, device="cpu")
    (result,) = synthesizer.synthesize([SynthesisRequest("Stop at once.", seed=1)])
    _check_clip(result, 1)


def test_no_stop_token_fails_the_item_instead_of_truncating(build, small_hifigan):
    acoustic = load_acoustic(build.save(build.tacotron2(gate_bias=-30.0).state_dict(), "n.pth"))
    synthesizer = Synthesizer(acoustic, small_hifigan, device="cpu", decoder_steps_per_char=1)
    results = synthesizer.synthesize(
        [SynthesisRequest("Never ends.", seed=1), SynthesisRequest("", seed=2)]
    )
    assert results[0].error.startswith(NO_STOP_TOKEN)
    assert "limit of 61 steps for 11 symbols" in results[0].error
    assert results[0].samples.size == 0 and results[0].mel_frames == 0


def test_bad_texts_fail_alone_and_clearly(torchaudio_acoustic, small_hifigan):
    synthesizer = _fixed(torchaudio_acoustic, small_hifigan, steps=8, max_text_chars=200)
    results = synthesizer.synthesize(
        [
            SynthesisRequest("", seed=1, key="empty"),
            SynthesisRequest("   \n ", seed=1, key="blank"),
            SynthesisRequest("word " * 60, seed=1, key="long"),
            SynthesisRequest("Pipes | and tildes ~", seed=1, key="chars"),
            SynthesisRequest("Fine text.", seed=1, key="fine"),
            SynthesisRequest("Bad seed.", seed=-3, key="seed"),
        ]
    )
    errors = {r.key: r.error for r in results}
    assert errors["empty"].startswith("empty text")
    assert errors["blank"].startswith("empty text")
    assert errors["long"].startswith("text too long: 299 characters, the limit is 200")
    assert "cannot encode '|', '~'" in errors["chars"]
    assert errors["fine"] is None
    assert "seed must be between 0 and 2**63 - 1" in errors["seed"]
    _check_clip(results[4], 8)


def test_mismatched_mel_settings_are_refused_before_synthesis(build, torchaudio_acoustic):
    path = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v2))
    vocoder = load_hifigan(
        path, build.hifigan_json(build.small_v2, sampling_rate=24000, fmax=12000)
    )
    with pytest.raises(MelSettingsMismatch) as error:
        Synthesizer(torchaudio_acoustic, vocoder, device="cpu")
    message = str(error.value)
    assert "sample_rate: acoustic model 22050, vocoder 24000" in message
    assert "f_max: acoustic model 8000.0, vocoder 12000.0" in message


def test_griffinlim_follows_the_bundle_settings_by_default():
    assert griffinlim_vocoder().mel == LJSPEECH_MEL


# --- the synthesize_text command's core ----------------------------------------------------


def test_command_core_writes_a_wav(build, tmp_path):
    taco = build.save(build.tacotron2(seed=2).state_dict(), "t.pth")
    out = tmp_path / "out.wav"
    result = synthesize_text(
        text="Hello there.",
        tacotron2=str(taco),
        vocoder="griffinlim",
        out=str(out),
        seed=3,
        max_decoder_steps=14,
        ignore_stop_token=True,
        device="cpu",
    )
    samples, rate = soundfile.read(out, dtype="float32")
    assert rate == RATE and samples.shape == (14 * HOP,) == result.samples.shape
    peak = max(1.0, float(np.abs(result.samples).max()))  # scaled down only if it would clip
    np.testing.assert_allclose(samples, result.samples / peak, atol=1 / 16384)


def test_command_core_writes_flac_with_a_hifigan_config(build, tmp_path):
    taco = build.save(build.tacotron2(seed=2).state_dict(), "t.pth")
    generator = build.hifigan_checkpoint(build.weight_normed_generator(build.small_v3))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(build.hifigan_json(build.small_v3)))
    out = tmp_path / "out.flac"
    synthesize_text(
        text="Hello there.",
        tacotron2=str(taco),
        vocoder=str(generator),
        hifigan_config=str(config),
        out=str(out),
        max_decoder_steps=6,
        ignore_stop_token=True,
        device="cpu",
    )
    assert soundfile.info(out).frames == 6 * HOP


def test_command_core_reports_errors_and_writes_nothing(build, tmp_path):
    out = tmp_path / "out.wav"
    never_stops = build.save(build.tacotron2(gate_bias=-30.0).state_dict(), "t.pth")
    with pytest.raises(SynthesisFailed, match="no stop token"):
        synthesize_text(
            text="Hi.", tacotron2=str(never_stops), vocoder="griffinlim", out=str(out), device="cpu"
        )
    with pytest.raises(CheckpointError, match="missing.pt: no such file"):
        synthesize_text(
            text="Hi.",
            tacotron2=str(tmp_path / "missing.pt"),
            vocoder="griffinlim",
            out=str(out),
        )
    with pytest.raises(ValueError, match="needs --max-decoder-steps"):
        synthesize_text(
            text="Hi.",
            tacotron2=str(never_stops),
            vocoder="griffinlim",
            out=str(out),
            ignore_stop_token=True,
        )
    with pytest.raises(ValueError, match=r"must end in \.wav or \.flac"):
        synthesize_text(
            text="Hi.",
            tacotron2=str(never_stops),
            vocoder="griffinlim",
            out=str(tmp_path / "out.mp3"),
            max_decoder_steps=3,
            ignore_stop_token=True,
        )
    # Nothing was written, not even a temporary file.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["t.pth"]
