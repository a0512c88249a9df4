"""`manage.py synthesize_text --tacotron2 CKPT --vocoder CKPT|griffinlim --out OUT.wav "text"`,
or `manage.py synthesize_text --piper ONNX|default [--speaker N] --out OUT.wav "text"`.

Synthesises one sentence with the pure engine (``synthesis.engine``), without the database:
for checking a checkpoint pair or a Piper voice before a researcher builds a study on it. The
vocoder's format (HiFi-GAN, WaveGlow, Parallel WaveGAN) is detected; ``--piper default`` is the
bundled en_US-joe-medium, and an ``.onnx`` reads its ``.onnx.json`` from beside it. ``--ignore-stop-token``
with ``--max-decoder-steps N`` decodes exactly N frames, whatever the stop token says (for
timing and for models whose attention fails). The samples are written as they come from the
vocoder (16-bit PCM, no loudness normalisation, scaled down only if they would clip),
atomically: a failed run leaves no file.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from django.core.management.base import BaseCommand, CommandError

from synthesis.engine.audio import write_flac
from synthesis.engine.piper import PiperSynthesizer, bundled_voice, load_piper
from synthesis.engine.synthesizer import (
    SynthesisRequest,
    SynthesisResult,
    Synthesizer,
    griffinlim_vocoder,
    load_acoustic,
    load_vocoder,
    read_hifigan_config,
)


class SynthesisFailed(ValueError):
    """The engine ran but produced no clip; the message is the engine's error."""


