"""Objective metrics reported beside MOS: intrusive, non-intrusive and model-estimated.

Where it sits: a clip's audio (from storage, or from the synthesis engine) comes in as a mono
numpy array; plain numbers come out. ``listening.objective.cache`` measures every ready clip
with these functions and keeps the numbers on the clip; ``listening.objective.summary`` turns
them into per-system intervals and correlations with MOS for the report. Nothing here knows
about Django, the database or files, so the same code serves the site, the CLI and offline
analysis.

Published evaluations of Tacotron2 + HiFi-GAN report MOS together with STOI, PESQ, mel-cepstral
distortion and F0 statistics; this module computes those in one place:

- :func:`compare_to_reference` -- needs a natural recording of the same sentence: STOI and
  extended STOI (Taal et al. 2011; Jensen & Taal 2016, via ``pystoi``), wide-band PESQ
  (ITU-T P.862.2, via ``pesq``), MCD-DTW on mel-cepstra, F0 RMSE / correlation and voicing
  decision error on the same DTW path.
- :func:`describe_clip` -- no reference needed: duration, speaking rate, loudness
  (ITU-R BS.1770 via ``pyloudnorm``), clipping, leading and trailing silence.
- :func:`dnsmos_p808` -- an automatic MOS estimate: the DNSMOS P.808 network (Reddy, Gopal &
  Cutler 2021, trained on ITU-T P.808 crowdsourced ratings), run with onnxruntime from the ONNX file
  that ships inside the ``speechmos`` wheel. Nothing is downloaded.
- :func:`dtw` -- the dynamic time warping used above, vectorised along anti-diagonals.

Signals are float arrays in [-1, 1] (integer PCM is scaled by its full scale), mono, shape
``(samples,)``.
"""

from __future__ import annotations

import functools
import math
import warnings
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
import pesq as pesq_lib
import pyloudnorm
import pysptk
import pystoi
import pyworld
from scipy import signal
from scipy.spatial.distance import cdist

# --- analysis settings -------------------------------------------------------------------------

FRAME_PERIOD_MS = 5.0
"""WORLD analysis hop: one F0 value and one mel-cepstrum every 5 ms."""

F0_METHODS = ("harvest", "dio")
F0_FLOOR_HZ = 60.0
F0_CEIL_HZ = 800.0

MCEP_COEFFICIENTS = 13
"""MCD uses c1..c13; c0 (frame energy) is left out so loudness differences do not count."""

MCD_CONSTANT = 10.0 / math.log(10.0) * math.sqrt(2.0)
"""dB per unit of cepstral Euclidean distance (Kubichek 1993): 10/ln10 * sqrt(2)."""

# All-pass warping constants that make the warped frequency axis approximate the mel scale.
# 0.42 at 16 kHz and 0.455 at 22.05 kHz are the values SPTK-based TTS toolkits use; other rates
# get pysptk's least-squares fit to the mel scale.
_MEL_ALPHA = {16000: 0.42, 22050: 0.455}

# Frames whose level is this far below the loudest frame count as silence: they bound the
# leading and trailing silence of describe_clip and are left out of MCD and the F0 metrics.
SILENCE_BELOW_PEAK_DB = 40.0
# ...and a clip whose loudest frame is below this is treated as silent throughout.
SILENCE_FLOOR_DBFS = -70.0

CLIP_LEVEL = 0.999
"""|sample| at or above this (full scale 1.0) counts as clipped."""

STOI_MAX_LAG_S = 0.5

PESQ_RATE = 16000
DNSMOS_RATE = 16000
_DNSMOS_INPUT_S = 9.01  # the P.808 model sees 9.01 s windows, moved by 1 s (as DNSMOS does)
_DNSMOS_MODEL = ("speechmos", "dnsmos_models/model_v8.onnx")


# --- input handling ----------------------------------------------------------------------------


