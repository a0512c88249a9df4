"""Throughput of each objective metric (listening.objective.measure) on 3-second clips.

Run: ``.venv/bin/python benchmarks/metrics.py`` (``make bench``). Prints one row per metric:
clips per second on this machine, single process. A "clip" is one degraded clip scored against
its reference where a reference is needed. The clips are eSpeak NG speech at its native
22.05 kHz (padded or cut to 3 s), degraded by white noise at 20 dB SNR. The last rows time the
DTW alone at 3 s and 10 s (600 and 2000 frames of 5 ms) per side.

The DistillMOS rows score clips of the bundled Piper voice (neural speech, as in a TTS study)
at 3 s and 10 s: clips up to 7.68 s cost the same (the model pads them to that length), longer
ones are scored in overlapping windows.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pystoi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from listening.objective import measure  # noqa: E402
from listening.objective.automatic import distillmos  # noqa: E402
from synthesis.engine.espeak import EspeakEngine  # noqa: E402
from synthesis.engine.piper import PiperSynthesizer, bundled_voice, load_piper  # noqa: E402
from synthesis.engine.protocol import SynthesisRequest  # noqa: E402

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
CLIP_S = 3.0
MIN_SECONDS = 3.0  # keep timing each metric at least this long


def three_second_clips() -> tuple[np.ndarray, np.ndarray, int]:
    engine = EspeakEngine()
    sr = engine.sample_rate
    speech = engine.synthesize(SENTENCE).astype(np.float64)
    n = int(CLIP_S * sr)
    reference = np.pad(speech, (0, max(0, n - len(speech))))[:n]
    noise = np.random.default_rng(0).standard_normal(n)
    degraded = reference + noise * np.sqrt(np.mean(reference**2) / 10 ** (20 / 10))
    return degraded, reference, sr


def rate(fn) -> tuple[float, int]:
    """Calls per second of ``fn`` after one warm-up call, over at least MIN_SECONDS."""
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < MIN_SECONDS or calls < 3:
        fn()
        calls += 1
    return calls / elapsed, calls


def main() -> None:
    degraded, reference, sr = three_second_clips()
    frames_3s = np.random.default_rng(1).random((600, 600))
    frames_10s = np.random.default_rng(2).random((2000, 2000))
    notes: list[str] = []
    cases = [
        ("STOI", lambda: pystoi.stoi(reference, degraded, sr, extended=False)),
        ("extended STOI", lambda: pystoi.stoi(reference, degraded, sr, extended=True)),
        ("PESQ wide-band (incl. resampling to 16 kHz)",
         lambda: measure._pesq_wb(degraded, reference, sr, notes)),
        ("MCD-DTW + F0 + VDE, Harvest",
         lambda: measure._frame_metrics(degraded, reference, sr, "harvest", notes)),
        ("MCD-DTW + F0 + VDE, DIO + StoneMask",
         lambda: measure._frame_metrics(degraded, reference, sr, "dio", notes)),
        ("compare_to_reference (all of the above, Harvest)",
         lambda: measure.compare_to_reference(degraded, reference, sr)),
        ("compare_to_reference (f0_method='dio')",
         lambda: measure.compare_to_reference(degraded, reference, sr, f0_method="dio")),
        ("describe_clip", lambda: measure.describe_clip(degraded, sr, text=SENTENCE)),
        ("dnsmos_p808 (model loaded once)", lambda: measure.dnsmos_p808(degraded, sr)),
        ("dtw alone, 600 x 600 frames (3 s)", lambda: measure.dtw(frames_3s)),
        ("dtw alone, 2000 x 2000 frames (10 s)", lambda: measure.dtw(frames_10s)),
    ]  # fmt: skip
    print(f"{CLIP_S:.0f}-second clips at {sr} Hz, one process on this machine")
    print(f"{'metric':<52} {'clips/s':>9} {'ms/clip':>9} {'calls':>6}")
    for name, fn in cases:
        per_second, calls = rate(fn)
        print(f"{name:<52} {per_second:>9.2f} {1000 / per_second:>9.1f} {calls:>6}")
    for name, fn in distillmos_cases():
        per_second, calls = rate(fn)
        print(f"{name:<52} {per_second:>9.2f} {1000 / per_second:>9.1f} {calls:>6}")


def distillmos_cases():
    voice = PiperSynthesizer(load_piper(*bundled_voice()), device="cpu")
    (result,) = voice.synthesize([SynthesisRequest(SENTENCE * 3, seed=0)])
    speech, sr = result.samples, result.sample_rate
    return [
        (f"distillmos, Piper speech, {seconds:.0f} s (model loaded once)",
         lambda n=int(seconds * sr): distillmos(speech[:n], sr))
        for seconds in (3.0, 10.0)
    ]  # fmt: skip


if __name__ == "__main__":
    main()
