"""What the low-pass anchor tests share (ITU-R BS.1534-3's anchors, in the engine and as a
study's systems): Welch spectra with a Blackman-Harris window, whose leakage (below -90 dB)
cannot hide a stopband at -60 dB, and the energy of a band of them."""

from __future__ import annotations

import numpy as np
from scipy import signal


def spectrum(x: np.ndarray, rate: int, nperseg: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    return signal.welch(x.astype(np.float64), rate, window="blackmanharris", nperseg=nperseg)


def band_energy(x: np.ndarray, rate: int, low: float, high: float, nperseg: int = 4096) -> float:
    f, p = spectrum(x, rate, nperseg)
    return float(p[(f >= low) & (f <= high)].sum())


def energy_above_db(x: np.ndarray, rate: int, edge: float, nperseg: int = 4096) -> float:
    """The energy above ``edge`` Hz in dB relative to the clip's whole energy (level-free)."""
    f, p = spectrum(x, rate, nperseg)
    return float(10 * np.log10(p[f > edge].sum() / p.sum()))
