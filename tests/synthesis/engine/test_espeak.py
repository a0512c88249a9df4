"""Tests for synthesis.engine.espeak: the real eSpeak NG library from espeakng-loader."""

import threading

import numpy as np
import pytest

from synthesis.engine.espeak import EspeakEngine, list_voices

SENTENCE = "The birch canoe slid on the smooth planks."  # 8 words, Harvard sentence 1


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine()


def test_sample_rate_comes_from_the_library(engine):
    assert engine.sample_rate == 22050


def test_it_speaks_a_sentence_for_a_plausible_duration(engine):
    samples = engine.synthesize("Please call Stella and ask her to bring these.")  # 9 words
    assert samples.dtype == np.float32 and samples.ndim == 1
    duration = samples.size / engine.sample_rate
    assert 1.0 < duration < 6.0
    assert np.max(np.abs(samples)) <= 1.0


def test_the_sound_has_speech_energy_in_speech_bands(engine):
    samples = engine.synthesize(SENTENCE).astype(np.float64)
    rms = np.sqrt(np.mean(samples**2))
    assert rms > 0.01  # about -40 dBFS: clearly not silence
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / engine.sample_rate)
    # Voiced speech: most energy between the fundamental and the upper formants.
    assert power[(freqs >= 80) & (freqs <= 4000)].sum() / power.sum() > 0.7
    # And not a tone: energy spread over many frequencies, including fricative range.
    assert power[(freqs >= 4000) & (freqs <= 10000)].sum() / power.sum() > 0.001


def test_the_sound_has_syllable_rhythm(engine):
    # Speech energy rises and falls at syllable rate: frame levels vary by tens of dB.
    samples = engine.synthesize(SENTENCE)
    frame = engine.sample_rate // 100
    frames = samples[: samples.size // frame * frame].reshape(-1, frame)
    levels = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    assert np.percentile(levels, 90) - np.percentile(levels, 10) > 20


def test_same_text_gives_the_same_samples_whatever_came_before(engine):
    first = engine.synthesize(SENTENCE)
    engine.synthesize("Something entirely different, with other words and rhythm.")
    second = engine.synthesize(SENTENCE)
    assert np.array_equal(first, second)
    assert np.array_equal(EspeakEngine().synthesize(SENTENCE), first)


def test_different_text_gives_different_sound(engine):
    assert not np.array_equal(engine.synthesize("Yes."), engine.synthesize("No."))


def test_a_faster_rate_gives_shorter_speech():
    slow = EspeakEngine(rate_wpm=120).synthesize(SENTENCE)
    fast = EspeakEngine(rate_wpm=300).synthesize(SENTENCE)
    assert fast.size < 0.7 * slow.size


def test_voices_differ():
    us = EspeakEngine(voice="en-us").synthesize(SENTENCE)
    british = EspeakEngine(voice="en-gb-x-rp").synthesize(SENTENCE)
    assert not np.array_equal(us, british)


def test_unknown_voice_is_refused_with_the_english_voices():
    with pytest.raises(ValueError) as caught:
        EspeakEngine(voice="klingon-xx")
    message = str(caught.value)
    assert "'klingon-xx'" in message and "en-us" in message and "list_voices" in message


def test_rate_out_of_range_is_refused():
    with pytest.raises(ValueError, match="80 and 450"):
        EspeakEngine(rate_wpm=20)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_refused(engine, text):
    with pytest.raises(ValueError, match="empty"):
        engine.synthesize(text)


def test_list_voices_names_work_as_voices():
    english = list_voices("en")
    assert "en-us" in english and "en-gb-x-rp" in english
    assert all(name.startswith("en") for name in english)
    everything = list_voices()
    assert set(english) < set(everything) and {"fr", "de"} <= set(everything)
    for name in english:
        EspeakEngine(voice=name)  # raises if eSpeak NG does not accept the name


def test_concurrent_use_from_threads_is_serialised(engine):
    expected = {text: engine.synthesize(text) for text in ("One two three.", "Four five six.")}
    results: dict[int, tuple[str, np.ndarray]] = {}

    def speak(index: int, text: str) -> None:
        results[index] = (text, EspeakEngine().synthesize(text))

    threads = [
        threading.Thread(target=speak, args=(i, text))
        for i, text in enumerate(["One two three.", "Four five six."] * 4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    for text, samples in results.values():
        assert np.array_equal(samples, expected[text])
