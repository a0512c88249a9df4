"""Objective metrics (listening/objective/measure.py), on real speech and known signals.

Speech comes from the eSpeak NG engine (synthesis/engine/espeak.py), which needs no weights.
Where an exact property must be known (a pitch shift in cents, a syllable count), the clip is a
harmonic signal with formant-shaped harmonics built here, so the expectation is computed by
hand rather than measured.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys

import numpy as np
import pytest

from listening.objective import measure
from listening.objective.measure import compare_to_reference, describe_clip, dnsmos_p808, dtw
from synthesis.engine.espeak import EspeakEngine
from tests.conftest import ROOT

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
SENTENCE_SYLLABLES = 16  # the(1) quick brown fox jumps(4) o-ver(2) the la-zy(3) dog near the(3)
# ri-ver(2) bank(1)
NOISE_SNRS_DB = (30.0, 15.0, 5.0)


# --- signals -----------------------------------------------------------------------------------

# (F1, F2, F3) in Hz, typical adult male vowels (Peterson & Barney 1952).
VOWELS = {
    "a": (730, 1090, 2440),
    "i": (270, 2290, 3010),
    "u": (300, 870, 2240),
    "e": (530, 1840, 2480),
    "o": (570, 840, 2410),
}
BANDWIDTHS = (80.0, 100.0, 150.0)


def harmonic_speech(
    sample_rate: int = 16000, vowels: str = "aieouaei", cents: float = 0.0, seed: int = 0
) -> np.ndarray:
    """Syllables of 200 ms vowels (additive harmonics under a 3-formant envelope), separated
    by 100 ms gaps holding a fricative (high-passed noise) or a closure, with 0.2 s of
    -70 dBFS noise floor at both ends. F0 falls from 130 to 100 Hz with a rise-fall accent on
    each vowel, then is scaled by 2**(cents / 1200); the envelope stays put, as when a real
    speaker changes pitch."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    lead, vowel, gap = 0.2, 0.2, 0.1
    n = int(round((2 * lead + len(vowels) * vowel + (len(vowels) - 1) * gap) * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 130.0 - 30.0 * t / t[-1]
    voicing = np.zeros(n)
    frication = np.zeros(n)
    formants = np.tile(np.array(VOWELS[vowels[0]], dtype=float), (n, 1))
    ramp = np.sin(np.linspace(0, np.pi / 2, int(0.03 * sample_rate))) ** 2
    for k, v in enumerate(vowels):
        start = int(round((lead + k * (vowel + gap)) * sample_rate))
        end = start + int(vowel * sample_rate)
        envelope = np.ones(end - start)
        envelope[: len(ramp)] = ramp
        envelope[-len(ramp) :] = ramp[::-1]
        voicing[start:end] = envelope
        f0[start:end] *= 1.0 + 0.08 * np.sin(np.linspace(0, np.pi, end - start))
        formants[start:] = VOWELS[v]
        if k % 2 == 0 and k < len(vowels) - 1:
            g0 = end + int(0.02 * sample_rate)
            g1 = end + int((gap - 0.02) * sample_rate)
            frication[g0:g1] = np.hanning(g1 - g0)
    f0 *= 2.0 ** (cents / 1200.0)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = np.zeros(n)
    for h in range(1, int(sample_rate / 2 / f0.min())):
        fh = h * f0
        amplitude = np.where(fh < sample_rate / 2 - 200, 1.0 / h, 0.0)
        for fc, bw in zip(formants.T, BANDWIDTHS):
            amplitude *= fc**2 / np.sqrt((fc**2 - fh**2) ** 2 + (bw * fh) ** 2)
        voiced += amplitude * np.sin(h * phase)
    voiced *= voicing / np.max(np.abs(voiced * voicing))
    b, a = signal.butter(4, 3000, "highpass", fs=sample_rate)
    hiss = signal.lfilter(b, a, rng.standard_normal(n))
    x = voiced + 0.15 * frication * hiss / np.max(np.abs(hiss))
    x = 0.5 * x / np.max(np.abs(x))
    return x + 10 ** (-70 / 20) * rng.standard_normal(n)


def add_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    """White noise at ``snr_db`` below the clip's mean power (same noise draw for every SNR)."""
    noise = np.random.default_rng(seed).standard_normal(len(x))
    return x + noise * math.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))


