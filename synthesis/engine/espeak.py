"""eSpeak NG through ctypes: the classic formant-synthesis baseline, needing no model weights.

Where it sits: a study's "espeak" system calls ``EspeakEngine(voice).synthesize(text)`` for each
sentence (through ``EspeakSynthesizer``, the interface every engine offers the worker); the
waveform then goes through ``audio.postprocess`` like any other system's. The
library and its voice data come from the ``espeakng-loader`` wheel, so no system eSpeak is used.

Determinism. eSpeak NG keeps synthesis state in C statics that survive from one utterance to
the next and even across ``espeak_Terminate``/``espeak_Initialize``: the pitch-flutter phase
(``Flutter_ix`` in wavegen.c), the automatic gain control and the roughness cycle counter. The
same sentence therefore comes out a few samples different depending on what was said before.
For reproducible stimuli every synthesis loads the shared library afresh (``dlopen``),
initialises it, speaks, terminates and unloads it (``dlclose``), which resets those statics.
That costs about 5 ms per call. It relies on nothing else in the process holding
libespeak-ng open (a second holder keeps the statics alive); the tests check determinism.

Thread safety. The library is process-global and not thread-safe; one module-level lock
serialises every use of it. Nothing is loaded at import time.
"""

from __future__ import annotations

import _ctypes
import ctypes
import resource
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import espeakng_loader
import numpy as np

from .protocol import SynthesisRequest, SynthesisResult

__all__ = ["EspeakEngine", "EspeakError", "EspeakSynthesizer", "list_voices"]

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error code instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_ESPEAK_RATE = 1
_RATE_MIN, _RATE_MAX = 80, 450  # espeakRATE_MINIMUM / espeakRATE_MAXIMUM

_LOCK = threading.Lock()

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Voice(ctypes.Structure):
    # espeak_VOICE from speak_lib.h. ``languages`` is a run of (priority byte, NUL-terminated
    # name) pairs ending with a zero byte, so it is read by hand rather than as c_char_p.
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class EspeakError(RuntimeError):
    """The eSpeak NG library failed (a broken install, not a user mistake)."""


