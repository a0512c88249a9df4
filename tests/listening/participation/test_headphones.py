"""Headphone check stimuli and scoring (listening/participation/headphones.py), decoded as a browser would."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import soundfile

from listening.participation import headphones
from listening.participation.headphones import (
    GAP_S,
    RAMP_S,
    REFERENCE_RMS_DBFS,
    TONE_HZ,
    TONE_S,
    make_trial,
    make_trials,
    score_trials,
    volume_calibration_wav,
)

RATE = 44100
LSB = 1 / 32768  # one 16-bit step, as soundfile decodes to float


def decode(wav: bytes) -> tuple[np.ndarray, int]:
    info = soundfile.info(io.BytesIO(wav))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 2)
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float64")
    return samples, rate


def tones(samples: np.ndarray, rate: int) -> list[np.ndarray]:
    """The three tones of a trial, cut at their nominal positions: (samples, 2) each."""
    n_tone, n_gap = round(TONE_S * rate), round(GAP_S * rate)
    return [samples[k * (n_tone + n_gap) : k * (n_tone + n_gap) + n_tone] for k in range(3)]


def steady(tone: np.ndarray, rate: int) -> np.ndarray:
    """The tone without its ramps."""
    n_ramp = round(RAMP_S * rate)
    return tone[n_ramp:-n_ramp]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def roles(samples: np.ndarray, rate: int) -> list[str]:
    """Which tone is which, read from the audio alone."""
    found = []
    loud = 10 ** (REFERENCE_RMS_DBFS / 20)
    for tone in tones(samples, rate):
        left, right = steady(tone, rate).T
        if np.max(np.abs(left + right)) <= 2 * LSB:
            found.append("antiphase")
        elif np.max(np.abs(left - right)) <= LSB and rms(left) > 0.75 * loud:
            found.append("reference")
        elif np.max(np.abs(left - right)) <= LSB:
            found.append("quiet")
        else:
            found.append("unknown")
    return found


def test_a_trial_is_a_four_second_stereo_16_bit_wav():
    wav, _ = make_trial(1)
    samples, rate = decode(wav)
    assert rate == RATE
    assert samples.shape == (round((3 * TONE_S + 2 * GAP_S) * RATE), 2)


def test_the_sample_rate_can_be_chosen():
    samples, rate = decode(make_trial(1, sample_rate=48000)[0])
    assert rate == 48000
    assert samples.shape == (4 * 48000, 2)


@pytest.mark.parametrize("seed", range(12))
def test_one_tone_of_each_kind_and_the_answer_is_the_quiet_one(seed):
    wav, answer = make_trial(seed)
    found = roles(*decode(wav))
    assert sorted(found) == ["antiphase", "quiet", "reference"]
    assert found.index("quiet") + 1 == answer


def test_the_quiet_tone_has_half_the_amplitude_of_the_reference():
    samples, rate = decode(make_trial(3)[0])
    found = roles(samples, rate)
    parts = tones(samples, rate)
    quiet = steady(parts[found.index("quiet")], rate)
    reference = steady(parts[found.index("reference")], rate)
    assert rms(quiet) / rms(reference) == pytest.approx(0.5, abs=0.002)  # -6.02 dB
    assert 20 * np.log10(rms(reference[:, 0])) == pytest.approx(REFERENCE_RMS_DBFS, abs=0.05)


def test_the_antiphase_tone_cancels_when_channels_are_summed_but_is_as_loud_per_ear():
    samples, rate = decode(make_trial(4)[0])
    found = roles(samples, rate)
    parts = tones(samples, rate)
    antiphase = parts[found.index("antiphase")]
    reference = parts[found.index("reference")]
    # Over loudspeakers the two channels add up in the air: nothing is left.
    assert np.max(np.abs(antiphase.sum(axis=1))) <= 2 * LSB
    # Over headphones each ear gets the full tone.
    for channel in (0, 1):
        assert rms(antiphase[:, channel]) == pytest.approx(rms(reference[:, channel]), rel=1e-3)
    # And the reference is the same in both ears.
    assert np.max(np.abs(reference[:, 0] - reference[:, 1])) <= LSB


def test_tones_are_200_hz():
    samples, rate = decode(make_trial(5)[0])
    tone = steady(tones(samples, rate)[0], rate)[:, 0]
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(len(tone))))
    peak_hz = np.argmax(spectrum) * rate / len(tone)
    assert peak_hz == pytest.approx(TONE_HZ, abs=rate / len(tone))


def test_tones_rise_and_fall_over_100_ms_raised_cosine_ramps_and_gaps_are_silent():
    samples, rate = decode(make_trial(6)[0])
    n_ramp = round(RAMP_S * rate)
    window = round(2 * rate / TONE_HZ)  # two periods of the tone (441 samples, 10 ms)
    starts = range(0, n_ramp, window)
    # Raised cosine at each window's centre: the expected envelope.
    expected = [0.5 - 0.5 * np.cos(np.pi * (i + window / 2) / n_ramp) for i in starts]
    for tone in tones(samples, rate):
        left = tone[:, 0]
        level = rms(steady(tone, rate)[:, 0])
        onset = [rms(left[i : i + window]) / level for i in starts]
        offset = [rms(left[len(left) - i - window : len(left) - i]) / level for i in starts]
        for ramp in (onset, offset):
            assert ramp[0] < 0.05  # starts (ends) near silence: no click
            assert all(a < b for a, b in zip(ramp, ramp[1:]))
            assert ramp == pytest.approx(expected, abs=0.03)
        assert abs(left[0]) <= LSB and abs(left[-1]) <= LSB
        # Full level right after the onset ramp.
        assert rms(left[n_ramp : n_ramp + window]) == pytest.approx(level, rel=0.01)
    n_tone, n_gap = round(TONE_S * rate), round(GAP_S * rate)
    for k in (1, 2):
        gap = samples[k * n_tone + (k - 1) * n_gap : k * (n_tone + n_gap)]
        assert len(gap) == n_gap
        assert np.all(gap == 0)


def test_the_same_seed_gives_the_same_bytes():
    assert make_trial(42) == make_trial(42)
    assert make_trials(42) == make_trials(42)


def test_every_arrangement_has_the_same_byte_length():
    by_order = {}
    for seed in range(60):
        wav, _ = make_trial(seed)
        by_order[tuple(roles(*decode(wav)))] = len(wav)
    assert len(by_order) == 6  # all orders occur
    assert len(set(by_order.values())) == 1


def test_trial_sounds_are_built_once_per_arrangement_not_per_request():
    headphones.arrangement_wav.cache_clear()
    for seed in range(200):
        wavs = [headphones.trial_wav(seed, i, sample_rate=8000) for i in range(6)]
        assert [make_trial(headphones._trial_seed(seed, i), 8000)[0] for i in range(6)] == wavs
    info = headphones.arrangement_wav.cache_info()
    assert info.misses == 6  # the six orders of three tones, whatever the seeds
    assert info.hits == 200 * 6 * 2 - 6


def test_answers_without_sound_agree_with_the_trials():
    for seed in (0, 9, 12345):
        assert headphones.trial_answers(seed) == [answer for _wav, answer in make_trials(seed)]
    with pytest.raises(ValueError, match="at least one trial"):
        headphones.trial_answers(1, n=0)


def test_answers_are_roughly_uniform_over_seeds():
    counts = Counter(make_trial(seed, sample_rate=8000)[1] for seed in range(600))
    assert set(counts) == {1, 2, 3}
    # Expected 200 each; the standard deviation is about 11.5.
    assert all(150 <= n <= 250 for n in counts.values())


def test_make_trials_gives_six_trials_that_differ():
    trials = make_trials(9)
    assert len(trials) == 6
    assert len({wav for wav, _ in trials}) > 1
    assert all(roles(*decode(wav)).index("quiet") + 1 == answer for wav, answer in trials)
    assert make_trials(9) != make_trials(10)
    assert len(make_trials(9, n=3)) == 3


def test_volume_calibration_is_an_in_phase_tone_at_the_reference_level():
    samples, rate = decode(volume_calibration_wav())
    assert rate == RATE
    assert len(samples) == 3 * RATE
    left, right = samples.T
    assert np.max(np.abs(left - right)) <= LSB
    wav, _ = make_trial(3)
    trial = decode(wav)
    reference = tones(*trial)[roles(*trial).index("reference")]
    assert rms(steady(samples, rate)[:, 0]) == pytest.approx(
        rms(steady(reference, rate)[:, 0]), rel=1e-3
    )
    assert abs(samples[0, 0]) <= LSB and abs(samples[-1, 0]) <= 2 * LSB  # ramped


@pytest.mark.parametrize(
    ("answers", "n_correct", "passed"),
    [
        ([1, 2, 3, 1, 2, 3], 6, True),
        ([1, 2, 3, 1, 2, 1], 5, True),
        ([1, 2, 3, 1, 3, 1], 4, False),
        ([3, 3, 1, 2, 1, 2], 0, False),
        ([1, 2, 3, 1, 2, 0], 5, True),  # a skipped trial is wrong, five right still pass
        ([1, 2, 3, 1, 0, 0], 4, False),
    ],
)
def test_scoring_passes_five_of_six(answers, n_correct, passed):
    assert score_trials(answers, [1, 2, 3, 1, 2, 3]) == (n_correct, passed)


def test_scoring_other_lengths_keeps_the_same_share():
    assert score_trials([1, 1, 1], [1, 1, 1]) == (3, True)
    assert score_trials([1, 1, 2], [1, 1, 1]) == (2, False)  # needs ceil(3 * 5 / 6) = 3


def test_scoring_refuses_mismatched_answers():
    with pytest.raises(ValueError, match="2 answers for 6 trials"):
        score_trials([1, 2], [1, 2, 3, 1, 2, 3])
    with pytest.raises(ValueError, match="No trials"):
        score_trials([], [])
