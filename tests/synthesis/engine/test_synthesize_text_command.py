"""`python manage.py synthesize_text` as a user runs it: a real subprocess, exit codes, files."""

from __future__ import annotations

import subprocess
import sys

import soundfile

from tests.conftest import ROOT

HOP = 256


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "synthesize_text", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_steps(checkpoint, vocoder, out, steps: int, text: str) -> subprocess.CompletedProcess:
    """Tacotron2 with ``vocoder`` for exactly ``steps`` decoder steps (the stop token ignored)."""
    return run(
        "--tacotron2",
        str(checkpoint),
        "--vocoder",
        str(vocoder),
        "--out",
        str(out),
        "--max-decoder-steps",
        str(steps),
        "--ignore-stop-token",
        text,
    )


def test_it_writes_exactly_n_decoder_steps_of_audio(build, tmp_path):
    checkpoint = build.save(build.tacotron2(seed=1).state_dict(), "tacotron2.pth")
    out = tmp_path / "hello.wav"
    done = run_steps(checkpoint, "griffinlim", out, 20, "Hello, world.")
    assert done.returncode == 0, done.stderr
    samples, rate = soundfile.read(out)
    assert rate == 22050 and len(samples) == 20 * HOP


def test_a_file_that_is_no_checkpoint_is_named_and_nothing_is_written(tmp_path):
    bogus = tmp_path / "tacotron2_statedict.pt"
    bogus.write_bytes(b"this is not a checkpoint")
    out = tmp_path / "out.wav"
    done = run("--tacotron2", str(bogus), "--vocoder", "griffinlim", "--out", str(out), "Hi.")
    assert done.returncode == 1
    assert "tacotron2_statedict.pt" in done.stderr
    assert not out.exists()


def test_the_default_piper_voice_speaks_with_no_set_up(tmp_path):
    out = tmp_path / "joe.wav"
    done = run("--piper", "default", "--out", str(out), "--threads", "1", "Hello from Piper.")
    assert done.returncode == 0, done.stderr
    samples, rate = soundfile.read(out)
    assert rate == 22050 and 0.5 < len(samples) / rate < 3.0
    assert "22050 Hz" in done.stdout


def test_a_piper_voice_without_its_config_is_named(tmp_path):
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"not a model")
    done = run("--piper", str(model), "--out", str(tmp_path / "x.wav"), "Hi.")
    assert done.returncode == 1
    assert "voice.onnx.json: no such file" in done.stderr


def test_piper_takes_no_vocoder_and_tacotron2_needs_one(build, tmp_path):
    done = run("--piper", "default", "--vocoder", "griffinlim", "--out", "x.wav", "Hi.")
    assert done.returncode == 1 and "go with --tacotron2" in done.stderr
    checkpoint = build.save(build.tacotron2(seed=1).state_dict(), "t.pth")
    done = run("--tacotron2", str(checkpoint), "--out", str(tmp_path / "x.wav"), "Hi.")
    assert done.returncode == 1 and "needs --vocoder" in done.stderr


def test_a_waveglow_checkpoint_is_detected_as_the_vocoder(build, tmp_path):
    checkpoint = build.save(build.tacotron2(seed=1).state_dict(), "tacotron2.pth")
    waveglow = build.waveglow_deep_learning_examples(build.waveglow())
    out = tmp_path / "wg.wav"
    done = run_steps(checkpoint, waveglow, out, 10, "Hello.")
    assert done.returncode == 0, done.stderr
    samples, rate = soundfile.read(out)
    assert len(samples) == 10 * HOP
