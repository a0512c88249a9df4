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


def test_it_writes_exactly_n_decoder_steps_of_audio(build, tmp_path):
    checkpoint = build.save(build.tacotron2(seed=1).state_dict(), "tacotron2.pth")
    out = tmp_path / "hello.wav"
    done = run(
        "--tacotron2",
        str(checkpoint),
        "--vocoder",
        "griffinlim",
        "--out",
        str(out),
        "--max-decoder-steps",
        "20",
        "--ignore-stop-token",
        "Hello, world.",
    )
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