class _Session:
    """One loaded-and-initialised copy of libespeak-ng; use only under ``_LOCK``."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_Terminate.restype = ctypes.c_int
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            self.unload(terminate=False)
            raise EspeakError(
                f"espeak_Initialize failed ({self.sample_rate}) with data at {data_path!r}; "
                "reinstall espeakng-loader."
            )
        # Keep the ctypes callback object referenced for as long as the library may call it.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count: int, events) -> int:
        # Called from inside espeak_Synth on this thread; count == 0 marks the end.
        if count > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0 = continue synthesis

    def set_voice(self, voice: str) -> bool:
        return self.lib.espeak_SetVoiceByName(voice.encode()) == _EE_OK

    def speak(self, text: str, rate_wpm: int) -> np.ndarray:
        self.lib.espeak_SetParameter(_ESPEAK_RATE, rate_wpm, 0)
        data = text.encode("utf-8")
        self.chunks = []
        buffer = ctypes.create_string_buffer(data)  # NUL-terminated copy
        status = self.lib.espeak_Synth(
            buffer, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        if status != _EE_OK:
            raise EspeakError(f"espeak_Synth failed with status {status}")
        self.lib.espeak_Synchronize()
        if not self.chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self.chunks)

    def voices(self) -> list[tuple[str, str, list[str]]]:
        """(identifier, name, languages) for every installed voice."""
        found = []
        table = self.lib.espeak_ListVoices(None)
        index = 0
        while table[index]:
            voice = table[index].contents
            languages = []
            address = voice.languages
            while address and ctypes.c_ubyte.from_address(address).value != 0:
                name = ctypes.string_at(address + 1)
                languages.append(name.decode())
                address += 2 + len(name)
            found.append((voice.identifier.decode(), voice.name.decode(), languages))
            index += 1
        return found

    def unload(self, terminate: bool = True) -> None:
        if terminate:
            self.lib.espeak_Terminate()
        # Drop the mapping so the next dlopen starts from the library's pristine static data.
        # (POSIX only; where dlclose is missing the library stays loaded and output may vary.)
        dlclose = getattr(_ctypes, "dlclose", None)
        if dlclose is not None:
            dlclose(self.lib._handle)
        self.lib = None


@contextmanager
def _session() -> Iterator[_Session]:
    with _LOCK:
        session = _Session()
        try:
            yield session
        finally:
            session.unload()


def _voice_details() -> list[tuple[str, str, list[str]]]:
    with _session() as session:
        return session.voices()


def list_voices(language_prefix: str = "") -> list[str]:
    """Names ``EspeakEngine(voice=...)`` accepts, e.g. ``"en-us"``, ``"en-gb-x-rp"``, ``"fr"``.

    Each is the lower-cased file name of an installed voice (eSpeak NG's ``en`` is British
    English). ``language_prefix`` filters on the languages a voice speaks (``"en"`` gives the
    English voices). Variants can be appended to any name: ``"en-us+f3"``.
    """
    prefix = language_prefix.lower()
    names = {
        identifier.rsplit("/", 1)[-1].lower()
        for identifier, _, languages in _voice_details()
        if not prefix or any(language.startswith(prefix) for language in languages)
    }
    return sorted(names)


class EspeakEngine:
    """Synthesise English (or any eSpeak NG language) with a fixed voice and speaking rate.

    ``voice``: a name from ``list_voices()`` (default ``"en-us"``), optionally with a variant
    (``"en-us+f3"``). ``rate_wpm``: words per minute, 80..450 (eSpeak's default is 175).
    """

    def __init__(self, voice: str = "en-us", rate_wpm: int = 165) -> None:
        if not _RATE_MIN <= int(rate_wpm) <= _RATE_MAX:
            raise ValueError(
                f"rate_wpm must be between {_RATE_MIN} and {_RATE_MAX} words per minute, "
                f"got {rate_wpm}."
            )
        self.voice = voice
        self.rate_wpm = int(rate_wpm)
        with _session() as session:
            if not voice or not session.set_voice(voice):
                english = sorted(
                    identifier.rsplit("/", 1)[-1].lower()
                    for identifier, _, languages in session.voices()
                    if any(language.startswith("en") for language in languages)
                )
                raise ValueError(
                    f"Unknown eSpeak NG voice {voice!r}. English voices: {', '.join(english)}; "
                    "call synthesis.engine.espeak.list_voices() for every language."
                )
            self._sample_rate = session.sample_rate

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz (22050 for the bundled eSpeak NG)."""
        return self._sample_rate

    def synthesize(self, text: str) -> np.ndarray:
        """Speak ``text``; float32 mono samples in [-1, 1], shape (n,), at ``sample_rate``.

        The same text, voice and rate always give the same samples.
        """
        if not text or not text.strip():
            raise ValueError("Nothing to synthesise: the text is empty.")
        if "\x00" in text:
            raise ValueError("The text contains a NUL character; remove it.")
        with _session() as session:
            if not session.set_voice(self.voice):
                raise EspeakError(f"eSpeak NG voice {self.voice!r} disappeared after loading.")
            pcm = session.speak(text, self.rate_wpm)
        if pcm.size == 0:
            raise ValueError(f"eSpeak NG produced no audio for {text!r}; add pronounceable words.")
        return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


class EspeakSynthesizer:
    """An ``EspeakEngine`` behind the engines' common interface: ``synthesize(requests)``.

    The text goes to eSpeak NG as written (it expands numbers and abbreviations itself). The
    seed is recorded but changes nothing: the same text always gives the same samples.
    ``peak_memory_bytes`` is the process's resident-set high-water mark.
    """

    device = "cpu"

    def __init__(self, engine: EspeakEngine) -> None:
        self.engine = engine
        self.peak_memory_bytes = 0

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate

    @property
    def settings(self) -> dict[str, object]:
        return {"engine": "espeak", "voice": self.engine.voice, "rate_wpm": self.engine.rate_wpm}

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[SynthesisResult]:
        results = []
        for request in requests:
            started = time.perf_counter()
            error = None
            try:
                samples = self.engine.synthesize(request.text)
            except ValueError as problem:  # empty text, NUL, nothing pronounceable
                samples, error = np.zeros(0, dtype=np.float32), str(problem)
            results.append(
                SynthesisResult(
                    key=request.key,
                    samples=samples,
                    sample_rate=self.sample_rate,
                    mel_frames=0,
                    seconds=time.perf_counter() - started,
                    device=self.device,
                    error=error,
                    seed=request.seed,
                    pieces=0 if error else 1,
                    settings=self.settings,
                )
            )
        self.peak_memory_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return results
