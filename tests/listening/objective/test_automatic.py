"""DistillMOS: clean speech is rated above MNRU-degraded copies of it; any rate and level."""

from __future__ import annotations

import numpy as np
import pytest

from listening.objective.automatic import DISTILLMOS_RATE, distillmos
from synthesis.engine.audio import resample
from synthesis.engine.espeak import EspeakEngine
from synthesis.engine.mnru import mnru
from synthesis.engine.piper import PiperSynthesizer, bundled_voice, load_piper
from synthesis.engine.protocol import SynthesisRequest

SENTENCES = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."


@pytest.fixture(scope="module")
def piper_speech() -> tuple[np.ndarray, int]:
    voice = PiperSynthesizer(load_piper(*bundled_voice()), device="cpu")
    (result,) = voice.synthesize([SynthesisRequest(SENTENCES, seed=1)])
    return result.samples * 0.5, result.sample_rate


@pytest.fixture(scope="module")
def scores(piper_speech):
    samples, rate = piper_speech
    return {
        "clean": distillmos(samples, rate),
        **{q: distillmos(mnru(samples, rate, q, seed=1), rate) for q in (25.0, 15.0, 5.0)},
    }


def test_clean_speech_is_rated_above_every_mnru_copy(scores):
    assert all(scores["clean"] > scores[q] for q in (25.0, 15.0, 5.0))


def test_more_noise_rates_lower(scores):
    assert scores[25.0] > scores[15.0] > scores[5.0]


def test_estimates_lie_on_the_mos_scale(scores):
    assert all(1.0 <= value <= 5.0 for value in scores.values())
    assert scores["clean"] > 3.0  # a trained neural voice
    assert scores[5.0] < 2.5  # Q = 5 dB is P.810's worst anchor


def test_the_neural_voice_is_rated_above_formant_synthesis(scores):
    engine = EspeakEngine()
    espeak = distillmos(engine.synthesize(SENTENCES), engine.sample_rate)
    assert scores["clean"] > espeak


def test_the_level_does_not_matter(piper_speech):
    samples, rate = piper_speech
    assert distillmos(samples, rate) == pytest.approx(distillmos(samples * 0.1, rate), abs=0.02)


def test_other_rates_are_resampled_to_16_khz(piper_speech):
    samples, rate = piper_speech
    at_16k = resample(samples, rate, DISTILLMOS_RATE)
    assert distillmos(at_16k, DISTILLMOS_RATE) == pytest.approx(distillmos(samples, rate))
    stereo = np.stack([samples, samples], axis=1)
    assert distillmos(stereo, rate) == pytest.approx(distillmos(samples, rate), abs=1e-4)


def test_an_empty_clip_is_refused():
    with pytest.raises(ValueError, match="empty"):
        distillmos(np.zeros(0, dtype=np.float32), 16000)
