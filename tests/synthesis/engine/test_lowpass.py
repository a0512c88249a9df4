"""The MUSHRA anchors (ITU-R BS.1534-3): measured spectra of real speech and white noise.

What "at least 60 dB down" means here: the energy above the stopband edge (4 kHz for the
3.5 kHz anchor, 7.5 kHz for the 7 kHz one; the 500 Hz between cut-off and edge is the
transition band the filters are allowed, see synthesis/engine/lowpass.py) relative to the energy
below the cut-off, compared between the anchor and its source. The ratio does not depend on the
level, so it holds before and after loudness normalisation. Spectra are Welch estimates with a
Blackman-Harris window, whose leakage (below -90 dB) cannot hide a stopband at -60 dB.
"""

import numpy as np
import pytest
from scipy import signal

from synthesis.engine.audio import measure_loudness, postprocess
from synthesis.engine.espeak import EspeakEngine
from synthesis.engine.lowpass import LOWPASS_ANCHORS, anchor_filter_order, lowpass_anchor

SR = 22050  # eSpeak NG's rate


def spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    return signal.welch(x.astype(np.float64), rate, window="blackmanharris", nperseg=4096)


def band_energy(x: np.ndarray, rate: int, low: float, high: float) -> float:
    f, p = spectrum(x, rate)
    return float(p[(f >= low) & (f <= high)].sum())


def stopband_attenuation_db(source: np.ndarray, anchor: np.ndarray, rate: int, cutoff: float):
    """How far the anchor's energy above the stopband edge lies below the source's, measured
    against the energy below the cut-off (level-free)."""
    stop = LOWPASS_ANCHORS[cutoff]
    nyquist = rate / 2

    def ratio(x):
        return band_energy(x, rate, stop, nyquist) / band_energy(x, rate, 0, cutoff)

    return 10 * np.log10(ratio(anchor) / ratio(source))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    # Fricatives (s, sh, f, th) put real energy above 7.5 kHz, so both stopbands are exercised.
    clip = EspeakEngine().synthesize(
        "She sells sea shells by the seashore. Fresh fish is served with thick sauce."
    )
    return clip * 0.5


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return (0.1 * np.random.default_rng(3).standard_normal(4 * SR)).astype(np.float32)


@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_the_source_speech_has_energy_in_the_stopband(speech, cutoff):
    # Otherwise the attenuation test below would measure nothing.
    stop = LOWPASS_ANCHORS[cutoff]
    assert band_energy(speech, SR, stop, SR / 2) > 1e-4 * band_energy(speech, SR, 0, cutoff)


@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_speech_above_the_stopband_edge_is_at_least_60_db_down(speech, cutoff):
    anchor = lowpass_anchor(speech, SR, cutoff)
    assert stopband_attenuation_db(speech, anchor, SR, cutoff) <= -60


def energy_above_db(x: np.ndarray, rate: int, edge: float) -> float:
    """The energy above ``edge`` Hz in dB relative to the clip's whole energy (level-free)."""
    f, p = spectrum(x, rate)
    return float(10 * np.log10(p[f > edge].sum() / p.sum()))


@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_the_measured_energy_above_3_5_khz_is_recorded(speech, cutoff, record_property):
    # The figures the issue asks for, kept in the JUnit XML (record_property) and printed
    # (pytest -s): above 3.5 kHz, and above the anchor's stopband edge, in dB below the total.
    anchor = lowpass_anchor(speech, SR, cutoff)
    stop = LOWPASS_ANCHORS[cutoff]
    source_db = energy_above_db(speech, SR, 3500.0)
    above_db = energy_above_db(anchor, SR, 3500.0)
    stop_db = energy_above_db(anchor, SR, stop)
    record_property(f"energy_above_3500_hz_db_{cutoff:g}", round(above_db, 1))
    record_property(f"energy_above_{stop:g}_hz_db_{cutoff:g}", round(stop_db, 1))
    print(
        f"{cutoff:g} Hz anchor: energy above 3500 Hz {above_db:.1f} dB (source {source_db:.1f}"
        f" dB), above {stop:g} Hz {stop_db:.1f} dB, relative to the total"
    )
    assert stop_db <= -60
    if cutoff == 3500.0:
        # What is left above 3.5 kHz lies in the 500 Hz transition band BS.1534-3 allows
        # (at least 25 dB down at 4 kHz): well below the source, far above the stopband.
        assert above_db <= source_db - 10 and above_db > stop_db
    else:
        # The mid anchor keeps the 3.5-7 kHz band: nearly all of the source's energy there.
        assert above_db == pytest.approx(source_db, abs=1.5)


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_white_noise_above_the_stopband_edge_is_at_least_60_db_down(cutoff, rate):
    x = (0.1 * np.random.default_rng(rate).standard_normal(4 * rate)).astype(np.float32)
    anchor = lowpass_anchor(x, rate, cutoff)
    assert stopband_attenuation_db(x, anchor, rate, cutoff) <= -60
    # Every frequency bin of the stopband, not only its sum.
    f, p_in = spectrum(x, rate)
    _, p_out = spectrum(anchor, rate)
    stop = f >= LOWPASS_ANCHORS[cutoff]
    assert np.max(10 * np.log10(p_out[stop] / p_in[stop])) <= -60