def _as_mono_float(samples: Any, name: str) -> np.ndarray:
    """Return ``samples`` as a C-contiguous float64 array of shape (samples,)."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(
            f"{name} must be mono with shape (samples,), got shape {x.shape}; "
            "mix down first, e.g. samples.mean(axis=1) for (samples, channels)."
        )
    if x.size == 0:
        raise ValueError(f"{name} is empty; pass the clip's samples.")
    if np.issubdtype(x.dtype, np.signedinteger):
        x = x / float(-np.iinfo(x.dtype).min)  # int16 PCM: -32768..32767 -> -1..1
    elif np.issubdtype(x.dtype, np.unsignedinteger):
        mid = float(np.iinfo(x.dtype).max // 2 + 1)  # uint8 PCM is centred on 128
        x = (x - mid) / mid
    x = np.ascontiguousarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite samples; the audio is corrupt.")
    return x


def _check_rate(sample_rate: int) -> int:
    if int(sample_rate) != sample_rate or sample_rate < 8000:
        raise ValueError(f"sample_rate must be an integer of at least 8000 Hz, got {sample_rate}.")
    return int(sample_rate)


def resample(samples: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy) from ``sample_rate`` to ``target_rate``; shape (samples,)."""
    if sample_rate == target_rate:
        return samples
    g = math.gcd(int(sample_rate), int(target_rate))
    return signal.resample_poly(samples, target_rate // g, sample_rate // g)


# --- dynamic time warping ----------------------------------------------------------------------


class DtwAlignment(NamedTuple):
    """An optimal monotonic alignment: pairs ``(a_index[k], b_index[k])``, k = 0..path length-1."""

    a_index: np.ndarray
    b_index: np.ndarray
    total_cost: float


def dtw(cost: np.ndarray) -> DtwAlignment:
    """Dynamic time warping over a local cost matrix of shape (N, M).

    Symmetric steps (i-1, j), (i, j-1), (i-1, j-1), all with weight 1; the path runs from
    (0, 0) to (N-1, M-1). Cells on one anti-diagonal (i + j = k) depend only on the two previous
    anti-diagonals, so each anti-diagonal is computed as one numpy operation: N + M - 1 vector
    steps instead of N * M scalar ones (about 0.15 s on 2 cores for 2000 x 2000, i.e. two
    10 s clips at 5 ms frames; see benchmarks/metrics.py). The path is recovered by walking
    back through the accumulated costs, so no step matrix is stored.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"cost must be a non-empty (N, M) matrix, got shape {cost.shape}.")
    if not np.all(np.isfinite(cost)):
        raise ValueError("cost contains NaN or infinite values.")
    n, m = cost.shape
    width = m + 1
    # acc[i + 1, j + 1] = cheapest path cost to (i, j); row 0 and column 0 are the inf border.
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    flat = acc.reshape(-1)
    for k in range(n + m - 1):
        i = np.arange(max(0, k - m + 1), min(k, n - 1) + 1)
        j = k - i
        pos = (i + 1) * width + (j + 1)
        best = np.minimum(np.minimum(flat[pos - width - 1], flat[pos - width]), flat[pos - 1])
        flat[pos] = cost[i, j] + best

    a_path = [n - 1]
    b_path = [m - 1]
    i, j = n, m  # padded coordinates
    while (i, j) != (1, 1):
        # Prefer the diagonal on ties: it keeps the path as short as the cost allows.
        steps = ((i - 1, j - 1), (i - 1, j), (i, j - 1))
        i, j = min(steps, key=lambda s: acc[s])
        a_path.append(i - 1)
        b_path.append(j - 1)
    return DtwAlignment(
        a_index=np.array(a_path[::-1], dtype=np.intp),
        b_index=np.array(b_path[::-1], dtype=np.intp),
        total_cost=float(acc[n, m]),
    )


# --- WORLD analysis: F0 and mel-cepstra --------------------------------------------------------


def mel_alpha(sample_rate: int) -> float:
    """All-pass constant for mel-cepstral analysis at ``sample_rate`` (0.42 at 16 kHz...)."""
    return _MEL_ALPHA.get(int(sample_rate)) or float(pysptk.util.mcepalpha(sample_rate))


def world_f0(samples: np.ndarray, sample_rate: int, method: str = "harvest") -> np.ndarray:
    """F0 in Hz every 5 ms, 0 where unvoiced; shape (frames,).

    ``harvest`` (Morise 2017) is the more reliable voicing decision and the default;
    ``dio`` + StoneMask is ~50 times faster and fine for quick looks. Harvest carries voicing
    on into the low-level noise around speech, so frames whose level is more than 40 dB below
    the clip's loudest frame are set unvoiced (see :data:`SILENCE_BELOW_PEAK_DB`).
    """
    x = _as_mono_float(samples, "samples")
    sr = _check_rate(sample_rate)
    f0, times = _world_f0(x, sr, method)
    return _gate_silence(f0, x, sr, times)


def _world_f0(x: np.ndarray, sr: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    kw = {"f0_floor": F0_FLOOR_HZ, "f0_ceil": F0_CEIL_HZ, "frame_period": FRAME_PERIOD_MS}
    if method == "harvest":
        return pyworld.harvest(x, sr, **kw)
    if method == "dio":
        f0, times = pyworld.dio(x, sr, **kw)
        return pyworld.stonemask(x, f0, times, sr), times
    raise ValueError(f"f0_method must be one of {F0_METHODS}, got {method!r}.")


def _gate_silence(f0: np.ndarray, x: np.ndarray, sr: int, times: np.ndarray) -> np.ndarray:
    """``f0`` with frames that :func:`_speech_frames` calls silent set to 0 (unvoiced)."""
    return np.where(_speech_frames(x, sr, times), f0, 0.0)


def _speech_frames(x: np.ndarray, sr: int, times: np.ndarray) -> np.ndarray:
    """True where the 25 ms around a frame time is within 40 dB of the loudest such frame."""
    half = int(0.0125 * sr)
    energy = np.concatenate([[0.0], np.cumsum(x**2)])
    centre = np.round(times * sr).astype(np.intp)
    lo = np.clip(centre - half, 0, len(x))
    hi = np.clip(centre + half, 0, len(x))
    level = 10.0 * np.log10(np.maximum((energy[hi] - energy[lo]) / (2 * half), 1e-12))
    return level > max(level.max() - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DBFS)


def _analyse(x: np.ndarray, sr: int, f0_method: str) -> tuple[np.ndarray, np.ndarray]:
    """F0 (frames,) and mel-cepstra c1..c13 (frames, 13) of the non-silent frames only."""
    f0, times = _world_f0(x, sr, f0_method)
    # The envelope uses the tracker's own F0: CheapTrick's window follows it.
    envelope = pyworld.cheaptrick(x, f0, times, sr, f0_floor=F0_FLOOR_HZ)
    mcep = pysptk.sp2mc(envelope, order=MCEP_COEFFICIENTS, alpha=mel_alpha(sr))
    speech = _speech_frames(x, sr, times)
    return f0[speech], mcep[speech, 1:]


# --- with a reference --------------------------------------------------------------------------


def compare_to_reference(
    degraded: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    *,
    f0_method: str = "harvest",
) -> dict[str, Any]:
    """Intrusive metrics of ``degraded`` against a natural ``reference`` of the same sentence.

    Both signals have shape (samples,) at ``sample_rate``; they may differ in length.

    Returns a dict:

    - ``stoi``, ``estoi``: STOI (Taal et al. 2011) and extended STOI (Jensen & Taal 2016),
      0..1. STOI assumes time-aligned signals, so the degraded clip is first shifted by one
      global lag (at most 0.5 s, reported as ``stoi_lag_s``; found on the level envelopes,
      refined on the waveforms), then cut or zero-padded to the reference's length: missing
      speech lowers the score, sound after the reference ends is not scored. TTS output whose
      timing differs from the recording within the sentence still scores low; that is what
      STOI measures.
    - ``pesq_wb``: wide-band PESQ MOS-LQO (ITU-T P.862.2) on both signals resampled to 16 kHz;
      PESQ does its own time alignment. None (with a note) when PESQ finds no utterance or the
      clip is shorter than 0.25 s.
    - ``mcd_db``: mel-cepstral distortion with DTW ("MCD-DTW" as reported in TTS papers:
      Kubichek 1993 with dynamic time warping). Mel-cepstra are c1..c13 (c0, the frame
      energy, excluded) from WORLD's CheapTrick spectral envelope converted with SPTK's
      ``sp2mc`` (alpha 0.42 at 16 kHz, 0.455 at 22.05 kHz), one frame every 5 ms. Frames
      40 dB or more below the clip's loudest frame are dropped first: they describe the
      recording's noise floor, and how much silence a system pads with is reported by
      :func:`describe_clip`, not counted here. The remaining frames are aligned by :func:`dtw`
      on the Euclidean cepstral distance, and
      MCD = mean over the path of (10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2) dB.
    - ``f0_rmse_cents``: RMS of 1200 * log2(F0_degraded / F0_reference) over path pairs that
      are voiced in both; ``f0_rmse_hz`` the same difference in Hz; ``f0_corr`` the Pearson
      correlation of the two F0 tracks (Hz) over those pairs. None when fewer than 3 such
      pairs (or, for the correlation, a constant track).
    - ``vde``: voicing decision error, the fraction of path pairs where exactly one side is
      voiced (Nakatani et al. 2008), 0..1; ``f0_gpe``: gross pitch error, the fraction of
      both-voiced pairs whose F0 differs by more than 20% (same paper).
    - ``voiced_pairs``, ``path_frames``: the counts behind the F0 numbers.
    - ``notes``: list of strings explaining any None.

    F0 comes from WORLD's Harvest (``f0_method="dio"`` for DIO + StoneMask, much faster) on
    the same non-silent frames. RMSE and GPE include the tracker's own errors at voicing
    onsets and offsets, as published numbers do.
    """
    deg = _as_mono_float(degraded, "degraded")
    ref = _as_mono_float(reference, "reference")
    sr = _check_rate(sample_rate)
    if f0_method not in F0_METHODS:
        raise ValueError(f"f0_method must be one of {F0_METHODS}, got {f0_method!r}.")
    notes: list[str] = []

    lag = _best_lag(deg, ref, sr, max_lag=int(STOI_MAX_LAG_S * sr))
    aligned = _shift_to_length(deg, lag, len(ref))
    with warnings.catch_warnings():
        # pystoi warns (and returns 1e-5) when the reference has under 30 non-silent frames.
        warnings.simplefilter("ignore", RuntimeWarning)
        stoi = float(pystoi.stoi(ref, aligned, sr, extended=False))
        estoi = float(pystoi.stoi(ref, aligned, sr, extended=True))

    return {
        "stoi": stoi,
        "estoi": estoi,
        "stoi_lag_s": lag / sr,
        "pesq_wb": _pesq_wb(deg, ref, sr, notes),
        **_frame_metrics(deg, ref, sr, f0_method, notes),
        "notes": notes,
    }


def _frame_metrics(
    deg: np.ndarray, ref: np.ndarray, sr: int, f0_method: str, notes: list[str]
) -> dict[str, Any]:
    """MCD-DTW and the F0 metrics on the DTW path (see :func:`compare_to_reference`)."""
    out: dict[str, Any] = dict.fromkeys(
        ("mcd_db", "f0_rmse_cents", "f0_rmse_hz", "f0_corr", "vde", "f0_gpe")
    )
    out.update(voiced_pairs=0, path_frames=0)
    f0_deg, mcep_deg = _analyse(deg, sr, f0_method)
    f0_ref, mcep_ref = _analyse(ref, sr, f0_method)
    if len(f0_deg) == 0 or len(f0_ref) == 0:
        notes.append("MCD and F0 metrics: a clip has no frame above the silence threshold.")
        return out

    local = cdist(mcep_deg, mcep_ref)  # (frames_deg, frames_ref), Euclidean
    path = dtw(local)
    out["mcd_db"] = float(MCD_CONSTANT * np.mean(local[path.a_index, path.b_index]))
    out["path_frames"] = len(path.a_index)

    fd = f0_deg[path.a_index]
    fr = f0_ref[path.b_index]
    out["vde"] = float(np.mean((fd > 0) != (fr > 0)))
    both = (fd > 0) & (fr > 0)
    out["voiced_pairs"] = n_voiced = int(both.sum())
    if n_voiced < 3:
        notes.append(f"F0 metrics: only {n_voiced} aligned frames are voiced in both (need 3).")
        return out
    fd, fr = fd[both], fr[both]
    cents = 1200.0 * np.log2(fd / fr)
    out["f0_rmse_cents"] = float(np.sqrt(np.mean(cents**2)))
    out["f0_rmse_hz"] = float(np.sqrt(np.mean((fd - fr) ** 2)))
    out["f0_gpe"] = float(np.mean(np.abs(fd / fr - 1.0) > 0.2))
    if np.ptp(fd) > 0 and np.ptp(fr) > 0:
        out["f0_corr"] = float(np.corrcoef(fd, fr)[0, 1])
    else:
        notes.append("f0_corr: an F0 track is constant, so the correlation is undefined.")
    return out


def _best_lag(deg: np.ndarray, ref: np.ndarray, sr: int, max_lag: int) -> int:
    """Samples by which ``deg`` lags ``ref`` (positive: deg is late), |lag| <= max_lag.

    Coarse, then fine: the level envelopes (5 ms hop) find where the syllables line up even
    when the two voices differ in pitch, where waveform correlation peaks at random lags; the
    waveform correlation then picks the exact sample within one hop of that.
    """
    hop = max(sr // 200, 1)

    def envelope(x: np.ndarray) -> np.ndarray:
        env = np.sqrt(_frame_levels(x, frame=4 * hop, hop=hop))
        return env - env.mean()

    env_d, env_r = envelope(deg), envelope(ref)
    coarse = signal.correlate(env_d, env_r, mode="full", method="fft")
    coarse_lags = np.arange(-(len(env_r) - 1), len(env_d)) * hop
    allowed = np.abs(coarse_lags) <= max_lag
    if not np.any(coarse[allowed] > 0):
        return 0
    guess = int(coarse_lags[allowed][np.argmax(coarse[allowed])])

    fine = signal.correlate(deg, ref, mode="full", method="fft")
    lags = np.arange(-(len(ref) - 1), len(deg))
    near = (np.abs(lags - guess) <= hop) & (np.abs(lags) <= max_lag)
    return int(lags[near][np.argmax(fine[near])])


def _shift_to_length(x: np.ndarray, lag: int, length: int) -> np.ndarray:
    """Undo a lag of ``lag`` samples, then cut or zero-pad to ``length``."""
    x = x[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), x])
    if len(x) >= length:
        return x[:length]
    return np.concatenate([x, np.zeros(length - len(x))])


def _pesq_wb(deg: np.ndarray, ref: np.ndarray, sr: int, notes: list[str]) -> float | None:
    ref16 = resample(ref, sr, PESQ_RATE)
    deg16 = resample(deg, sr, PESQ_RATE)
    try:
        with warnings.catch_warnings():
            # pesq divides by the peak first: a silent pair warns before it raises below.
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(pesq_lib.pesq(PESQ_RATE, ref16, deg16, "wb"))
    except (pesq_lib.PesqError, ValueError) as exc:
        # A silent clip or one shorter than 0.25 s (a failed synthesis can produce either);
        # the C code fails on a silent degraded clip with a NaN ValueError.
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        notes.append(f"pesq_wb: no score ({type(exc).__name__}: {reason}).")
        return None


# --- without a reference -----------------------------------------------------------------------


def describe_clip(samples: np.ndarray, sample_rate: int, text: str | None = None) -> dict[str, Any]:
    """Reference-free description of one clip of shape (samples,).

    Returns a dict:

    - ``duration_s``.
    - ``leading_silence_s``, ``trailing_silence_s``: time before the first and after the last
      10 ms frame whose RMS level is within 40 dB of the loudest frame (a clip whose loudest
      frame is below -70 dBFS is all silence). The stretch between them is the speech span.
    - ``syllable_nuclei`` and ``speaking_rate_syll_per_s`` (nuclei per second of speech span):
      nuclei are found after de Jong & Wempe (2009): peaks of the intensity contour that stand
      at least 2 dB above the dips around them, lie within 25 dB of the loud end (99th
      percentile) of the contour, and are voiced according to WORLD's DIO + StoneMask. Rates
      use the speech span because systems pad clips differently; padding is reported above.
    - ``words_per_s``: words in ``text`` (whitespace-separated) per second of speech span;
      None without text.
    - ``loudness_lufs``: integrated loudness, ITU-R BS.1770-4 (pyloudnorm), None for clips
      shorter than one 400 ms gating block or entirely below the -70 LUFS absolute gate.
    - ``peak_dbfs``; ``clipped_samples`` and ``clipped_fraction``: samples with
      |x| >= 0.999 of full scale.
    - ``notes``: strings explaining any None.
    """
    x = _as_mono_float(samples, "samples")
    sr = _check_rate(sample_rate)
    notes: list[str] = []
    duration = len(x) / sr

    hop = sr // 100
    level_db = _frame_levels_db(x, frame=2 * hop, hop=hop)
    loud = level_db >= max(level_db.max() - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DBFS)
    if np.any(loud):
        first = int(np.argmax(loud))
        last = len(loud) - 1 - int(np.argmax(loud[::-1]))
        leading = min(first * hop / sr, duration)
        trailing = max(duration - ((last * hop + 2 * hop) / sr), 0.0)
    else:
        leading, trailing = duration, 0.0
        notes.append("no frame above the silence threshold: the clip is silent.")
    span = max(duration - leading - trailing, 0.0)

    nuclei = _syllable_nuclei(x, sr) if np.any(loud) else 0
    speaking_rate = nuclei / span if span > 0 else None
    words_per_s = None
    if text is not None:
        if span > 0:
            words_per_s = len(text.split()) / span
        else:
            notes.append("words_per_s: the clip has no speech span.")

    loudness = None
    meter = pyloudnorm.Meter(sr)  # BS.1770-4 K-weighting, 400 ms blocks, gated
    if duration >= meter.block_size:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # log10(0) for silent blocks
            value = float(meter.integrated_loudness(x))
        if math.isfinite(value):
            loudness = value
        else:
            notes.append("loudness_lufs: every block is below the -70 LUFS absolute gate.")
    else:
        notes.append(f"loudness_lufs: clip shorter than the {meter.block_size} s BS.1770 block.")

    peak = float(np.max(np.abs(x)))
    clipped = int(np.count_nonzero(np.abs(x) >= CLIP_LEVEL))
    return {
        "duration_s": duration,
        "leading_silence_s": leading,
        "trailing_silence_s": trailing,
        "syllable_nuclei": nuclei,
        "speaking_rate_syll_per_s": speaking_rate,
        "words_per_s": words_per_s,
        "loudness_lufs": loudness,
        "peak_dbfs": 20.0 * math.log10(peak) if peak > 0 else None,
        "clipped_samples": clipped,
        "clipped_fraction": clipped / len(x),
        "notes": notes,
    }


def _frame_levels(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Mean power of frames starting every ``hop`` samples; shape (frames,)."""
    if len(x) < frame:
        x = np.concatenate([x, np.zeros(frame - len(x))])
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    return np.mean(frames**2, axis=1)


def _frame_levels_db(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """RMS level in dBFS of frames starting every ``hop`` samples; shape (frames,)."""
    return 10.0 * np.log10(np.maximum(_frame_levels(x, frame, hop), 1e-12))


def _syllable_nuclei(x: np.ndarray, sr: int) -> int:
    """Voiced intensity peaks (de Jong & Wempe 2009), on a 10 ms grid."""
    hop = sr // 100
    # A 50 ms window smooths over pitch periods down to 60 Hz, as Praat's intensity does.
    window = int(0.05 * sr)
    padded = np.concatenate([np.zeros(window // 2), x, np.zeros(window // 2)])
    intensity = _frame_levels_db(padded, frame=window, hop=hop)
    threshold = np.percentile(intensity, 99) - 25.0
    peaks, _ = signal.find_peaks(intensity, height=threshold, prominence=2.0)
    kw = {"f0_floor": F0_FLOOR_HZ, "f0_ceil": F0_CEIL_HZ, "frame_period": 10.0}
    f0, times = pyworld.dio(x, sr, **kw)
    f0 = pyworld.stonemask(x, f0, times, sr)
    peaks = peaks[peaks < len(f0)]
    return int(np.count_nonzero(f0[peaks] > 0))


# --- automatic MOS: DNSMOS P.808 ---------------------------------------------------------------


@functools.cache
def _p808_session() -> Any:
    """The DNSMOS P.808 ONNX session, loaded on first use and kept for the process."""
    import onnxruntime  # imported here: only processes that estimate MOS pay for it

    model = resources.files(_DNSMOS_MODEL[0]).joinpath(_DNSMOS_MODEL[1])
    with resources.as_file(model) as path:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@functools.cache
def _p808_mel_filters() -> np.ndarray:
    return _mel_filterbank(DNSMOS_RATE, n_fft=321, n_mels=120)


def _mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-style mel filterbank (area-normalised triangles), shape (n_mels, n_fft//2 + 1).

    The DNSMOS P.808 model was trained on features from librosa's default filterbank, which is
    this one: Slaney's Auditory Toolbox mel scale (linear below 1 kHz, logarithmic above).
    """

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(
            f < 1000.0,
            f * 3.0 / 200.0,
            15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) * 27.0 / np.log(6.4),
        )

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m < 15.0, m * 200.0 / 3.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0))

    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    widths = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def _p808_features(segment: np.ndarray) -> np.ndarray:
    """Log-mel input of the P.808 model for 144000 samples at 16 kHz; shape (900, 120).

    Same framing as DNSMOS: 321-point periodic Hann STFT, hop 160, centred with zero padding,
    power mel spectrum in dB relative to its maximum, floored 80 dB below, then (dB + 40) / 40.
    """
    n_fft, hop = 321, 160
    padded = np.pad(segment, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = signal.get_window("hann", n_fft, fftbins=True)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, 161)
    mel = power @ _p808_mel_filters().T  # (frames, 120)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db -= 10.0 * np.log10(max(float(mel.max()), 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return ((db + 40.0) / 40.0).astype(np.float32)


def dnsmos_p808(samples: np.ndarray, sample_rate: int) -> float:
    """DNSMOS P.808 estimate of the MOS listeners would give ``samples`` (shape (samples,)).

    The model (Reddy, Gopal & Cutler, "DNSMOS: a non-intrusive perceptual objective speech
    quality metric to evaluate noise suppressors", ICASSP 2021) was trained on ITU-T P.808
    crowdsourced ACR ratings of noisy and enhanced speech, so it judges noise and distortion better than TTS naturalness; use it as a sanity
    check beside real MOS, not instead of it. Framing follows the DNSMOS reference code: audio
    at 16 kHz, clips shorter than 9.01 s repeated until long enough, 9.01 s windows every 1 s,
    the window scores averaged. Output is roughly on the 1..5 ACR scale.
    The ONNX file ships inside the ``speechmos`` wheel; it is loaded on the first call.
    """
    x = _as_mono_float(samples, "samples")
    x = resample(x, _check_rate(sample_rate), DNSMOS_RATE)
    if not np.any(x):
        raise ValueError("samples are all zero; DNSMOS cannot rate a silent clip.")
    needed = int(_DNSMOS_INPUT_S * DNSMOS_RATE)
    while len(x) < needed:
        x = np.concatenate([x, x])
    hops = int(np.floor(len(x) / DNSMOS_RATE) - _DNSMOS_INPUT_S) + 1
    batch = np.stack(
        [_p808_features(x[h * DNSMOS_RATE : h * DNSMOS_RATE + needed][:-160]) for h in range(hops)]
    )  # (windows, 900, 120)
    session = _p808_session()
    (scores,) = session.run(None, {session.get_inputs()[0].name: batch})
    return float(np.mean(scores[:, 0]))
