"""Audio out: the last step before a clip is stored, shared by synthesis and uploads.

Where it sits: a waveform (from Tacotron2 -> HiFi-GAN, eSpeak NG, an MNRU anchor, or a
researcher's uploaded recording through ``decode_audio``) goes through ``postprocess`` (mono,
resample, trim, clipping check, loudness normalisation) and is stored with ``write_flac`` or
``encode_flac``. Every clip of a study then plays at the same loudness, so listeners rate
quality, not level (ITU-T P.800 asks for stimuli at a common listening level; ITU-T P.808
normalises speech files to -26 dBov active speech level per ITU-T P.56 — here the same -26
target is applied to BS.1770 loudness, which also works for clips with little silence).

Loudness is integrated loudness per ITU-R BS.1770 (K-weighting, 400 ms blocks, absolute and
relative gating) measured with pyloudnorm. Samples are float in [-1, 1] (0 dBFS = 1.0).
"""

from __future__ import annotations

import functools
import io
import math
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyloudnorm
import soundfile
from scipy import signal

__all__ = [
    "ProcessedAudio",
    "SilentAudioError",
    "UnreadableAudioError",
    "decode_audio",
    "detect_clipping",
    "encode_flac",
    "measure_loudness",
    "measured",
    "normalize_loudness",
    "postprocess",
    "resample",
    "to_mono",
    "trim_silence",
    "write_flac",
]

# BS.1770 gating block length.
_BLOCK_S = 0.400
# Below this peak level (about -138 dBFS, under one 24-bit LSB) a clip counts as silence.
_SILENCE_PEAK = 1e-7


class SilentAudioError(ValueError):
    """The audio holds no sound to normalise (empty, all zeros, or below the gating floor)."""


class UnreadableAudioError(ValueError):
    """Uploaded bytes could not be decoded as audio."""