@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_the_passband_is_kept_within_a_tenth_of_a_db(noise, cutoff):
    anchor = lowpass_anchor(noise, SR, cutoff)
    f, p_in = spectrum(noise, SR)
    _, p_out = spectrum(anchor, SR)
    # Welch bins hold 22050/4096 = 5.4 Hz; stay one bin's width inside the band edges.
    passband = (f >= 50) & (f <= cutoff - 10)
    gain_db = 10 * np.log10(p_out[passband] / p_in[passband])
    assert np.all(np.abs(gain_db) <= 0.1)


@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_speech_loses_only_its_high_band_and_stays_time_aligned(speech, cutoff):
    anchor = lowpass_anchor(speech, SR, cutoff)
    assert anchor.dtype == np.float32 and anchor.shape == speech.shape
    # Zero phase: the anchor lines up with its source sample for sample (the cross-correlation
    # peaks at lag 0), so switching conditions in a MUSHRA trial keeps the place.
    lags = signal.correlation_lags(anchor.size, speech.size)
    xcorr = signal.correlate(anchor.astype(np.float64), speech.astype(np.float64))
    assert lags[np.argmax(xcorr)] == 0


@pytest.mark.parametrize("cutoff", [3500.0, 7000.0])
def test_after_loudness_normalisation_the_stopband_is_still_60_db_down(speech, cutoff):
    # The stored anchor goes through postprocess like every clip (synthesis/clips.py).
    anchor = postprocess(lowpass_anchor(speech, SR, cutoff), SR, target_lufs=-26.0, trim=False)
    reference = postprocess(speech, SR, target_lufs=-26.0, trim=False)
    assert measure_loudness(anchor.samples, SR) == pytest.approx(-26.0, abs=0.2)
    assert measure_loudness(reference.samples, SR) == pytest.approx(-26.0, abs=0.2)
    assert stopband_attenuation_db(reference.samples, anchor.samples, SR, cutoff) <= -60


def test_filter_orders_are_the_documented_ones():
    orders = {anchor_filter_order(c, r) for c in LOWPASS_ANCHORS for r in (16000, 22050, 48000)}
    assert orders and min(orders) >= 5 and max(orders) <= 8


def test_a_clip_too_narrow_for_the_anchor_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="needs a sample rate above 15000 Hz"):
        lowpass_anchor(np.zeros(800, dtype=np.float32), 8000, 7000.0)
    with pytest.raises(ValueError, match="Unknown anchor cut-off 5000 Hz"):
        lowpass_anchor(np.zeros(800, dtype=np.float32), SR, 5000.0)


@pytest.mark.parametrize(
    "samples, message",
    [
        (np.zeros((10, 2), dtype=np.float32), "mono audio"),
        (np.zeros(10, dtype=np.int16), "float samples"),
        (np.array([0.0, np.nan], dtype=np.float32), "NaN"),
    ],
)
def test_bad_audio_is_refused(samples, message):
    with pytest.raises(ValueError, match=message):
        lowpass_anchor(samples, SR, 3500.0)


def test_empty_and_one_sample_clips_do_not_crash():
    assert lowpass_anchor(np.zeros(0, dtype=np.float32), SR, 3500.0).size == 0
    assert lowpass_anchor(np.zeros(1, dtype=np.float32), SR, 3500.0).size == 1
