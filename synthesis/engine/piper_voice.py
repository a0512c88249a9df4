"""A Piper voice's ``.onnx.json`` and its text side: checked config, text to phoneme ids.

``piper.py`` runs the ``.onnx`` graph; this module reads and checks the file beside it (sample
rate, phoneme id map, speakers, default scales), refusing a damaged or mismatched one with the
file named and the problem, and turns a normalised piece of text into the phoneme ids the voice
was trained on (Piper's own eSpeak NG phonemiser and data). No onnxruntime here.
"""

from __future__ import annotations

import json
import math
import os
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .text import (
    EmptyTextError,
    UnsupportedCharactersError,
    describe_characters,
    length_problems,
    normalize_text,
    unsupported_word_characters,
)

__all__ = [
    "PiperVoiceConfig",
    "PiperVoiceError",
    "phoneme_ids",
    "piper_text_problems",
    "read_piper_config",
]

# Piper's special phoneme ids: padding between phonemes, beginning and end of an utterance.
PAD, BOS, EOS = "_", "^", "$"
_PHONEME_TYPES = ("espeak", "text")


class PiperVoiceError(ValueError):
    """A Piper voice's files cannot be used; the message names the file and the problem."""


# --- The .onnx.json ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PiperVoiceConfig:
    """What Harken reads from a voice's ``.onnx.json`` (Piper's own field names in comments)."""

    path: str
    sample_rate: int  # audio.sample_rate
    phoneme_id_map: Mapping[str, tuple[int, ...]]  # phoneme_id_map
    num_symbols: int  # num_symbols
    num_speakers: int  # num_speakers
    speaker_id_map: Mapping[str, int]  # speaker_id_map
    phoneme_type: str  # phoneme_type: "espeak" (or "text": code points)
    espeak_voice: str  # espeak.voice
    noise_scale: float  # inference.noise_scale
    length_scale: float  # inference.length_scale
    noise_w: float  # inference.noise_w
    hop_length: int = 256  # hop_length
    language: str = ""  # language.code


def _config_error(path: str, problem: str) -> PiperVoiceError:
    return PiperVoiceError(
        f"{path}: {problem}. A Piper voice's .onnx.json comes with its .onnx; download both "
        "from the same release (or train and export them together)."
    )


