"""Modulated Noise Reference Unit (ITU-T P.810): calibrated degradations as test anchors.

Where it sits: a study may add MNRU conditions derived from a clean system's clips (for example
Q = 5, 15, 25 dB). They anchor the MOS scale across studies, as ITU-T P.800 and P.808 recommend,
and the stored anchor clips then go through ``audio.postprocess`` like every other clip.

The MNRU adds noise whose amplitude follows the speech itself:

    y(n) = x(n) * (1 + 10^(-Q/20) * N(n)),   N white Gaussian with unit variance,

so the ratio of speech power to modulated-noise power is Q dB whatever the speech level, and
silence stays silent. P.810 gives two bandwidths: narrow-band (telephone, 100-3400 Hz, 8 kHz
sampling) and wideband (70-7000 Hz, 16 kHz sampling). Its digital implementation (the one in
the ITU-T G.191 Software Tool Library) removes DC from the input, modulates, and low-pass
filters the output at the top of the band. What this module implements:

- ``band="wideband"`` (``"auto"`` at 16 kHz and above): a DC-removing high-pass on the input
  (Butterworth, 2nd order, 20 Hz, well below both passbands), the modulation, and an 8th-order
  Butterworth low-pass at 7000 Hz on the output. The filters are designed in Hz for the clip's
  own sample rate, so a 22.05 kHz TTS clip is processed at 22.05 kHz without resampling; the
  output is band-limited to 7 kHz as P.810's wideband MNRU is.
- ``band="narrowband"`` (``"auto"`` from 8 kHz up to 16 kHz): the same with a 3400 Hz low-pass.
- ``band="none"``: the bare equation above, no filters.

Simplifications, stated: (1) the filters are Butterworth designs run forward and backward
(zero phase, ``sosfiltfilt``) instead of P.810's causal filters, so the anchor stays
time-aligned with its source and in-band speech passes unchanged; phase is inaudible here.
(2) Band-limiting the white noise removes the share of its power above the cut-off. P.810's Q
is the speech-to-noise ratio in the band (the analogue MNRU's noise is band-limited like its
speech, and G.191 calibrates a fixed noise gain for the same reason), so the noise is scaled up
by the filter's measured noise-power fraction: the output's in-band SNR is Q at any sample rate.
(3) The noise is NumPy's Gaussian generator seeded with ``seed`` (reproducible), not G.191's
table-based generator, so outputs are not bit-exact with G.191. (4) P.810 (2023)'s fullband
MNRU, with noise shaped like the P.50 speech spectrum, is not implemented.

Output scaling: at low Q the noise peaks several times above the speech, so the result can pass
full scale. Only then is the whole output scaled down (peak 0.99); the scaling changes the level,
not the speech-to-noise ratio, and ``postprocess`` normalises loudness afterwards anyway.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from scipy import signal

from synthesis.engine.audio import mono_float64

__all__ = ["MNRU_BANDS", "mnru"]

MNRU_BANDS = ("auto", "wideband", "narrowband", "none")

_DC_CUTOFF_HZ = 20.0
_LOWPASS_HZ = {"wideband": 7000.0, "narrowband": 3400.0}
_MIN_RATE = {"wideband": 16000, "narrowband": 8000}
_LOWPASS_ORDER = 8
_OUTPUT_PEAK = 0.99


def _resolve_band(band: str, sample_rate: int) -> str:
    if band not in MNRU_BANDS:
        raise ValueError(f"Unknown MNRU band {band!r}; choose one of {', '.join(MNRU_BANDS)}.")
    if band == "auto":
        if sample_rate >= 16000:
            return "wideband"
        if sample_rate >= 8000:
            return "narrowband"
        raise ValueError(
            f"MNRU needs at least 8000 Hz sampling for its narrow-band version, got {sample_rate}."
        )
    # P.810's narrow-band MNRU runs at 8 kHz, the wideband one at 16 kHz; below that the
    # low-pass cut-off would sit at or above the Nyquist frequency.
    minimum = _MIN_RATE.get(band, 0)
    if sample_rate < minimum:
        raise ValueError(
            f"The {band} MNRU needs at least {minimum} Hz sampling, got {sample_rate}; "
            "use band='auto'."
        )
    return band


@functools.cache
def _filters(band: str, sample_rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(DC high-pass SOS, output low-pass SOS, noise-power fraction kept by the low-pass)."""
    highpass = signal.butter(2, _DC_CUTOFF_HZ, btype="highpass", fs=sample_rate, output="sos")
    lowpass = signal.butter(
        _LOWPASS_ORDER, _LOWPASS_HZ[band], btype="lowpass", fs=sample_rate, output="sos"
    )
    # White noise through sosfiltfilt sees |H|^2 twice; its mean over 0..fs/2 is the share of
    # noise power that survives.
    _, response = signal.sosfreqz(lowpass, worN=16384)
    kept = float(np.mean(np.abs(response) ** 4))
    return highpass, lowpass, kept


