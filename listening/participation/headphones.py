"""Headphone check: stimuli and scoring of the anti-phase screening test.

Where it sits: after consent (and the questionnaire), a listener's browser fetches the trials
of the headphone check from the server, plays them, and posts the answers; the view scores them
with ``score_trials`` and stores the result on ``Listener.headphone_check``. A listener who
fails does not reach the ratings (``Listener.Stage.FAILED_CHECK``). Pure Python and numpy.

The test is that of Woods, Siegel, Traer & McDermott (2017), "Headphone screening to facilitate
web-based auditory experiments", Attention, Perception & Psychophysics 79(7):2064-2072,
doi:10.3758/s13414-017-1361-2. Each trial plays three 200 Hz pure tones of 1000 ms with 100 ms
onset and offset ramps, 500 ms apart; the listener says which one is the quietest:

* the reference: the same tone in both channels;
* the quiet tone: the reference 6 dB lower (amplitude halved, -6.02 dB): the right answer;
* the anti-phase tone: the reference level, with the right channel the negative of the left.

Over headphones the anti-phase tone is as loud as the reference and the quiet tone is clearly
the quietest. Over loudspeakers the two channels' sound waves cancel at low frequencies, the
anti-phase tone sounds quieter than the 6 dB step (the paper measured more than 20 dB of
attenuation at 200 Hz), and loudspeaker listeners pick it instead. Six trials, pass with at
least five correct, as in the paper.

Files are 16-bit PCM stereo WAV. All three arrangements of a trial have the same duration, so
the same byte length; nothing in the size (or in a name the caller gives, which should be an
opaque token) tells the answer. Trials are a pure function of their seed, so a server can
regenerate what a listener heard from the seed stored with the result.

A trial's sound depends only on the order of its three tones, so there are six different
trial files: each is built once per process (:func:`arrangement_wav`, cached) and every
listener's trials are served from them; a seed only picks the order (:func:`trial_answers`
needs no audio at all).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import random

import numpy as np
import soundfile

__all__ = [
    "CHANNEL_GAIN_QUIET",
    "GAP_S",
    "N_TRIALS",
    "PASS_THRESHOLD",
    "RAMP_S",
    "REFERENCE_RMS_DBFS",
    "TONE_HZ",
    "TONE_S",
    "arrangement_wav",
    "make_trial",
    "make_trials",
    "trial_answers",
    "trial_wav",
    "pass_threshold",
    "score_trials",
    "trial_samples",
    "volume_calibration_wav",
]

TONE_HZ = 200.0
TONE_S = 1.0
RAMP_S = 0.1
GAP_S = 0.5
N_TRIALS = 6
PASS_THRESHOLD = 5  # of N_TRIALS correct (Woods et al. 2017)

#: The quiet tone's amplitude relative to the reference: -6.02 dB, half the amplitude.
CHANNEL_GAIN_QUIET = 0.5

#: RMS of the reference tone in each channel (its steady part), in dB relative to full scale
#: (a full-scale sine has an RMS of -3.01 dBFS). Near the level of clips normalised to
#: -26 LUFS (``synthesis.engine.audio``), so the volume a listener sets here suits the clips;
#: the quiet tone sits 6 dB lower, still far above the 16-bit noise floor.
REFERENCE_RMS_DBFS = -26.0

CALIBRATION_S = 3.0

_ROLES = ("reference", "quiet", "antiphase")


def make_trial(seed: int, sample_rate: int = 44100) -> tuple[bytes, int]:
    """One trial: WAV bytes (16-bit PCM, stereo) and the right answer, 1, 2 or 3.

    The answer is the position of the quiet tone; the order of the three tones is drawn from
    ``seed`` (each of the six orders equally likely).
    """
    order = _order(seed)
    return arrangement_wav(order, sample_rate), order.index("quiet") + 1


def make_trials(seed: int, n: int = N_TRIALS, sample_rate: int = 44100) -> list[tuple[bytes, int]]:
    """``n`` trials; trial ``i`` uses a stable hash of (``seed``, ``i``) as its seed."""
    _check_n(n)
    return [make_trial(_trial_seed(seed, i), sample_rate) for i in range(n)]


def trial_answers(seed: int, n: int = N_TRIALS) -> list[int]:
    """The right answers of :func:`make_trials` (``seed``, ``n``), without building a sound."""
    _check_n(n)
    return [_order(_trial_seed(seed, i)).index("quiet") + 1 for i in range(n)]


def trial_wav(seed: int, index: int, sample_rate: int = 44100) -> bytes:
    """The WAV bytes of trial ``index`` of :func:`make_trials` (``seed``), from the cache."""
    return arrangement_wav(_order(_trial_seed(seed, index)), sample_rate)


# Six orders for each sample rate in use (one or two in practice).
@functools.lru_cache(maxsize=24)
def arrangement_wav(order: tuple[str, ...], sample_rate: int = 44100) -> bytes:
    """The WAV of a trial whose tones come in ``order`` (a permutation of the three roles).

    Cached: six orders per sample rate, about 0.7 MB each at 44.1 kHz, built once per process
    instead of once per request (building one takes tens of milliseconds of CPU)."""
    if sorted(order) != sorted(_ROLES):
        raise ValueError(f"order is {order!r}: give each of {_ROLES!r} once.")
    return _wav_bytes(_samples(order, sample_rate), sample_rate)


def trial_samples(seed: int, sample_rate: int = 44100) -> tuple[np.ndarray, int]:
    """The float samples of a trial before 16-bit encoding, and the answer.

    Returns:
        (samples, 2) float64 in [-1, 1] (left, right), and the 1-based position of the quiet
        tone.
    """
    order = _order(seed)
    return _samples(order, sample_rate), order.index("quiet") + 1


def _order(seed: int) -> tuple[str, ...]:
    order = list(_ROLES)
    random.Random(seed).shuffle(order)
    return tuple(order)


def _samples(order: tuple[str, ...], sample_rate: int) -> np.ndarray:
    _check_rate(sample_rate)
    tone = _ramped_tone(sample_rate, TONE_S)
    gap = np.zeros((round(GAP_S * sample_rate), 2))
    parts = []
    for k, role in enumerate(order):
        if k:
            parts.append(gap)
        if role == "reference":
            parts.append(np.stack([tone, tone], axis=1))
        elif role == "quiet":
            parts.append(np.stack([tone, tone], axis=1) * CHANNEL_GAIN_QUIET)
        else:  # anti-phase: the right channel is the left one inverted
            parts.append(np.stack([tone, -tone], axis=1))
    return np.concatenate(parts)


@functools.lru_cache(maxsize=4)
def volume_calibration_wav(sample_rate: int = 44100) -> bytes:
    """The volume-setting sound played before the trials (16-bit PCM stereo WAV).

    A 3 s, 200 Hz tone in phase in both channels at exactly the reference tone's level, with
    the same ramps. Listeners set a comfortable volume on it, so the loud tones of the test are
    comfortable and the quiet one clearly audible. A broadband calibration noise of the same
    RMS would sound much louder than a 200 Hz tone (equal-loudness contours, ISO 226), leaving
    the test tones faint after a listener turns the noise down; a tone at the test's frequency
    and level avoids that mismatch. Built once per process and sample rate (cached).
    """
    _check_rate(sample_rate)
    tone = _ramped_tone(sample_rate, CALIBRATION_S)
    return _wav_bytes(np.stack([tone, tone], axis=1), sample_rate)


def pass_threshold(n_trials: int) -> int:
    """Correct answers needed to pass: 5 of 6 (Woods et al. 2017), the same share otherwise."""
    return math.ceil(n_trials * PASS_THRESHOLD / N_TRIALS)


def score_trials(answers: list[int], correct: list[int]) -> tuple[int, bool]:
    """Number of correct answers and whether the listener passed (5 of 6).

    An answer that is not 1, 2 or 3 (a skipped trial) counts as wrong.
    """
    if len(answers) != len(correct):
        raise ValueError(
            f"Got {len(answers)} answers for {len(correct)} trials: answer every trial once."
        )
    if not correct:
        raise ValueError("No trials to score: a headphone check has at least one trial.")
    n_correct = sum(1 for a, c in zip(answers, correct) if a == c and a in (1, 2, 3))
    return n_correct, n_correct >= pass_threshold(len(correct))


def _ramped_tone(sample_rate: int, duration_s: float) -> np.ndarray:
    """A 200 Hz sine at the reference level with raised-cosine onset and offset ramps.

    Returns:
        (samples,) float64.
    """
    n = round(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    amplitude = math.sqrt(2.0) * 10 ** (REFERENCE_RMS_DBFS / 20)  # RMS -> sine peak
    tone = amplitude * np.sin(2 * np.pi * TONE_HZ * t)
    n_ramp = round(RAMP_S * sample_rate)
    # Raised cosine from 0 to 1 over the ramp; avoids the clicks of a hard onset.
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_ramp) / n_ramp)
    tone[:n_ramp] *= ramp
    tone[n - n_ramp :] *= ramp[::-1]
    return tone


def _wav_bytes(stereo: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, stereo, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _trial_seed(seed: int, i: int) -> int:
    # blake2b rather than hash(): the same on every machine and Python version.
    digest = hashlib.blake2b(f"{int(seed)}:headphones:{i}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"n is {n}: a headphone check needs at least one trial (6 is usual).")


def _check_rate(sample_rate: int) -> None:
    if sample_rate < 2000:
        raise ValueError(
            f"sample_rate is {sample_rate} Hz: a 200 Hz tone needs a few thousand samples per "
            "second; use 44100 or 48000."
        )