def _number(data: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _config_error(path, f"inference.{key} is {value!r}, not a number")
    return float(value)


def read_piper_config(path: str | os.PathLike[str]) -> PiperVoiceConfig:
    """Read and check a voice's ``.onnx.json``; raises ``PiperVoiceError`` naming the problem."""
    name = os.fspath(path)
    try:
        data = json.loads(Path(name).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PiperVoiceError(
            f"{name}: no such file. A Piper voice needs its .onnx.json beside the .onnx "
            "(NAME.onnx.json) or named explicitly."
        ) from error
    except IsADirectoryError as error:
        raise PiperVoiceError(f"{name} is a directory; give the .onnx.json file.") from error
    except UnicodeDecodeError as error:
        raise _config_error(
            name, f"not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error
    except json.JSONDecodeError as error:
        raise _config_error(
            name, f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from error
    if not isinstance(data, dict):
        raise _config_error(name, f"holds a JSON {type(data).__name__}, not an object")

    audio = data.get("audio")
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 96000:
        raise _config_error(name, f"audio.sample_rate is {rate!r}; expected e.g. 22050")

    id_map = data.get("phoneme_id_map")
    if not isinstance(id_map, dict) or not id_map:
        raise _config_error(name, "phoneme_id_map is missing or empty")
    num_symbols = data.get("num_symbols")
    if isinstance(num_symbols, bool) or not isinstance(num_symbols, int) or num_symbols < 1:
        raise _config_error(name, f"num_symbols is {num_symbols!r}, not a positive integer")
    phoneme_ids: dict[str, tuple[int, ...]] = {}
    for phoneme, ids in id_map.items():
        if (
            not isinstance(ids, list)
            or not ids
            or any(isinstance(i, bool) or not isinstance(i, int) for i in ids)
        ):
            raise _config_error(
                name, f"phoneme_id_map[{phoneme!r}] is {ids!r}; expected a list of integers"
            )
        bad = [i for i in ids if not 0 <= i < num_symbols]
        if bad:
            raise _config_error(
                name,
                f"phoneme_id_map[{phoneme!r}] uses id {bad[0]}, outside the num_symbols = "
                f"{num_symbols} the file declares",
            )
        phoneme_ids[phoneme] = tuple(ids)
    missing = [p for p in (PAD, BOS, EOS) if p not in phoneme_ids]
    if missing:
        raise _config_error(
            name, f"phoneme_id_map lacks {', '.join(repr(p) for p in missing)} (pad, start, end)"
        )

    num_speakers = data.get("num_speakers", 1)
    if isinstance(num_speakers, bool) or not isinstance(num_speakers, int) or num_speakers < 1:
        raise _config_error(name, f"num_speakers is {num_speakers!r}, not a positive integer")
    speakers = data.get("speaker_id_map") or {}
    if not isinstance(speakers, dict) or any(
        isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < num_speakers
        for v in speakers.values()
    ):
        raise _config_error(
            name, f"speaker_id_map must map names to ids 0..{num_speakers - 1}, got {speakers!r}"
        )

    phoneme_type = data.get("phoneme_type", "espeak")
    if phoneme_type not in _PHONEME_TYPES:
        raise _config_error(
            name,
            f"phoneme_type {phoneme_type!r} is not supported (Harken phonemises with eSpeak NG: "
            f"{', '.join(_PHONEME_TYPES)})",
        )
    espeak = data.get("espeak")
    espeak_voice = espeak.get("voice") if isinstance(espeak, dict) else None
    if phoneme_type == "espeak" and (not isinstance(espeak_voice, str) or not espeak_voice):
        raise _config_error(name, 'espeak.voice is missing (e.g. "en-us")')

    inference = data.get("inference") or {}
    if not isinstance(inference, dict):
        raise _config_error(name, f"inference is {inference!r}, not an object")
    hop = data.get("hop_length", 256)
    if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
        raise _config_error(name, f"hop_length is {hop!r}, not a positive integer")
    language = data.get("language")
    return PiperVoiceConfig(
        path=name,
        sample_rate=rate,
        phoneme_id_map=phoneme_ids,
        num_symbols=num_symbols,
        num_speakers=num_speakers,
        speaker_id_map=dict(speakers),
        phoneme_type=phoneme_type,
        espeak_voice=espeak_voice or "",
        noise_scale=_number(inference, "noise_scale", name, 0.667),
        length_scale=_number(inference, "length_scale", name, 1.0),
        noise_w=_number(inference, "noise_w", name, 0.8),
        hop_length=hop,
        language=str(language.get("code", "")) if isinstance(language, dict) else "",
    )


# --- Text to phoneme ids ----------------------------------------------------------------------

_PHONEMIZER_LOCK = threading.Lock()
_phonemizer = None


def _espeak_phonemes(voice: str, text: str) -> list[list[str]]:
    """Piper's eSpeak NG phonemiser (its own statically linked copy and data), one list of
    phonemes per sentence. The library is process-global and not thread-safe: one lock."""
    global _phonemizer
    with _PHONEMIZER_LOCK:
        if _phonemizer is None:
            from piper.phonemize_espeak import EspeakPhonemizer

            _phonemizer = EspeakPhonemizer()
        return _phonemizer.phonemize(voice, text)


def piper_text_problems(text: str, max_chars: int = 300) -> list[str]:
    """Human-readable problems with ``text`` for a Piper voice; ``[]`` when it is fine.

    The counterpart of ``text.check_text`` for voices that read words (an upload preview):
    nothing left after normalisation, characters eSpeak NG would read by name or skip,
    ARPAbet in braces, more than ``max_chars`` characters, a word too long to split.
    """
    normalized = normalize_text(text)
    if not normalized:
        return ["The text is empty after normalisation; add words or remove the line."]
    problem = _character_problem(unsupported_word_characters(normalized))
    return ([problem] if problem else []) + length_problems(normalized, max_chars)


def _character_problem(found: list[str]) -> str | None:
    if "{" in found or "}" in found:
        return (
            "ARPAbet in curly braces is read by Tacotron2 voices only; a Piper voice reads "
            "words. Write the word in letters instead."
        )
    if found:
        return (
            f"A Piper voice would read {describe_characters(found)} by name or skip it; "
            "rewrite or remove them (letters, digits and . , ! ? ' ( ) : ; - are fine)."
        )
    return None


def phoneme_ids(config: PiperVoiceConfig, piece: str) -> list[int]:
    """The ids of one normalised piece: ``^ _ p1 _ p2 _ ... $`` as Piper's voices were trained.

    Raises ``UnsupportedCharactersError`` for characters or phonemes the voice cannot say,
    ``EmptyTextError`` when nothing is left.
    """
    found = unsupported_word_characters(piece)
    problem = _character_problem(found)
    if problem:
        raise UnsupportedCharactersError(problem, found)
    if config.phoneme_type == "text":
        sentences = [list(unicodedata.normalize("NFD", piece))]
    else:
        sentences = _espeak_phonemes(config.espeak_voice, piece)
    phonemes: list[str] = []
    for sentence in sentences:
        if phonemes and sentence:
            phonemes.append(" ")
        phonemes.extend(sentence)
    table = config.phoneme_id_map
    unknown = sorted({p for p in phonemes if p not in table})
    if unknown:
        source = (
            f"eSpeak NG ({config.espeak_voice}) makes"
            if config.phoneme_type == "espeak"
            else "the voice reads as characters"
        )
        raise UnsupportedCharactersError(
            f"The voice's phoneme map ({config.path}) lacks the phoneme(s) "
            f"{describe_characters(unknown)} that {source} of {piece!r}; rephrase the text, "
            "or use a voice of this language.",
            unknown,
        )
    if not any(p.strip() for p in phonemes):
        raise EmptyTextError(f"Nothing to synthesise: {piece!r} gives no phonemes; add words.")
    pad = list(table[PAD])
    ids = [*table[BOS], *pad]
    for phoneme in phonemes:
        ids.extend(table[phoneme])
        ids.extend(pad)
    ids.extend(table[EOS])
    return ids