def write_audio(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit WAV or FLAC (by the file's suffix) via a temporary file and a rename.

    Griffin-Lim's output is not bounded to [-1, 1]; a clip that would clip is scaled down to
    a peak of 1.0 rather than distorted.
    """
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > 1.0:
        samples = samples / peak
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".flac":
        write_flac(target, samples, sample_rate)
        return
    if suffix != ".wav":
        raise ValueError(f"--out {target}: the file name must end in .wav or .flac")
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    try:
        soundfile.write(
            temporary, samples.clip(-1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16"
        )
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def synthesize_text(
    *,
    text: str,
    tacotron2: str,
    vocoder: str,
    out: str,
    seed: int = 0,
    max_decoder_steps: int | None = None,
    ignore_stop_token: bool = False,
    hifigan_config: str | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> SynthesisResult:
    """Load the pair, synthesise ``text`` and write ``out``; the command's whole job.

    Raises ``CheckpointError``, ``MelSettingsMismatch``, ``SynthesisFailed`` (all
    ``ValueError``) or ``OSError`` with a message for the user.
    """
    _check_out(out)
    if ignore_stop_token and max_decoder_steps is None:
        raise ValueError("--ignore-stop-token needs --max-decoder-steps N (the frames to decode)")
    acoustic = load_acoustic(tacotron2)
    if vocoder == "griffinlim":
        if hifigan_config:
            raise ValueError("--hifigan-config only applies to a HiFi-GAN --vocoder checkpoint")
        loaded_vocoder = griffinlim_vocoder(acoustic.mel)
    else:
        config = read_hifigan_config(hifigan_config) if hifigan_config else None
        loaded_vocoder = load_vocoder(vocoder, config)
    synthesizer = Synthesizer(
        acoustic,
        loaded_vocoder,
        device=device,
        threads=threads,
        max_decoder_steps=max_decoder_steps,
        ignore_stop_token=ignore_stop_token,
    )
    return _speak(synthesizer, text, seed, out)


def synthesize_text_piper(
    *,
    text: str,
    piper: str,
    out: str,
    seed: int = 0,
    speaker: str | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> SynthesisResult:
    """``--piper``: load the voice (``"default"``: the bundled one), speak, write ``out``."""
    _check_out(out)
    model, config = bundled_voice() if piper == "default" else (Path(piper), None)
    synthesizer = PiperSynthesizer(
        load_piper(model, config), device=device, threads=threads, speaker=speaker
    )
    return _speak(synthesizer, text, seed, out)


def _check_out(out: str) -> None:
    out_dir = Path(out).resolve().parent
    if not out_dir.is_dir():
        raise ValueError(f"--out {out}: the directory {out_dir} does not exist")


def _speak(synthesizer, text: str, seed: int, out: str) -> SynthesisResult:
    (result,) = synthesizer.synthesize([SynthesisRequest(text=text, seed=seed, key="cli")])
    if result.error is not None:
        raise SynthesisFailed(result.error)
    write_audio(out, result.samples, result.sample_rate)
    return result


class Command(BaseCommand):
    help = (
        "Synthesise one sentence with a Tacotron2 checkpoint and a vocoder, or a Piper voice "
        "(no database)."
    )

    def add_arguments(self, parser):
        parser.add_argument("text", help="The sentence to speak.")
        engine = parser.add_mutually_exclusive_group(required=True)
        engine.add_argument("--tacotron2", help="Tacotron2 checkpoint file.")
        engine.add_argument(
            "--piper", help="Piper voice .onnx (its .onnx.json beside it), or 'default'."
        )
        parser.add_argument(
            "--vocoder",
            help="With --tacotron2: a HiFi-GAN, WaveGlow or Parallel WaveGAN checkpoint (format "
            "detected), or 'griffinlim'.",
        )
        parser.add_argument("--speaker", help="With --piper: speaker id or name.")
        parser.add_argument("--out", required=True, help="Output .wav or .flac file.")
        parser.add_argument("--hifigan-config", help="The generator's config.json (optional).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the clip's noise.")
        parser.add_argument("--max-decoder-steps", type=int, help="Cap on decoder steps.")
        parser.add_argument(
            "--ignore-stop-token",
            action="store_true",
            help="Decode exactly --max-decoder-steps frames.",
        )
        parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N].")
        parser.add_argument("--threads", type=int, help="CPU threads (PyTorch or onnxruntime).")

    def handle(self, *args, **options):
        started = time.perf_counter()
        if options["piper"]:
            self._piper(options, started)
            return
        if not options["vocoder"]:
            raise CommandError("--tacotron2 needs --vocoder CKPT|griffinlim")
        result = self._synthesize(
            synthesize_text,
            options,
            tacotron2=options["tacotron2"],
            vocoder=options["vocoder"],
            max_decoder_steps=options["max_decoder_steps"],
            ignore_stop_token=options["ignore_stop_token"],
            hifigan_config=options["hifigan_config"],
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Wrote {options['out']}: {result.duration_s:.2f} s at {result.sample_rate} Hz, "
            f"{result.mel_frames} mel frames, seed {result.seed}, synthesised on "
            f"{result.device} in {result.seconds:.1f} s ({elapsed:.1f} s with loading)."
        )

    def _piper(self, options, started: float) -> None:
        if options["vocoder"] or options["hifigan_config"]:
            raise CommandError("--vocoder and --hifigan-config go with --tacotron2, not --piper")
        result = self._synthesize(
            synthesize_text_piper, options, piper=options["piper"], speaker=options["speaker"]
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Wrote {options['out']}: {result.duration_s:.2f} s at {result.sample_rate} Hz, "
            f"seed {result.seed}, synthesised on {result.device} in {result.seconds:.2f} s "
            f"({elapsed:.1f} s with loading)."
        )

    @staticmethod
    def _synthesize(synthesize, options, **engine):
        """Call ``synthesize`` with the options every engine takes plus ``engine``'s own; a
        bad checkpoint or file becomes a CommandError that names it."""
        try:
            return synthesize(
                text=options["text"],
                out=options["out"],
                seed=options["seed"],
                device=options["device"],
                threads=options["threads"],
                **engine,
            )
        except (ValueError, OSError) as error:
            raise CommandError(str(error)) from error
