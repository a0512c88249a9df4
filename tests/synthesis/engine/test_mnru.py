"""Tests for synthesis.engine.mnru (ITU-T P.810) on eSpeak NG speech and numpy signals."""

import numpy as np
import pytest

from synthesis.engine.audio import resample
from synthesis.engine.espeak import EspeakEngine
from synthesis.engine.mnru import mnru

SR = 22050


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    signal = signal.astype(np.float64)
    noise = noise.astype(np.float64)
    return float(10 * np.log10(np.sum(signal**2) / np.sum(noise**2)))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    # Scaled down so that even Q = 5 dB stays inside full scale and no output scaling happens.
    clip = EspeakEngine().synthesize(
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
    )
    return clip * 0.1


def speech_band_signal(sr: int, seconds: float = 2.0) -> np.ndarray:
    """Harmonics of 150 Hz up to 3 kHz with a 4 Hz syllable-like envelope: all in band.

    Faded in and out over 20 ms, as real clips start and end in silence.
    """
    t = np.arange(int(seconds * sr)) / sr
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 21))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (0.05 * voiced * envelope * np.sin(np.pi / 2 * fade) ** 2).astype(np.float32)


@pytest.mark.parametrize("q_db", [5.0, 15.0, 25.0])
def test_bare_mnru_snr_between_x_and_y_minus_x_is_q(speech, q_db):
    y = mnru(speech, SR, q_db, seed=1, band="none")
    assert snr_db(speech, y - speech) == pytest.approx(q_db, abs=0.5)


@pytest.mark.parametrize("band", ["wideband", "narrowband"])
@pytest.mark.parametrize("q_db", [5.0, 15.0, 25.0])
def test_filtered_mnru_snr_in_band_is_q_for_speech(speech, band, q_db):
    y = mnru(speech, SR, q_db, seed=1, band=band)
    speech_path = mnru(speech, SR, q_db, seed=1, band=band, mode="signal_only")
    assert snr_db(speech_path, y - speech_path) == pytest.approx(q_db, abs=0.5)


@pytest.mark.parametrize("sr", [16000, 22050, 48000])
@pytest.mark.parametrize("q_db", [5.0, 15.0, 25.0])
def test_wideband_snr_between_x_and_y_minus_x_is_q_at_any_rate(sr, q_db):
    x = speech_band_signal(sr)
    y = mnru(x, sr, q_db, seed=7)  # band="auto" -> wideband at these rates
    assert snr_db(x, y - x) == pytest.approx(q_db, abs=0.5)


def test_lower_q_means_more_noise(speech):
    noise_power = [np.mean((mnru(speech, SR, q, seed=3) - speech) ** 2) for q in (25.0, 15.0, 5.0)]
    assert noise_power[0] < noise_power[1] < noise_power[2]


def test_the_same_seed_gives_the_same_output(speech):
    first = mnru(speech, SR, 15.0, seed=42)
    assert np.array_equal(first, mnru(speech, SR, 15.0, seed=42))
    assert not np.array_equal(first, mnru(speech, SR, 15.0, seed=43))


@pytest.mark.parametrize("band", ["auto", "wideband", "narrowband", "none"])
def test_output_has_the_input_length_and_dtype(speech, band):
    y = mnru(speech, SR, 10.0, seed=0, band=band)
    assert y.shape == speech.shape and y.dtype == np.float32


def test_silence_in_gives_silence_out():
    silence = np.zeros(SR, dtype=np.float32)
    assert not np.any(mnru(silence, SR, 5.0, seed=0))


def test_noise_follows_the_speech_envelope(speech):
    # Multiplicative noise: where the speech pauses, the noise pauses too.
    noise = mnru(speech, SR, 10.0, seed=5, mode="noise_only")
    frame = SR // 50
    n = speech.size // frame * frame
    speech_levels = np.sqrt(np.mean(speech[:n].reshape(-1, frame) ** 2, axis=1))
    noise_levels = np.sqrt(np.mean(noise[:n].reshape(-1, frame) ** 2, axis=1))
    assert np.corrcoef(speech_levels, noise_levels)[0, 1] > 0.9


def test_signal_and_noise_parts_add_up_to_the_output(speech):
    y = mnru(speech, SR, 12.0, seed=9)
    parts = mnru(speech, SR, 12.0, seed=9, mode="signal_only") + mnru(
        speech, SR, 12.0, seed=9, mode="noise_only"
    )
    assert np.allclose(y, parts, atol=1e-6)


def test_wideband_output_is_band_limited_to_7_khz():
    white = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * 0.05
    y = mnru(white, SR, 10.0, seed=1, band="wideband").astype(np.float64)
    power = np.abs(np.fft.rfft(y * np.hanning(y.size))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / SR)
    in_band = power[(freqs > 200) & (freqs < 6000)].mean()
    above = power[freqs > 8500].mean()
    assert 10 * np.log10(above / in_band) < -60


def test_narrowband_mnru_works_at_8_khz():
    x = resample(speech_band_signal(SR), SR, 8000)
    y = mnru(x, 8000, 15.0, seed=2)  # band="auto" -> narrowband
    assert snr_db(x, y - x) == pytest.approx(15.0, abs=0.5)


def test_output_is_scaled_only_when_it_would_clip():
    loud = speech_band_signal(SR) * 16  # peaks near full scale
    quiet_y = mnru(speech_band_signal(SR), SR, 25.0, seed=1)
    loud_y = mnru(loud, SR, 5.0, seed=1)
    assert np.max(np.abs(loud_y)) == pytest.approx(0.99, abs=1e-6)
    # Scaling keeps the speech-to-noise ratio.
    speech_path = mnru(loud, SR, 5.0, seed=1, mode="signal_only")
    noise_path = mnru(loud, SR, 5.0, seed=1, mode="noise_only")
    scale = np.max(np.abs(loud_y)) / np.max(np.abs(speech_path + noise_path))
    assert np.allclose(loud_y, scale * (speech_path + noise_path), atol=1e-6)
    # A quiet input is not rescaled: its speech path is the input itself.
    assert np.max(np.abs(quiet_y)) < 0.99


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"band": "fullband"}, "band"),
        ({"mode": "loud"}, "mode"),
        ({"q_db": float("nan")}, "finite"),
    ],
)
def test_bad_arguments_are_refused(speech, kwargs, message):
    arguments = {"q_db": 10.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        mnru(speech, SR, seed=0, **arguments)


def test_wideband_needs_16_khz():
    with pytest.raises(ValueError, match="16000"):
        mnru(np.ones(800, dtype=np.float32) * 0.1, 8000, 10.0, seed=0, band="wideband")


def test_stereo_is_refused():
    with pytest.raises(ValueError, match="mono"):
        mnru(np.zeros((100, 2), dtype=np.float32), SR, 10.0, seed=0)


def test_integer_pcm_is_refused():
    with pytest.raises(ValueError, match="float"):
        mnru(np.zeros(100, dtype=np.int16), SR, 10.0, seed=0)


def test_negative_seeds_are_accepted_and_reproducible(speech):
    assert np.array_equal(mnru(speech, SR, 10.0, seed=-5), mnru(speech, SR, 10.0, seed=-5))
