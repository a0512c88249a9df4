"""Low-pass anchors of MUSHRA (ITU-R BS.1534-3): the reference band-limited to 3.5 or 7 kHz.

Where it sits: a study may add the MUSHRA anchors derived from its reference system's clips;
``synthesis.clips.anchor_clips_derive`` filters each source clip here, and the result then goes
through ``audio.postprocess`` (loudness normalisation) like every other clip, so an anchor
differs from its reference in bandwidth only, not in level.

BS.1534-3 (section 5.1) asks for a low-range anchor, the original low-pass filtered at
3.5 kHz, and a mid-range anchor at 7 kHz. For the 3.5 kHz filter it gives a tolerance, kept
from the first edition: passband ripple within +/-0.1 dB, at least 25 dB of attenuation at
4 kHz and at least 50 dB at 4.5 kHz; for the 7 kHz one it names the cut-off only. The anchors
here are held to a stricter criterion: the anchor has no sound above its nominal cut-off,
that is, the energy above 3.5 kHz (7 kHz) is at least 60 dB below the anchor's total. A
filter that is flat right up to 3.5 kHz cannot meet that on speech (its transition band lies
above the cut-off and lets that band through at -25 dB), so the filters put the transition
band below the cut-off:

- the stopband starts at the nominal cut-off (3500 or 7000 Hz), with at least 80 dB of
  attenuation from there up;
- the passband ends 250 Hz lower (3250 or 6750 Hz) and is flat within 0.1 dB in total up to
  that edge; this is how the standard's +/-0.1 dB ripple is read here: it holds over the
  passband, which stops short of the nominal cut-off. The response is 3 dB down at about
  3.29 kHz (6.80 kHz), measured at 16-48 kHz;
- the tolerance of BS.1534-3 is met with room to spare: at 4 kHz and 4.5 kHz, already in the
  stopband, the attenuation is at least 80 dB (25 and 50 dB asked).

250 Hz is the width chosen by measurement: 200 Hz raises the order by one for five of the eight
anchor and rate pairs (16, 22.05, 24, 48 kHz), while 300 Hz lowers it for one pair only (the
3.5 kHz anchor at 16 kHz) and gives up 50 Hz more of the band below the cut-off.

Design: an elliptic (Cauer) low-pass, because it reaches a given ripple, transition width and
attenuation with the lowest order of the classical designs (scipy.signal.ellipord chooses the
order: 6 to 9 at the usual TTS rates of 16-48 kHz, see ``anchor_filter_order``), designed for
half the ripple (0.05 dB) and half the attenuation (40 dB) and run forward and backward
(``sosfiltfilt``, zero phase), which squares the magnitude response. Zero phase keeps the
anchor time-aligned with its reference, which matters in MUSHRA: a listener switching between
conditions keeps the playback position. Second-order sections keep the high-order filter
numerically stable. The design is scipy's (maintained, exact, already a dependency of the
MNRU anchors) rather than hand-written.

The clip keeps its own sample rate (the filter is designed in Hz for it). A clip whose Nyquist
frequency is not above the stopband edge (the cut-off) cannot carry the band the anchor
removes, and is refused with a message saying so; a 16 kHz clip (Nyquist 8 kHz) still takes
the 7 kHz anchor, and an 8 kHz clip the 3.5 kHz one.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

from synthesis.engine.audio import mono_float64

__all__ = [
    "LOWPASS_ANCHORS",
    "TRANSITION_HZ",
    "anchor_filter_order",
    "anchor_passband_edge",
    "lowpass_anchor",
]

#: Anchor cut-off in Hz -> its stopband edge in Hz: the cut-off itself, so that nothing is
#: left above it.
LOWPASS_ANCHORS: dict[float, float] = {3500.0: 3500.0, 7000.0: 7000.0}

#: Width in Hz of the transition band, which lies below the stopband edge.
TRANSITION_HZ = 250.0

_RIPPLE_DB = 0.05  # per pass; forward and backward make 0.1 dB
_STOP_DB = 40.0  # per pass; forward and backward make 80 dB
_OUTPUT_PEAK = 0.99
_PAD_SECONDS = 0.05


def _stopband_edge(cutoff_hz: float) -> float:
    if cutoff_hz not in LOWPASS_ANCHORS:
        known = ", ".join(f"{c:g}" for c in LOWPASS_ANCHORS)
        raise ValueError(f"Unknown anchor cut-off {cutoff_hz:g} Hz; choose one of {known} Hz.")
    return LOWPASS_ANCHORS[cutoff_hz]


def anchor_passband_edge(cutoff_hz: float) -> float:
    """Where the anchor's passband (flat within 0.1 dB) ends, in Hz: the transition band
    lies between it and the cut-off, where the stopband starts."""
    return _stopband_edge(float(cutoff_hz)) - TRANSITION_HZ


def _edges(cutoff_hz: float, sample_rate: int) -> tuple[float, float]:
    stop = _stopband_edge(cutoff_hz)
    if sample_rate / 2 <= stop:
        raise ValueError(
            f"The {cutoff_hz / 1000:g} kHz anchor needs a sample rate above {2 * stop:g} Hz "
            f"(the clip is {sample_rate} Hz, so it has no sound above {sample_rate / 2:g} Hz "
            "to remove); use the reference clips at their original rate."
        )
    return stop - TRANSITION_HZ, stop


@functools.cache
def _design(cutoff_hz: float, sample_rate: int) -> tuple[np.ndarray, int]:
    """(second-order sections, order) of the elliptic low-pass for this cut-off and rate."""
    passband, stopband = _edges(cutoff_hz, sample_rate)
    order, natural = signal.ellipord(passband, stopband, _RIPPLE_DB, _STOP_DB, fs=sample_rate)
    sos = signal.ellip(
        order, _RIPPLE_DB, _STOP_DB, natural, btype="lowpass", fs=sample_rate, output="sos"
    )
    return sos, int(order)


def anchor_filter_order(cutoff_hz: float, sample_rate: int) -> int:
    """The elliptic filter's order for this cut-off and rate (per pass; zero phase runs it
    twice)."""
    return _design(float(cutoff_hz), int(sample_rate))[1]


def lowpass_anchor(samples: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """Mono ``samples`` (shape (n,), float in [-1, 1]) low-pass filtered at ``cutoff_hz``
    (3500 or 7000), zero phase; float32 of the same length. Only when the result would pass
    full scale (filtering can raise peaks a little) is it scaled down to a peak of 0.99;
    ``postprocess`` normalises the loudness afterwards anyway."""
    x = mono_float64(samples, "The anchor filter")
    sos, _ = _design(float(cutoff_hz), int(sample_rate))
    if x.size == 0:
        return np.zeros(0, dtype=np.float32)
    # Even reflection at the edges (no step in level) over 50 ms lets the filter settle
    # outside the clip, so its first and last samples are not distorted.
    padlen = min(int(_PAD_SECONDS * sample_rate), x.size - 1)
    if padlen < 1:
        out = signal.sosfilt(sos, x)
    else:
        out = signal.sosfiltfilt(sos, x, padtype="even", padlen=padlen)
    peak = float(np.max(np.abs(out)))
    if peak > 1.0:
        out *= _OUTPUT_PEAK / peak
    return out.astype(np.float32)