@dataclass(frozen=True)
class ProcessedAudio:
    """A clip ready for storage.

    ``samples``: float32, shape (n,), mono, in [-1, 1]. ``loudness_lufs`` and ``peak_dbfs`` are
    measured on ``samples`` as returned (after normalisation), so they are the truth even when the
    peak ceiling kept the clip below the target loudness. ``clipped`` says the *input* had runs
    of full-scale samples (a sign of distortion that normalisation cannot undo).
    """

    samples: np.ndarray
    sample_rate: int
    duration_s: float
    loudness_lufs: float
    peak_dbfs: float
    clipped: bool


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Float32 mono copy of ``samples``.

    Accepts shape (n,), (n, channels) as soundfile returns, or (channels, n) as torchaudio
    returns; a 2-D array is read as channels-last unless its first axis is the short one
    (at most 8 long) and the second is longer. Channels are averaged.
    """
    array = np.asarray(samples)
    if array.ndim == 1:
        mono = array
    elif array.ndim == 2:
        channels_first = array.shape[0] <= 8 and array.shape[1] > array.shape[0]
        mono = array.mean(axis=0 if channels_first else 1)
    else:
        raise ValueError(f"Expected audio of shape (n,) or (n, channels), got {array.shape}")
    if not np.issubdtype(mono.dtype, np.floating):
        if np.issubdtype(mono.dtype, np.integer):
            # Integer PCM: scale by the type's full scale so 0 dBFS stays 1.0.
            mono = mono / float(np.iinfo(mono.dtype).max + 1)
        else:
            raise ValueError(f"Expected numeric audio samples, got dtype {mono.dtype}")
    return np.ascontiguousarray(mono, dtype=np.float32)


def mono_float64(samples: np.ndarray, what: str) -> np.ndarray:
    """``samples`` as float64 for a degradation (``what``: "MNRU", "The anchor filter") to work
    on, once they are checked to be mono (shape (n,)) float samples with no NaN or infinity;
    otherwise a ValueError naming what was found."""
    raw = np.asarray(samples)
    if raw.ndim != 1:
        raise ValueError(f"{what} takes mono audio of shape (n,), got shape {raw.shape}.")
    if not np.issubdtype(raw.dtype, np.floating):
        raise ValueError(f"{what} takes float samples in [-1, 1], got dtype {raw.dtype}.")
    x = raw.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("The audio contains NaN or infinite samples; the source clip is faulty.")
    return x


def _channels(samples: np.ndarray) -> list[np.ndarray]:
    """Each channel of ``samples`` as float32 mono (same layout rules as ``to_mono``)."""
    array = np.asarray(samples)
    if array.ndim != 2:
        return [to_mono(array)]
    channels_first = array.shape[0] <= 8 and array.shape[1] > array.shape[0]
    return [to_mono(channel) for channel in (array if channels_first else array.T)]


def _peak(samples: np.ndarray) -> float:
    return float(np.max(np.abs(samples))) if samples.size else 0.0


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def trim_silence(
    samples: np.ndarray, sample_rate: int, threshold_db: float = -40.0, pad_s: float = 0.05
) -> np.ndarray:
    """Cut leading and trailing silence, keeping ``pad_s`` seconds on each side.

    Silence is every sample whose magnitude is ``threshold_db`` or more below the clip's peak.
    Only the ends are cut; pauses inside speech stay. A silent clip comes back empty.
    """
    samples = np.asarray(samples)
    peak = _peak(samples)
    if peak <= _SILENCE_PEAK:
        return samples[:0].copy()
    loud = np.flatnonzero(np.abs(samples) >= peak * 10.0 ** (threshold_db / 20.0))
    pad = int(round(pad_s * sample_rate))
    start = max(int(loud[0]) - pad, 0)
    stop = min(int(loud[-1]) + 1 + pad, samples.shape[0])
    return samples[start:stop].copy()


def detect_clipping(samples: np.ndarray, threshold: float = 0.999, min_run: int = 3) -> bool:
    """True when ``min_run`` or more consecutive samples sit at or beyond ``threshold``.

    A lone full-scale sample happens in clean audio; a run of them is a flattened peak.
    """
    at_limit = np.abs(np.asarray(samples, dtype=np.float64)) >= threshold
    if min_run <= 1:
        return bool(at_limit.any())
    if at_limit.sum() < min_run:
        return False
    # Length of the longest run of True values, via the edges of each run.
    edges = np.diff(np.concatenate(([0], at_limit.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return bool(np.max(stops - starts) >= min_run)


def measure_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770 via pyloudnorm); ``-inf`` for silence.

    Clips shorter than the 400 ms gating block are measured as one block as long as the clip
    (the K-weighted mean square of the whole clip, gated like any block), instead of failing.
    Returns ``-inf`` when the clip is empty, silent, or entirely below the -70 LUFS absolute gate.
    """
    mono = to_mono(samples).astype(np.float64)
    if mono.size == 0 or _peak(mono) <= _SILENCE_PEAK:
        return -math.inf
    duration = mono.size / sample_rate
    # A hair under the clip length: pyloudnorm refuses clips shorter than block * rate, and
    # duration * rate can round to a value above the sample count.
    block = _BLOCK_S if duration >= _BLOCK_S else duration * (1.0 - 1e-9)
    meter = pyloudnorm.Meter(sample_rate, block_size=block)
    loudness = float(meter.integrated_loudness(mono))
    return loudness if math.isfinite(loudness) else -math.inf


