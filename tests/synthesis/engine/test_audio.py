"""Tests for synthesis.engine.audio on real signals: numpy tones and eSpeak NG speech."""

import io
import math

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from synthesis.engine.audio import (
    ProcessedAudio,
    SilentAudioError,
    UnreadableAudioError,
    decode_audio,
    detect_clipping,
    encode_flac,
    measure_loudness,
    measured,
    normalize_loudness,
    postprocess,
    resample,
    to_mono,
    trim_silence,
    write_flac,
)
from synthesis.engine.espeak import EspeakEngine
from tests.factories import audio_bytes, flac_declaring

SR = 22050


def tone(freq: float, seconds: float, amplitude: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return EspeakEngine().synthesize("The birch canoe slid on the smooth planks.")


# --- small pieces -----------------------------------------------------------------------------


def test_to_mono_averages_channels_in_either_layout():
    left = tone(440, 0.1, 0.5)
    right = np.zeros_like(left)
    channels_last = np.stack([left, right], axis=1)
    assert np.allclose(to_mono(channels_last), left / 2)
    assert np.allclose(to_mono(channels_last.T), left / 2)


def test_to_mono_scales_integer_pcm_to_full_scale():
    pcm = np.array([0, 16384, -32768], dtype=np.int16)
    assert to_mono(pcm).tolist() == [0.0, 0.5, -1.0]


def test_trim_silence_cuts_the_ends_and_keeps_a_pad():
    sound = tone(300, 0.5, 0.5)
    clip = np.concatenate([np.zeros(SR), sound, np.zeros(SR)])
    trimmed = trim_silence(clip, SR, pad_s=0.05)
    pad = int(0.05 * SR)
    # The sine starts at a zero crossing, so the first loud sample is a few samples in.
    assert abs(trimmed.size - (sound.size + 2 * pad)) < 20
    assert np.max(np.abs(trimmed[: pad - 20])) == 0.0
    assert np.max(np.abs(trimmed)) == pytest.approx(0.5, abs=1e-3)


def test_trim_silence_keeps_quiet_pauses_inside():
    clip = np.concatenate([tone(300, 0.3, 0.5), np.zeros(SR // 2), tone(300, 0.3, 0.5)])
    assert trim_silence(clip, SR).size >= clip.size - 2 * int(0.05 * SR)


def test_trim_silence_of_silence_is_empty():
    assert trim_silence(np.zeros(1000, dtype=np.float32), SR).size == 0


def test_clean_sine_is_not_clipped():
    assert not detect_clipping(tone(440, 1.0, 0.9))


def test_flattened_peaks_are_clipping():
    assert detect_clipping(np.clip(tone(440, 1.0, 2.0), -1.0, 1.0))


def test_a_lone_full_scale_sample_is_not_clipping():
    clip = tone(440, 0.5, 0.3)
    clip[100] = 1.0
    clip[300] = -1.0
    assert not detect_clipping(clip)


# --- loudness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("amplitude", [1.0, 0.1, 0.01])
def test_loudness_of_a_997_hz_sine_follows_bs1770(amplitude):
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS.
    expected = -3.01 + 20 * math.log10(amplitude)
    assert measure_loudness(tone(997, 3.0, amplitude, 48000), 48000) == pytest.approx(
        expected, abs=0.1
    )


def test_loudness_of_a_clip_shorter_than_a_gating_block_is_measured():
    short = tone(997, 0.2, 0.1, 48000)
    assert measure_loudness(short, 48000) == pytest.approx(-23.01, abs=0.3)


_NOISE = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([8000, 16000, 22050, 44100, 48000]), st.floats(0.005, 1.0))
def test_loudness_of_a_clip_of_any_length_is_measured(sample_rate, seconds):
    # White noise at -20 dBFS RMS reads about -17 LUFS (K-weighting lifts the highs), whether
    # the clip is longer or shorter than one 400 ms gating block.
    clip = _NOISE[: int(seconds * sample_rate)]
    assert -22.0 < measure_loudness(clip, sample_rate) < -15.0


def test_loudness_of_silence_is_minus_infinity():
    assert measure_loudness(np.zeros(SR, dtype=np.float32), SR) == -math.inf
    assert measure_loudness(np.zeros(0, dtype=np.float32), SR) == -math.inf


def test_normalize_loudness_reaches_the_target(speech):
    out = normalize_loudness(speech, SR, target_lufs=-26.0)
    assert measure_loudness(out, SR) == pytest.approx(-26.0, abs=0.05)


def test_normalize_loudness_stops_at_the_peak_ceiling():
    # Sparse clicks: high peaks, little energy; reaching -10 LUFS would need gain past 0 dBFS.
    clicks = np.zeros(SR * 2, dtype=np.float32)
    clicks[:: SR // 10] = 0.5
    out = normalize_loudness(clicks, SR, target_lufs=-10.0, peak_ceiling_dbfs=-1.0)
    assert 20 * np.log10(np.max(np.abs(out))) == pytest.approx(-1.0, abs=1e-3)
    assert measure_loudness(out, SR) < -10.0 - 1.0


def test_normalize_loudness_refuses_silence():
    with pytest.raises(SilentAudioError):
        normalize_loudness(np.zeros(SR, dtype=np.float32), SR)


# --- resampling -------------------------------------------------------------------------------


def _level_at(samples: np.ndarray, sr: int, freq: float) -> float:
    window = np.hanning(samples.size)
    spectrum = np.abs(np.fft.rfft(samples * window)) / (window.sum() / 2)
    freqs = np.fft.rfftfreq(samples.size, 1 / sr)
    return float(spectrum[np.argmin(np.abs(freqs - freq))])


def test_resample_keeps_an_in_band_tone():
    out = resample(tone(1000, 1.0, 0.5), SR, 16000)
    assert out.dtype == np.float32
    assert out.size == 16000
    assert _level_at(out, 16000, 1000) == pytest.approx(0.5, rel=0.02)


def test_resample_removes_content_above_the_new_nyquist():
    # 9 kHz cannot exist at 16 kHz; without filtering it would alias to 7 kHz.
    out = resample(tone(9000, 1.0, 0.5), SR, 16000)
    assert np.sqrt(np.mean(out[1000:-1000] ** 2)) < 0.5 * 10 ** (-70 / 20)


def test_resample_to_the_same_rate_is_a_copy():
    clip = tone(440, 0.1, 0.5)
    out = resample(clip, SR, SR)
    assert np.array_equal(out, clip) and out is not clip


# --- postprocess ------------------------------------------------------------------------------


def test_postprocess_trims_resamples_and_normalises_speech(speech):
    padded = np.concatenate([np.zeros(SR), speech * 0.2, np.zeros(SR)])
    result = postprocess(padded, SR, target_lufs=-26.0, target_sample_rate=16000)
    assert isinstance(result, ProcessedAudio)
    assert result.sample_rate == 16000
    assert result.samples.dtype == np.float32 and result.samples.ndim == 1
    assert result.duration_s == pytest.approx(result.samples.size / 16000)
    assert result.duration_s < padded.size / SR - 1.5  # most of the 2 s of silence is gone
    assert result.loudness_lufs == pytest.approx(-26.0, abs=0.05)
    assert result.loudness_lufs == pytest.approx(measure_loudness(result.samples, 16000))
    assert result.peak_dbfs <= -1.0 + 1e-6
    assert result.clipped is False


def test_postprocess_without_trim_keeps_the_length(speech):
    result = postprocess(speech, SR, trim=False)
    assert result.samples.size == speech.size


def test_postprocess_flags_clipped_input(speech):
    overdriven = np.clip(speech * 8.0, -1.0, 1.0)
    assert postprocess(overdriven, SR).clipped is True


def test_postprocess_flags_clipping_in_one_channel_of_stereo(speech):
    stereo = np.stack([np.clip(speech * 8.0, -1.0, 1.0), speech * 0.1], axis=1)
    assert postprocess(stereo, SR).clipped is True


def test_postprocess_reports_true_loudness_when_the_ceiling_wins():
    clicks = np.zeros(SR * 2, dtype=np.float32)
    clicks[:: SR // 10] = 0.5
    result = postprocess(clicks, SR, target_lufs=-10.0, trim=False)
    assert result.loudness_lufs < -11.0
    assert result.peak_dbfs == pytest.approx(-1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("clip", "cause"),
    [(np.zeros(0, dtype=np.float32), "empty"), (np.zeros(SR, dtype=np.float32), "silent")],
)
def test_postprocess_refuses_silence_naming_the_cause(clip, cause):
    with pytest.raises(SilentAudioError, match=cause):
        postprocess(clip, SR)


def test_measured_gives_a_stored_clip_the_figures_postprocess_gives(speech):
    processed = postprocess(speech, SR)
    again = measured(processed.samples, processed.sample_rate, clipped=processed.clipped)
    assert again.duration_s == pytest.approx(processed.duration_s)
    assert again.loudness_lufs == pytest.approx(processed.loudness_lufs)
    assert again.peak_dbfs == pytest.approx(processed.peak_dbfs)
    assert np.array_equal(again.samples, processed.samples)


def test_measured_detects_clipping_on_its_samples_unless_told(speech):
    flat = np.clip(speech * 4.0, -1.0, 1.0)
    assert measured(flat, SR).clipped
    assert not measured(flat, SR, clipped=False).clipped
    assert not measured(speech, SR).clipped


def test_measured_reads_any_layout_as_mono_and_silence_as_minus_infinity(speech):
    stereo = measured(np.stack([speech, speech], axis=1), SR)
    assert stereo.samples.shape == speech.shape
    assert stereo.duration_s == pytest.approx(speech.size / SR)
    assert measured(np.zeros(SR, dtype=np.float32), SR).peak_dbfs == -math.inf


def test_postprocess_refuses_nan():
    clip = tone(440, 0.5, 0.5)
    clip[10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        postprocess(clip, SR)


# --- files ------------------------------------------------------------------------------------


def test_write_flac_writes_16_bit_flac_that_reads_back(tmp_path, speech):
    path = tmp_path / "clip.flac"
    write_flac(path, speech, SR)
    info = soundfile.info(str(path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", SR, 1)
    back, rate = soundfile.read(str(path), dtype="float32")
    assert rate == SR
    assert np.max(np.abs(back - speech)) <= 1.0 / 32768 + 1e-6
    assert [p.name for p in tmp_path.iterdir()] == ["clip.flac"]


def test_write_flac_replaces_an_existing_file(tmp_path):
    path = tmp_path / "clip.flac"
    write_flac(path, tone(440, 0.5, 0.5), SR)
    write_flac(path, tone(880, 0.25, 0.5), SR)
    assert soundfile.info(str(path)).frames == int(0.25 * SR)
    assert len(list(tmp_path.iterdir())) == 1


def test_write_flac_that_fails_leaves_the_old_file(tmp_path):
    path = tmp_path / "clip.flac"
    write_flac(path, tone(440, 0.5, 0.5), SR)
    with pytest.raises(Exception):  # noqa: B017 - libsndfile rejects a zero sample rate
        write_flac(path, tone(880, 0.25, 0.5), 0)
    assert soundfile.info(str(path)).frames == int(0.5 * SR)
    assert len(list(tmp_path.iterdir())) == 1


def test_write_flac_clips_out_of_range_samples_instead_of_wrapping(tmp_path):
    path = tmp_path / "loud.flac"
    write_flac(path, np.array([0.5, 1.7, -2.0, 0.0], dtype=np.float32), SR)
    back, _ = soundfile.read(str(path), dtype="float32")
    assert back[1] > 0.99 and back[2] == -1.0


def test_encode_flac_gives_flac_bytes_that_decode(speech):
    data = encode_flac(speech, SR)
    assert data[:4] == b"fLaC"
    samples, rate = decode_audio(data, "clip.flac")
    assert rate == SR and samples.size == speech.size


# --- decoding uploads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_format", "subtype", "name"),
    [
        ("WAV", "PCM_16", "take.wav"),
        ("FLAC", "PCM_24", "take.flac"),
        ("OGG", "VORBIS", "take.ogg"),
        ("MP3", "MPEG_LAYER_III", "take.mp3"),
    ],
)
def test_decode_audio_reads_common_upload_formats(file_format, subtype, name, speech):
    stereo = np.stack([speech, speech], axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, stereo, SR, format=file_format, subtype=subtype)
    samples, rate = decode_audio(buffer.getvalue(), name)
    assert rate == SR
    assert samples.dtype == np.float32 and samples.ndim == 1
    # Lossy codecs add delay and padding; the length stays within 0.1 s.
    assert abs(samples.size - speech.size) < 0.1 * SR
    # And it is still the same speech: its loudness survives the round trip.
    assert measure_loudness(samples, rate) == pytest.approx(measure_loudness(speech, SR), abs=1.0)


def test_decode_audio_does_not_trust_the_extension(speech):
    buffer = io.BytesIO()
    soundfile.write(buffer, speech, SR, format="FLAC")
    samples, rate = decode_audio(buffer.getvalue(), "mislabelled.wav")
    assert rate == SR and samples.size == speech.size


def test_decode_audio_names_the_file_when_it_cannot_read_it():
    with pytest.raises(UnreadableAudioError, match="notes.wav") as caught:
        decode_audio(b"this is a text file, not audio" * 10, "notes.wav")
    assert "not recognised" in str(caught.value)


def test_decode_audio_refuses_empty_uploads():
    with pytest.raises(UnreadableAudioError, match="empty"):
        decode_audio(b"", "nothing.wav")


LIMITS = {"max_seconds": 60, "max_sample_rate": 192000, "max_channels": 8}


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (flac_declaring(30 * 60 * 16000, 16000), "declares 1800 s of audio"),
        (flac_declaring((1 << 36) - 1, 16000), "of at most 60 s"),
        (flac_declaring(60 * 655350, 655350, channels=8), "655350 Hz; the limit is 192000"),
        (
            audio_bytes(np.full((800, 16), 0.1, dtype=np.float32), 16000, "WAV"),
            "16 channels; the limit is 8",
        ),
    ],
    ids=["30-min", "2^36-frames", "655350-Hz", "16-channels"],
)
def test_decode_audio_refuses_from_the_header_before_decoding(data, refusal):
    assert len(data) < 100_000  # a few KB that would decode to gigabytes
    with pytest.raises(UnreadableAudioError, match=refusal):
        decode_audio(data, "hostile.flac", **LIMITS)


def test_decode_audio_refuses_a_file_cut_short_of_its_header():
    with pytest.raises(UnreadableAudioError, match="is cut short"):
        decode_audio(flac_declaring(16000 * 10, 16000), "short.flac", **LIMITS)


def test_decode_audio_reads_a_file_object_block_by_block(speech):
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([speech, -speech * 0.5], axis=1), SR, format="WAV")
    buffer.seek(0)
    samples, rate = decode_audio(buffer, "take.wav", **LIMITS)
    assert rate == SR
    np.testing.assert_allclose(samples, 0.25 * speech, atol=1e-4)  # channels averaged


@pytest.mark.parametrize(("orig", "target"), [(44100, 16000), (22050, 48000), (16000, 22050)])
def test_chunked_resampling_equals_one_pass(orig, target):
    rng = np.random.default_rng(7)
    samples = rng.standard_normal(orig * 3 + 17).astype(np.float32) * 0.1
    whole = resample(samples, orig, target, chunk=10**9)
    chunked = resample(samples, orig, target, chunk=5000)
    assert chunked.shape == whole.shape == (math.ceil(samples.size * target / orig),)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