@pytest.fixture(scope="module")
def espeak_speech() -> tuple[np.ndarray, int]:
    engine = EspeakEngine()
    return engine.synthesize(SENTENCE).astype(np.float64), engine.sample_rate


@pytest.fixture(scope="module")
def noisy_comparisons(espeak_speech):
    x, sr = espeak_speech
    return [compare_to_reference(add_noise(x, snr), x, sr) for snr in NOISE_SNRS_DB]


# --- dynamic time warping ----------------------------------------------------------------------


def brute_force_dtw_cost(cost: np.ndarray) -> float:
    """The textbook cell-by-cell recurrence, as an oracle for the vectorised one."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    return float(acc[n, m])


def assert_valid_path(path, n: int, m: int) -> None:
    steps = np.stack([np.diff(path.a_index), np.diff(path.b_index)], axis=1)
    assert (path.a_index[0], path.b_index[0]) == (0, 0)
    assert (path.a_index[-1], path.b_index[-1]) == (n - 1, m - 1)
    assert {tuple(s) for s in steps} <= {(1, 0), (0, 1), (1, 1)}


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (9, 9), (13, 21), (30, 17)])
def test_dtw_finds_the_cheapest_path_of_the_textbook_recurrence(shape):
    cost = np.random.default_rng(sum(shape)).random(shape)
    path = dtw(cost)
    assert_valid_path(path, *shape)
    assert path.total_cost == pytest.approx(brute_force_dtw_cost(cost), rel=1e-12)
    assert path.total_cost == pytest.approx(cost[path.a_index, path.b_index].sum(), rel=1e-12)


def test_dtw_undoes_a_known_time_stretch():
    a = np.sin(np.linspace(0, 6 * np.pi, 50))
    b = np.repeat(a, 2)  # every frame of a held twice
    path = dtw(np.abs(a[:, None] - b[None, :]))
    assert path.total_cost == 0.0
    assert np.array_equal(path.a_index, np.arange(100) // 2)
    assert np.array_equal(path.b_index, np.arange(100))


def test_dtw_handles_ten_second_clips_at_five_millisecond_frames():
    # 2000 x 2100 frames: a 10 s clip against a 10.5 s one.
    rng = np.random.default_rng(3)
    a = np.cumsum(rng.standard_normal((2000, 3)), axis=0)
    # b holds every frame of a in order, 100 of them twice: a slowed-down copy.
    b = a[np.sort(np.concatenate([np.arange(2000), rng.integers(0, 2000, 100)]))]
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    path = dtw(cost)
    assert_valid_path(path, 2000, 2100)
    # Pairing each frame of b with the frame of a it copies costs 0, so DTW must find 0.
    assert path.total_cost == pytest.approx(0.0, abs=1e-9)


def test_dtw_refuses_a_cost_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"\(N, M\)"):
        dtw(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        dtw(np.array([[0.0, np.nan]]))


# --- compare_to_reference ----------------------------------------------------------------------


def test_identical_clips_score_perfectly(espeak_speech):
    x, sr = espeak_speech
    m = compare_to_reference(x, x, sr)
    assert m["mcd_db"] == 0.0
    assert m["stoi"] > 0.99
    assert m["estoi"] > 0.99
    assert m["pesq_wb"] > 4.4  # P.862.2 tops out at 4.64
    assert m["vde"] == 0.0
    assert m["f0_gpe"] == 0.0
    assert m["f0_rmse_cents"] == 0.0
    assert m["f0_corr"] == pytest.approx(1.0)
    assert m["voiced_pairs"] > 100
    assert m["notes"] == []


def test_a_delay_costs_nothing_after_alignment(espeak_speech, noisy_comparisons):
    x, sr = espeak_speech
    delay = int(0.05 * sr)
    m = compare_to_reference(np.concatenate([np.zeros(delay), x]), x, sr)
    # The delayed clip holds the same frames; DTW pairs each with its copy. What remains is
    # WORLD's analysis at the new onset, far below the mildest noise's distortion.
    assert m["mcd_db"] < 0.3
    assert m["mcd_db"] < noisy_comparisons[0]["mcd_db"] / 5
    assert m["stoi_lag_s"] == delay / sr
    assert m["stoi"] > 0.99
    assert m["pesq_wb"] > 4.4


def test_more_noise_lowers_stoi_and_pesq_and_raises_mcd(noisy_comparisons):
    stoi = [m["stoi"] for m in noisy_comparisons]
    estoi = [m["estoi"] for m in noisy_comparisons]
    pesq = [m["pesq_wb"] for m in noisy_comparisons]
    mcd = [m["mcd_db"] for m in noisy_comparisons]
    assert stoi == sorted(stoi, reverse=True) and len(set(stoi)) == 3
    assert estoi == sorted(estoi, reverse=True) and len(set(estoi)) == 3
    assert pesq == sorted(pesq, reverse=True) and len(set(pesq)) == 3
    assert mcd == sorted(mcd) and len(set(mcd)) == 3


@pytest.mark.parametrize("cents", [100.0, -200.0])
def test_f0_rmse_of_a_pitch_shifted_voice_is_the_shift(cents):
    reference = harmonic_speech(cents=0.0)
    shifted = harmonic_speech(cents=cents)
    m = compare_to_reference(shifted, reference, 16000)
    # Every voiced frame is off by |cents|; the tracker's onset and offset frames add a little.
    assert m["f0_rmse_cents"] == pytest.approx(abs(cents), abs=15.0)
    assert m["f0_corr"] > 0.9
    assert m["f0_gpe"] < 0.05
    assert m["vde"] < 0.06
    # Same envelope: the spectral distance stays small next to noise.
    assert m["mcd_db"] < 1.5


def test_harmonic_signal_at_22khz_uses_its_own_warping():
    reference = harmonic_speech(sample_rate=22050)
    m = compare_to_reference(harmonic_speech(sample_rate=22050, cents=100.0), reference, 22050)
    assert measure.mel_alpha(22050) == 0.455
    assert measure.mel_alpha(16000) == 0.42
    assert m["f0_rmse_cents"] == pytest.approx(100.0, abs=15.0)


def test_a_silent_clip_gets_notes_instead_of_numbers(espeak_speech):
    x, sr = espeak_speech
    m = compare_to_reference(np.zeros_like(x), x, sr)
    assert m["pesq_wb"] is None
    assert m["mcd_db"] is None and m["vde"] is None and m["f0_rmse_cents"] is None
    assert any("pesq_wb" in note for note in m["notes"])
    assert any("silence threshold" in note for note in m["notes"])


def test_integer_pcm_is_scaled_to_full_scale(espeak_speech):
    x, sr = espeak_speech
    pcm = np.round(x * 32767).astype(np.int16)
    m = compare_to_reference(pcm, x, sr)
    assert m["mcd_db"] < 0.1
    assert m["pesq_wb"] > 4.4


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.zeros((100, 2)), "mono"),
        (np.zeros(0), "empty"),
        (np.array([0.0, np.nan] * 8000), "NaN"),
    ],
)
def test_unusable_audio_is_refused_with_the_reason(samples, message):
    with pytest.raises(ValueError, match=message):
        compare_to_reference(samples, np.zeros(16000), 16000)
    with pytest.raises(ValueError, match=message):
        describe_clip(samples, 16000)


# --- describe_clip -----------------------------------------------------------------------------


def test_description_of_padded_speech(espeak_speech):
    x, sr = espeak_speech
    padded = np.concatenate([np.zeros(int(0.3 * sr)), x, np.zeros(int(0.5 * sr))])
    bare = describe_clip(x, sr)
    d = describe_clip(padded, sr, text=SENTENCE)
    assert d["duration_s"] == len(padded) / sr
    assert d["leading_silence_s"] == pytest.approx(0.3 + bare["leading_silence_s"], abs=0.015)
    assert d["trailing_silence_s"] == pytest.approx(0.5 + bare["trailing_silence_s"], abs=0.015)
    span = d["duration_s"] - d["leading_silence_s"] - d["trailing_silence_s"]
    assert d["words_per_s"] == pytest.approx(len(SENTENCE.split()) / span)
    assert abs(d["syllable_nuclei"] - SENTENCE_SYLLABLES) <= 2
    assert d["speaking_rate_syll_per_s"] == pytest.approx(d["syllable_nuclei"] / span)
    # Padding changes neither the count nor the rate; it shows up as silence instead.
    assert d["syllable_nuclei"] == bare["syllable_nuclei"]
    assert d["clipped_samples"] == 0
    assert d["notes"] == []


def test_syllable_count_of_a_known_number_of_vowels():
    d = describe_clip(harmonic_speech(vowels="aieouaei"), 16000)
    assert d["syllable_nuclei"] == 8
    assert d["leading_silence_s"] == pytest.approx(0.2, abs=0.015)
    assert d["trailing_silence_s"] == pytest.approx(0.2, abs=0.015)


def test_loudness_of_a_997_hz_tone_follows_bs_1770():
    # BS.1770: a full-scale 997 Hz sine reads -3.01 LKFS, so amplitude 0.1 reads -23.01.
    sr = 48000
    tone = 0.1 * np.sin(2 * np.pi * 997 * np.arange(3 * sr) / sr)
    d = describe_clip(tone, sr)
    assert d["loudness_lufs"] == pytest.approx(-23.01, abs=0.05)
    assert d["peak_dbfs"] == pytest.approx(-20.0, abs=0.01)


def test_clipping_is_counted(espeak_speech):
    x, sr = espeak_speech
    hot = np.clip(4.0 * x, -1.0, 1.0)
    d = describe_clip(hot, sr)
    expected = np.count_nonzero(np.abs(4.0 * x) >= 0.999)
    assert d["clipped_samples"] == expected > 0
    assert d["clipped_fraction"] == expected / len(x)
    assert d["peak_dbfs"] == 0.0


def test_a_silent_or_very_short_clip_is_described_without_failing():
    silent = describe_clip(np.zeros(16000), 16000, text="hello")
    assert silent["leading_silence_s"] == 1.0
    assert silent["speaking_rate_syll_per_s"] is None
    assert silent["words_per_s"] is None
    assert silent["loudness_lufs"] is None
    assert silent["peak_dbfs"] is None
    assert len(silent["notes"]) == 3
    short = describe_clip(harmonic_speech()[3200:6400], 16000)  # 0.2 s of vowel
    assert short["loudness_lufs"] is None
    assert any("BS.1770 block" in note for note in short["notes"])


# --- DNSMOS P.808 ------------------------------------------------------------------------------


def test_dnsmos_prefers_clean_speech_to_noisy_speech(espeak_speech):
    x, sr = espeak_speech
    clean = dnsmos_p808(x, sr)
    noisy = dnsmos_p808(add_noise(x, 0.0), sr)
    assert 1.0 <= noisy < clean - 0.5
    assert clean <= 5.0


def test_dnsmos_matches_the_reference_implementation():
    # Reference: speechmos 0.0.1.1 `dnsmos.run(x, 16000)["p808_mos"]` with librosa 0.11 and
    # onnxruntime 1.32, run once outside this project on exactly this signal: 2.5866895.
    sr = 16000
    t = np.arange(int(3.3 * sr)) / sr
    rng = np.random.default_rng(0)
    x = 0.3 * np.sin(2 * np.pi * (120 + 20 * np.sin(2 * np.pi * t)) * t)
    x = x * np.sin(2 * np.pi * 2 * t) ** 2 + 0.02 * rng.standard_normal(len(t))
    assert dnsmos_p808(x, sr) == pytest.approx(2.5866895, abs=1e-4)
    # The model's features are relative to the clip's loudest bin, so level does not matter.
    assert dnsmos_p808(0.25 * x, sr) == pytest.approx(2.5866895, abs=1e-4)


def test_dnsmos_runs_without_the_network(espeak_speech, monkeypatch):
    x, sr = espeak_speech

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    measure._p808_session.cache_clear()  # load the model again, under the ban
    assert 1.0 <= dnsmos_p808(x[: sr // 2], sr) <= 5.0


def test_dnsmos_refuses_a_silent_clip():
    with pytest.raises(ValueError, match="silent"):
        dnsmos_p808(np.zeros(16000), 16000)


def test_importing_the_module_loads_no_model():
    code = "import sys, listening.objective.measure; print('onnxruntime' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