def normalize_loudness(
    samples: np.ndarray,
    sample_rate: int,
    target_lufs: float = -26.0,
    peak_ceiling_dbfs: float = -1.0,
) -> np.ndarray:
    """Scale ``samples`` to ``target_lufs`` integrated loudness without passing the ceiling.

    One gain for the whole clip (no compression). If reaching the target would push the sample
    peak above ``peak_ceiling_dbfs``, the gain stops at the ceiling and the clip ends up quieter
    than the target: measure it again (``postprocess`` does) to report the true loudness. The
    ceiling is a sample-peak ceiling, not a BS.1770 true-peak one. Raises ``SilentAudioError``
    for silence, which has no loudness to scale.
    """
    mono = to_mono(samples)
    loudness = measure_loudness(mono, sample_rate)
    if not math.isfinite(loudness):
        raise SilentAudioError(
            "Cannot normalise loudness: the audio is silent (below the BS.1770 -70 LUFS gate)."
        )
    gain_db = target_lufs - loudness
    peak = _peak(mono)
    gain_db = min(gain_db, peak_ceiling_dbfs - _dbfs(peak))
    return (mono * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


# Anti-aliasing filter for resample(): a Kaiser-windowed sinc spanning 64 zero crossings of the
# lower rate on each side, cut off at 94% of the lower Nyquist frequency. Measured for
# 22050 -> 16000 Hz: flat (< 0.01 dB) to 7 kHz, -5 dB at 7.5 kHz, below -115 dB from 8.05 kHz.
_RESAMPLE_ZERO_CROSSINGS = 64
_RESAMPLE_ROLLOFF = 0.94
_RESAMPLE_KAISER_BETA = 12.0


@functools.lru_cache(maxsize=16)
def _resampling_filter(up: int, down: int) -> np.ndarray:
    widest = max(up, down)
    return signal.firwin(
        2 * _RESAMPLE_ZERO_CROSSINGS * widest + 1,
        _RESAMPLE_ROLLOFF / widest,
        window=("kaiser", _RESAMPLE_KAISER_BETA),
    )


# Input samples resampled at a time: the float64 work arrays stay a few tens of MB for any clip.
_RESAMPLE_CHUNK = 1 << 20


def _resample_whole(mono: np.ndarray, up: int, down: int) -> np.ndarray:
    return signal.resample_poly(
        mono.astype(np.float64), up, down, window=_resampling_filter(up, down)
    )


def resample(
    samples: np.ndarray, orig_sr: int, target_sr: int, chunk: int = _RESAMPLE_CHUNK
) -> np.ndarray:
    """Band-limited resampling of a mono clip: polyphase FIR (``scipy.signal.resample_poly``).

    The filter is sharper than scipy's default (which lets a 9 kHz tone alias into a 16 kHz
    clip at about -24 dB): content above the new Nyquist frequency ends up below -115 dB.
    Output length is ``ceil(n * target_sr / orig_sr)``; the filter is zero-phase (no delay).

    Long clips are resampled ``chunk`` input samples at a time, each with enough neighbours on
    both sides to cover the filter, so the result equals the one-pass result (to rounding) while
    the float64 work arrays stay bounded.
    """
    mono = to_mono(samples)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"Sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return mono.copy()
    ratio = Fraction(int(target_sr), int(orig_sr))
    up, down = ratio.numerator, ratio.denominator
    n_out = -(-mono.size * up // down)
    # Chunks start on multiples of `down` input samples, i.e. on whole output samples.
    step = max(chunk // down, 1) * down
    if mono.size <= step:
        return _resample_whole(mono, up, down).astype(np.float32)
    half = (_resampling_filter(up, down).size // 2) // up + 2
    pad = -(-half // down) * down  # input samples each side, a multiple of `down`
    out = np.empty(n_out, dtype=np.float32)
    for start in range(0, mono.size, step):
        stop = min(start + step, mono.size)
        lo, hi = max(start - pad, 0), min(stop + pad, mono.size)
        part = _resample_whole(mono[lo:hi], up, down)
        first = (start - lo) * up // down  # output index of `start` inside `part`
        n0, n1 = start * up // down, -(-stop * up // down)
        out[n0:n1] = part[first : first + n1 - n0]
    return out


def postprocess(
    samples: np.ndarray,
    sample_rate: int,
    target_lufs: float = -26.0,
    target_sample_rate: int | None = None,
    trim: bool = True,
) -> ProcessedAudio:
    """Make a clip ready for a listening test.

    Steps, in order: mono float32; clipping check on the input as given (before resampling
    smears flat tops and before normalisation rescales them); optional resampling; optional
    silence trimming; loudness normalisation to ``target_lufs`` with a -1 dBFS peak ceiling;
    measurement of the result. Raises ``SilentAudioError`` for empty or silent input and
    ``ValueError`` for NaN or infinite samples.
    """
    mono = to_mono(samples)
    if mono.size == 0:
        raise SilentAudioError("The audio is empty (0 samples); nothing to play to listeners.")
    if not np.all(np.isfinite(mono)):
        raise ValueError("The audio contains NaN or infinite samples; the model or file is faulty.")
    if _peak(mono) <= _SILENCE_PEAK:
        raise SilentAudioError(
            f"The audio is silent ({mono.size} samples, all zero); synthesis produced no sound."
        )
    clipped = any(detect_clipping(channel) for channel in _channels(samples))
    rate = int(sample_rate)
    if target_sample_rate is not None and int(target_sample_rate) != rate:
        mono = resample(mono, rate, int(target_sample_rate))
        rate = int(target_sample_rate)
    if trim:
        mono = trim_silence(mono, rate)
    normalized = normalize_loudness(mono, rate, target_lufs=target_lufs)
    return measured(normalized, rate, clipped=clipped)


def measured(
    samples: np.ndarray, sample_rate: int, *, clipped: bool | None = None
) -> ProcessedAudio:
    """``samples`` as they are (mono float32) with a stored clip's measurements: duration,
    integrated loudness, peak and clipping.

    :func:`postprocess` measures its result with it, and so does an upload stored as it is
    (a recipe's own processed clip), so both kinds of clip carry the same figures. ``clipped``:
    what the caller found before processing (clipping is judged on the input), else detected on
    ``samples``. A silent clip's peak is ``-inf`` dBFS.
    """
    mono = to_mono(samples)
    rate = int(sample_rate)
    return ProcessedAudio(
        samples=mono,
        sample_rate=rate,
        duration_s=mono.size / rate,
        loudness_lufs=measure_loudness(mono, rate),
        peak_dbfs=_dbfs(_peak(mono)),
        clipped=detect_clipping(mono) if clipped is None else clipped,
    )


def _pcm16_ready(samples: np.ndarray) -> np.ndarray:
    # libsndfile does not clip float->int16 by default; out-of-range values would wrap around.
    return np.clip(to_mono(samples), -1.0, 1.0)


def encode_flac(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit FLAC bytes of a mono clip, for storage backends that take bytes."""
    buffer = io.BytesIO()
    soundfile.write(
        buffer, _pcm16_ready(samples), int(sample_rate), format="FLAC", subtype="PCM_16"
    )
    return buffer.getvalue()


def write_flac(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write a 16-bit FLAC file atomically.

    The data goes to a temporary file in the same directory, is flushed to disk, then
    ``os.replace`` moves it over ``path``: readers see the old file or the complete new one,
    never a half-written one, and a crash leaves at most a stray ``*.tmp`` file.
    """
    target = Path(path)
    data = encode_flac(samples, sample_rate)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# Frames decoded at a time: 64 Ki frames of 8 float32 channels is 2 MB, whatever the file says.
_DECODE_BLOCK_FRAMES = 65536


def _header_check(
    info: soundfile.SoundFile,
    filename: str,
    max_seconds: float | None,
    max_sample_rate: int | None,
    max_channels: int | None,
) -> None:
    """Refuse a file by what its header declares, before a single sample is decoded.

    A compressed file can declare far more than its size suggests (a few KB of FLAC declaring
    hours, or 2^36 frames), and the decoded size is frames x channels x 4 bytes: check each factor.
    """
    rate, channels, frames = int(info.samplerate), int(info.channels), int(info.frames)
    if rate <= 0 or channels <= 0:
        raise UnreadableAudioError(
            f"{filename!r} declares {rate} Hz and {channels} channel(s); it is damaged. "
            "Export it again as WAV or FLAC."
        )
    if max_sample_rate is not None and rate > max_sample_rate:
        raise UnreadableAudioError(
            f"{filename!r} is sampled at {rate} Hz; the limit is {max_sample_rate} Hz. "
            "Resample it (for example to 48000 Hz) and upload it again."
        )
    if max_channels is not None and channels > max_channels:
        raise UnreadableAudioError(
            f"{filename!r} has {channels} channels; the limit is {max_channels}. "
            "Mix it down to mono or stereo and upload it again."
        )
    if max_seconds is not None and frames > max_seconds * rate:
        raise UnreadableAudioError(
            f"{filename!r} declares {frames / rate:.0f} s of audio; a stimulus is one sentence "
            f"of at most {max_seconds:g} s. Cut it to the sentence and upload it again."
        )


def decode_audio(
    data: bytes | BinaryIO,
    filename: str,
    *,
    max_seconds: float | None = None,
    max_sample_rate: int | None = None,
    max_channels: int | None = None,
) -> tuple[np.ndarray, int]:
    """Decode uploaded WAV, FLAC, OGG/Vorbis or MP3 to (float32 mono samples, rate).

    ``data``: the bytes, or a seekable binary file (an upload's temporary file), which is read
    block by block and never held whole. The header is read first and the file refused when it
    declares more than ``max_seconds``, ``max_sample_rate`` or ``max_channels``; then blocks of
    ``_DECODE_BLOCK_FRAMES`` frames are decoded and mixed down to mono one at a time, so memory
    is bounded by the mono result (at most ``max_seconds * max_sample_rate`` floats) whatever
    the file declares. A file that holds more frames than it declared is refused as well.

    The format is detected from the bytes, not the file name (the bundled libsndfile >= 1.1
    reads MP3). Raises ``UnreadableAudioError`` naming the file and the cause, for every
    decoder error and for ``MemoryError``.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        if not data:
            raise UnreadableAudioError(f"{filename!r} is empty (0 bytes); upload the file again.")
        data = io.BytesIO(data)
    try:
        with soundfile.SoundFile(data) as sound:
            _header_check(sound, filename, max_seconds, max_sample_rate, max_channels)
            rate = int(sound.samplerate)
            declared = max(int(sound.frames), 0)
            limit = declared if max_seconds is None else min(declared, int(max_seconds * rate))
            mono = np.empty(limit, dtype=np.float32)
            filled = 0
            while True:
                try:
                    block = sound.read(_DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True)
                except soundfile.LibsndfileError:
                    # The header opened but the data did not follow: libsndfile fails to move
                    # past the end of a file that declared more frames than it holds.
                    raise UnreadableAudioError(
                        f"{filename!r} is cut short or damaged: its header declares "
                        f"{declared / rate:.1f} s but decoding failed after {filled / rate:.1f} s. "
                        "Export it again."
                    ) from None
                if block.shape[0] == 0:
                    break
                if filled + block.shape[0] > limit:
                    raise UnreadableAudioError(
                        f"{filename!r} holds more audio than its header declares "
                        f"({declared} frames); it is damaged. Export it again."
                    )
                mono[filled : filled + block.shape[0]] = block.mean(axis=1)
                filled += block.shape[0]
    except UnreadableAudioError:
        raise
    except MemoryError as error:
        raise UnreadableAudioError(
            f"{filename!r} is too large to decode here; upload a shorter, mono recording."
        ) from error
    except (
        soundfile.LibsndfileError,
        RuntimeError,
        TypeError,
        ValueError,
        OSError,
        EOFError,
    ) as error:
        # LibsndfileError's str() names the BytesIO object; its error_string is the cause.
        cause = getattr(error, "error_string", None) or str(error)
        raise UnreadableAudioError(
            f"Could not read {filename!r} as audio ({cause}). Upload WAV, FLAC, OGG/Vorbis or MP3."
        ) from error
    if filled == 0:
        raise UnreadableAudioError(f"{filename!r} decodes to no audio frames (0 samples).")
    return mono[:filled].copy() if filled < mono.size else mono, rate