def mnru(
    samples: np.ndarray,
    sample_rate: int,
    q_db: float,
    seed: int,
    band: str = "auto",
    *,
    mode: Literal["modulated", "signal_only", "noise_only"] = "modulated",
) -> np.ndarray:
    """Degrade mono ``samples`` (shape (n,), float in [-1, 1]) with modulated noise at Q dB.

    ``seed`` (any integer) fixes the noise: the same input, Q, seed and band give the same
    output. ``mode`` mirrors G.191's test modes: ``"signal_only"`` returns the filtered speech
    path without noise and ``"noise_only"`` the filtered modulated noise alone (without output
    scaling, so the two add up to the unscaled ``"modulated"`` output); use them to measure
    the SNR.
    Returns float32 of the same length as the input.
    """
    x = mono_float64(samples, "MNRU")
    if not np.isfinite(q_db):
        raise ValueError(f"Q must be a finite number of dB, got {q_db}.")
    if mode not in ("modulated", "signal_only", "noise_only"):
        raise ValueError(
            f"Unknown MNRU mode {mode!r}; choose modulated, signal_only or noise_only."
        )
    resolved = _resolve_band(band, int(sample_rate))
    if x.size == 0:
        return np.zeros(0, dtype=np.float32)

    # Any integer seeds the generator (NumPy refuses negative seeds, so wrap them to 64 bits).
    noise = np.random.default_rng(int(seed) % 2**64).standard_normal(x.size)
    gain = 10.0 ** (-q_db / 20.0)
    if resolved == "none":
        speech = x
        modulated = gain * x * noise
    else:
        highpass, lowpass, kept = _filters(resolved, int(sample_rate))
        x = _zero_phase(highpass, x, sample_rate)
        # Scale the noise so the in-band ratio after the low-pass is Q (see module docstring).
        speech = _zero_phase(lowpass, x, sample_rate)
        modulated = _zero_phase(lowpass, (gain / np.sqrt(kept)) * x * noise, sample_rate)

    if mode == "signal_only":
        return speech.astype(np.float32)
    if mode == "noise_only":
        return modulated.astype(np.float32)
    out = speech + modulated
    peak = float(np.max(np.abs(out)))
    if peak > 1.0:
        out *= _OUTPUT_PEAK / peak
    return out.astype(np.float32)


def _zero_phase(sos: np.ndarray, x: np.ndarray, sample_rate: int) -> np.ndarray:
    # sosfiltfilt extends the clip by even reflection (no step in level, unlike scipy's default
    # odd reflection around a non-zero last sample) before filtering. 100 ms of extension
    # lets the 20 Hz high-pass settle outside the clip, so its start and end are not distorted
    # (scipy's default of a few samples leaves a -30 dB transient at each edge).
    padlen = min(int(0.1 * sample_rate), x.size - 1)
    if padlen < 1:
        return signal.sosfilt(sos, x)
    return signal.sosfiltfilt(sos, x, padtype="even", padlen=padlen)
