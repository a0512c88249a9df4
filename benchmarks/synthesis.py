"""Benchmark: the synthesis engine against a per-sentence loop, on this machine's CPU.

Run: ``.venv/bin/python benchmarks/synthesis.py [--threads 2] [--sentences 32]`` (about 3-4
minutes on 2 cores). Prints tables; asserts nothing. Not part of the test run.

What it measures, with full-size random-weight models (no weights can be downloaded; speed does
not depend on the values): Tacotron2 (torchaudio, 148 symbols) decoding a fixed number of
frames per sentence (``ignore_stop_token``, 6.5 frames per symbol, about LJSpeech's speaking
rate), followed by HiFi-GAN V1 or V2.

1. Matrix-multiply peak of this CPU: float32 GEMM through MKL (``torch.mm``) and through
   oneDNN's packed kernels; the larger is "the measured peak".
2. The study: (a) a per-sentence loop as in the reference inference scripts (torchaudio's
   ``Tacotron2.infer`` on one sentence, then the vocoder on its mel) and (b) the engine
   (``Synthesizer.synthesize`` on all sentences, at several batch sizes). Seconds of audio per
   wall second for both, and b/a.
3. HiFi-GAN alone: achieved GFLOP/s (convolution FLOPs counted analytically, see
   ``hifigan_flops_per_frame``) against the measured peak, real-time factor.
4. bfloat16 autocast on the CPU: speed and quality (SNR of the waveform, largest mel change)
   against float32, to decide whether the engine should use it (it does not by default).
5. Beside the Tacotron2 paths: the bundled Piper voice (real weights, ``en_US-joe-medium``) on
   the study's sentences, one sentence per onnxruntime call and batched; WaveGlow (NVIDIA's
   published size, 12 flows of 8 layers x 256 channels) and
   Parallel WaveGAN (the project's v1: 30 layers x 64 channels) alone on 1 s of audio, once
   (both are far slower than real time on a CPU). ``--sections piper`` runs only this part.
   Piper's rows are medians of at least 3 runs, and a second table gives its CPU time per
   sentence, which a shared machine changes far less than the wall time, and the cores the run
   actually had ("cores busy": CPU seconds per wall second).

Piper on the shared 2-core Xeon (load 6-9, CPU pressure ~98 %, six engineers' test runs),
20 Harvard sentences, 2 threads: 2.2-4.7x real time, 0.5-1.0 s per sentence wall, but
7.2-7.5x real time per CPU second (about 300 ms of CPU per sentence, 210 with one thread) and
"cores busy" 0.3: the run waited for a core most of the time. Harken's session costs the same
CPU per sentence as Piper's own ``PiperVoice`` (its graph with the noise as inputs included);
deterministic compute, the memory arena, prepacking, spinning and batching changed nothing
measurable but spinning, which cost 50 % more CPU. What a process paid once was import time:
inflect (number spelling, imported by every worker and web process) took 3.5-4.4 s of CPU
and is now imported on first use, so a worker's first Piper clip comes ~10 s sooner there.

Peak memory: the largest resident set size seen during a run (sampled every 5 ms from
``/proc/self/statm``) minus the resident size before it, plus the process-wide ``ru_maxrss``.
The machine may be shared; every timing is the best of ``--repeats`` runs, and the load
average is printed at the start and the end: numbers taken under load are not comparable.

Last quiet run on the development machine (2 cores of an AMD EPYC, Zen 5, AVX-512 with BF16;
torch 2.9.1; load 0.3 at the start), 32 sentences = 101 s of audio:

- Peak: MKL sgemm 222 GFLOP/s (MKL runs its AVX2 code on AMD), oneDNN 443 GFLOP/s.
- Loop 2.00x real time with V1, 2.71x with V2. Engine with V2: 6.42x (batch 1), 17.97x
  (batch 8), 20.62x (batch 32) real time, i.e. 2.37x / 6.64x / 7.62x the loop. With V1 at
  batch 32: 4.68x real time, 2.34x the loop (HiFi-GAN dominates).
- HiFi-GAN V1 fp32: 273 GFLOP/s in the engine (62% of the oneDNN peak, 123% of MKL's),
  353 GFLOP/s alone on one 5 s mel (80%). Plain eager convolutions already run on oneDNN;
  tracing + ``torch.jit.freeze``/``optimize_for_inference`` made it 3-4x slower,
  ``torch.compile`` (inductor, freezing) gained ~3%, oneDNN post-op fusion of leaky ReLU and
  the residual add was slower: not used. What mattered was keeping each call near the cache
  (one 512-frame tile per call: 2400-frame calls ran at half speed).
- bfloat16 autocast: HiFi-GAN V1 1.7x faster at 43 dB SNR against fp32, decoder 1.2x
  faster (largest mel change 0.008 on a 0.85 range). Available as ``Synthesizer(cpu_bf16=True)``,
  off by default.
- Engine peak memory 400 MB (V2, batch 32) to 700 MB (V1); the whole run 166 s.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import os
import platform
import resource
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from listening.studies.harvard import HARVARD_SENTENCES  # noqa: E402
from synthesis.engine.checkpoints import (  # noqa: E402
    LJSPEECH_MEL,
    LoadedTacotron2,
    LoadedVocoder,
)
from synthesis.engine.hifigan import V1, V2, HiFiGANConfig, HiFiGANGenerator  # noqa: E402
from synthesis.engine.piper import PiperSynthesizer, bundled_voice, load_piper  # noqa: E402
from synthesis.engine.pwg import ParallelWaveGANGenerator, PWGConfig, PWGVocoder  # noqa: E402
from synthesis.engine.synthesizer import SynthesisRequest, Synthesizer  # noqa: E402
from synthesis.engine.tacotron2 import (  # noqa: E402
    Tacotron2Params,
    build_tacotron2,
    decode_batch,
    onednn_linear_available,
)
from synthesis.engine.text import SymbolSet, text_to_sequence  # noqa: E402
from synthesis.engine.waveglow import WaveGlow, WaveGlowConfig  # noqa: E402

FRAMES_PER_SYMBOL = 6.5
HOP = LJSPEECH_MEL.hop_length
RATE = LJSPEECH_MEL.sample_rate

# A listening-test-like sentence set: 32 sentences of 20 to 90 characters, the demo's 20
# Harvard sentences and 12 more of list 3 and longer ones.
SENTENCES = [
    *HARVARD_SENTENCES,
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy, who had never seen the sea before.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder, and walk slowly to the waiting cart outside.",
    "Take the winding path to reach the lake.",
]


# --- measurement helpers -------------------------------------------------------------------------


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


class PeakRss:
    """Largest resident set size during a ``with`` block, sampled every 5 ms.

    ``malloc_trim`` first hands memory freed by earlier runs back to the system; otherwise a
    run could reuse it without the resident size growing and would look free.
    """

    page = os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> PeakRss:
        gc.collect()
        _LIBC.malloc_trim(0)
        self.start = self._rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.start) / 2**20

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float, object]:
    """(best seconds, peak extra RSS MB of that run, result of the last run)."""
    best, best_mem, result = float("inf"), 0.0, None
    for _ in range(repeats):
        with PeakRss() as rss:
            t0 = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - t0
        if elapsed < best:
            best, best_mem = elapsed, rss.extra_mb
    return best, best_mem, result


def median_wall_cpu(repeats: int, fn: Callable[[], object]) -> tuple[float, float, float, object]:
    """(median wall seconds, median CPU seconds of the process, peak extra RSS MB, last
    result) over ``repeats`` runs: the median, not the best, for figures quoted under load."""
    walls, cpus, mems, result = [], [], [], None
    for _ in range(repeats):
        with PeakRss() as rss:
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        mems.append(rss.extra_mb)
    return statistics.median(walls), statistics.median(cpus), max(mems), result


def cpu_pressure() -> str:
    """Linux PSI: the share of the last 10 s in which some runnable task waited for a CPU."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
    return line.split()[1].replace("avg10=", "") + "% (10 s)"


def matmul_peaks(repeats: int, peaks: dict[str, float] | None = None) -> dict[str, float]:
    """float32 GEMM GFLOP/s through MKL and through oneDNN's packed kernels.

    Keeps the best of this and any earlier measurement (``peaks``): measured at the start
    and at the end, so a noisy neighbour at one moment does not lower the peak.
    """
    earlier = peaks or {}
    peaks = {}
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    flops = 2 * n**3
    with torch.inference_mode():
        for _ in range(2):
            torch.mm(a, b)
        seconds, _, _ = best_of(repeats + 6, lambda: torch.mm(a, b))
    peaks["MKL sgemm (torch.mm 2048^3)"] = flops / seconds / 1e9
    if onednn_linear_available():
        packed = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous(), n)

        def onednn() -> torch.Tensor:
            return torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")

        with torch.inference_mode():
            for _ in range(2):
                onednn()
            seconds, _, _ = best_of(repeats + 6, onednn)
        peaks["oneDNN packed GEMM (2048^3)"] = flops / seconds / 1e9
    return {name: max(value, earlier.get(name, 0.0)) for name, value in peaks.items()}


def hifigan_flops_per_frame(config: HiFiGANConfig) -> float:
    """Multiply-adds x 2 of every convolution, per mel frame.

    A Conv1d producing T outputs costs 2 * C_in * C_out * k * T; a ConvTranspose1d reading T
    inputs costs 2 * C_in * C_out * k * T. Activations, additions and tanh are not counted.
    """
    c = config.upsample_initial_channel
    flops = 2 * config.num_mels * c * 7  # conv_pre, 1 output per frame
    rate = 1
    for i, (u, k) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes)):
        c_in, c_out = c // 2**i, c // 2 ** (i + 1)
        flops += 2 * c_in * c_out * k * rate  # transposed conv reads `rate` inputs per frame
        rate *= u
        for kernel, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
            convs = 2 * len(dilations) if config.resblock == "1" else len(dilations)
            flops += convs * 2 * c_out * c_out * kernel * rate
    flops += 2 * (c // 2 ** len(config.upsample_rates)) * 1 * 7 * rate  # conv_post
    return float(flops)


def random_vocoder(config: HiFiGANConfig) -> LoadedVocoder:
    torch.manual_seed(1)
    generator = HiFiGANGenerator(config).eval()
    return LoadedVocoder(kind="hifigan", mel=LJSPEECH_MEL, generator=generator, config=config)


def random_acoustic() -> LoadedTacotron2:
    torch.manual_seed(0)
    params = Tacotron2Params(n_symbol=148)
    model = build_tacotron2(params)
    with torch.no_grad():
        # Random weights would fire the stop token at random; silence it so torchaudio's
        # infer reports the full decoded length (the engine ignores it anyway).
        model.decoder.gate_layer.bias.fill_(-1e4)
    return LoadedTacotron2(
        model=model,
        symbol_set=SymbolSet.NVIDIA,
        mel=LJSPEECH_MEL,
        params=params,
        source_format="random weights",
        path="",
    )


def frames_for(tokens: list[int]) -> int:
    return int(FRAMES_PER_SYMBOL * len(tokens))


# --- the study ---------------------------------------------------------------------------------


def loop_reference(acoustic: LoadedTacotron2, token_lists: list[list[int]]) -> float:
    """Tacotron2 seconds of per-sentence inference as in the reference scripts.

    One ``Tacotron2.infer`` per sentence (torchaudio's own decoding loop), decoding exactly
    the sentence's frame count. The vocoder half is ``loop_reference_vocoder``; per-sentence
    times simply add up, so the two halves are timed separately.
    """
    model = acoustic.model
    model.decoder.decoder_early_stopping = False
    seconds = 0.0
    with torch.inference_mode():
        for tokens in token_lists:
            model.decoder.decoder_max_step = frames_for(tokens)
            t0 = time.perf_counter()
            _, lengths, _ = model.infer(torch.tensor([tokens]))
            seconds += time.perf_counter() - t0
            assert int(lengths[0]) == frames_for(tokens)
    model.decoder.decoder_max_step = 2000
    model.decoder.decoder_early_stopping = True
    return seconds


def loop_reference_vocoder(vocoder: LoadedVocoder, token_lists: list[list[int]]) -> float:
    """The loop's vocoder half: one HiFi-GAN call per sentence on a mel of its length."""
    generator = vocoder.generator
    assert generator is not None
    seconds = 0.0
    with torch.inference_mode():
        for tokens in token_lists:
            mel = torch.randn(1, 80, frames_for(tokens)) - 5.0
            t0 = time.perf_counter()
            audio = generator(mel)
            seconds += time.perf_counter() - t0
            assert audio.shape[-1] == frames_for(tokens) * HOP
    return seconds


def engine(acoustic: LoadedTacotron2, vocoder: LoadedVocoder, batch: int) -> Synthesizer:
    return Synthesizer(
        acoustic,
        vocoder,
        device="cpu",
        max_batch_items=batch,
        max_batch_frames=10**9,
        decoder_steps_base=0,
        decoder_steps_per_char=FRAMES_PER_SYMBOL,
        ignore_stop_token=True,
    )


def piper_and_noise_vocoders(texts: list[str], threads: int, repeats: int) -> None:
    """Section 5: Piper's real-time factor beside WaveGlow's and Parallel WaveGAN's."""
    rows = []
    t0 = time.perf_counter()
    with PeakRss() as rss:
        voice = load_piper(*bundled_voice())
        solo = PiperSynthesizer(voice, device="cpu", threads=threads)
    load_s, load_mb = time.perf_counter() - t0, rss.extra_mb
    batched = PiperSynthesizer(voice, device="cpu", threads=threads, max_batch_items=8)
    requests = [SynthesisRequest(t, seed=i) for i, t in enumerate(texts)]
    solo.synthesize(requests[:2])
    piper_rows = []
    for name, synthesizer in (("Piper joe-medium, 1 per call", solo), ("batch 8", batched)):
        seconds, cpu, mem, results = median_wall_cpu(
            max(3, repeats), lambda s=synthesizer: s.synthesize(requests)
        )
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        audio = sum(r.duration_s for r in results)
        rows.append(
            [
                name,
                f"{audio / seconds:.1f}",
                f"{1000 * seconds / len(texts):.0f}",
                f"{audio / len(texts):.2f}",
                f"{mem:.0f}",
            ]
        )
        piper_rows.append(
            [name, f"{1000 * cpu / len(texts):.0f}", f"{audio / cpu:.1f}", f"{cpu / seconds:.2f}"]
        )
    # 1 s: on a CPU both take many times real time (WaveGlow was made for GPUs).
    mel = torch.randn(1, 80, 86) - 5.0
    noise = torch.Generator().manual_seed(0)
    vocoders: list[tuple[str, Callable[[], torch.Tensor]]] = []
    # DeepLearningExamples' 512 channels cost about four times as much.
    for label, channels in (("WaveGlow 256 ch (NVIDIA)", 256),):
        torch.manual_seed(0)
        waveglow = WaveGlow(WaveGlowConfig(n_channels=channels))
        with torch.no_grad():
            for wn in waveglow.WN:  # zero-initialised by NVIDIA too: a stable random flow
                wn.end.weight.zero_()
                wn.end.bias.zero_()
        waveglow.eval().prepare()
        vocoders.append((label, lambda w=waveglow: w(mel, generator=noise)))
    torch.manual_seed(0)
    pwg = PWGVocoder(
        ParallelWaveGANGenerator(PWGConfig()).eval(), torch.full((80,), -2.0), torch.ones(80)
    ).eval()
    vocoders.append(("Parallel WaveGAN v1", lambda: pwg(mel, generator=noise)))
    for label, run in vocoders:
        with torch.inference_mode():
            seconds, mem, audio = best_of(1, run)
        assert audio.shape[-1] == mel.shape[-1] * HOP
        audio_s = mel.shape[-1] * HOP / RATE
        rows.append(
            [label + " alone", f"{audio_s / seconds:.2f}", "-", f"{audio_s:.2f}", f"{mem:.0f}"]
        )
    print_table(
        f"Piper (real weights; voice load {load_s:.1f} s, +{load_mb:.0f} MB; median of "
        f"{max(3, repeats)} runs) and the noise vocoders (random weights), {threads} threads",
        ["run", "x real time", "ms per sentence", "s audio per sentence", "peak MB"],
        rows,
    )
    # CPU seconds barely depend on how many other processes share the cores; wall seconds do.
    # A "cores busy" well under the thread count means the run waited for a core.
    print_table(
        f"Piper's CPU time (all threads; comparable under load), CPU pressure {cpu_pressure()}",
        ["run", "CPU ms per sentence", "x real time per CPU second", "cores busy"],
        piper_rows,
    )


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,8,32", help="engine batch sizes (V2)")
    parser.add_argument("--repeats", type=int, default=2, help="best of N for each timing")
    parser.add_argument(
        "--sections", default="all", help="'all', or 'piper' for section 5 alone (about 1 min)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # torchaudio warns whenever infer reaches decoder_max_step, which the loop does on purpose.
    warnings.filterwarnings("ignore", message="Reached max decoder steps")
    started = time.perf_counter()

    texts = (SENTENCES * (args.sentences // len(SENTENCES) + 1))[: args.sentences]
    if args.sections == "piper":
        print(f"{args.threads} threads, load average at start {os.getloadavg()[0]:.2f}")
        piper_and_noise_vocoders(texts, args.threads, args.repeats)
        print(f"load average at end {os.getloadavg()[0]:.2f}")
        return
    token_lists = [text_to_sequence(t, SymbolSet.NVIDIA) for t in texts]
    total_frames = sum(frames_for(t) for t in token_lists)
    audio_seconds = total_frames * HOP / RATE
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, ")
    print(f"{args.threads} threads, load average at start {os.getloadavg()[0]:.2f}")
    print(
        f"study: {len(texts)} sentences, {total_frames} mel frames "
        f"({FRAMES_PER_SYMBOL} per symbol), {audio_seconds:.1f} s of audio"
    )

    peaks = matmul_peaks(args.repeats)

    acoustic = random_acoustic()
    vocoders = {"V1": random_vocoder(V1), "V2": random_vocoder(V2)}
    warm = [SynthesisRequest("Warm up.", seed=0)]
    for vocoder in vocoders.values():
        engine(acoustic, vocoder, 4).synthesize(warm)

    # (a) the per-sentence loop: Tacotron2 once, each vocoder once (times add up per sentence).
    _, loop_mem, taco_s = best_of(1, lambda: loop_reference(acoustic, token_lists))
    loop_voc = {}
    for name, vocoder in vocoders.items():
        _, mem, voc_s = best_of(1, lambda v=vocoder: loop_reference_vocoder(v, token_lists))
        loop_voc[name] = (voc_s, mem)

    rows = []
    summary: dict[str, float] = {}
    engine_vocoder: dict[str, tuple[float, int]] = {}
    requests = [SynthesisRequest(t, seed=i) for i, t in enumerate(texts)]
    for name, vocoder in vocoders.items():
        loop_total = taco_s + loop_voc[name][0]
        loop_rate = audio_seconds / loop_total
        sizes = batch_sizes if name == "V2" else [max(batch_sizes)]
        for batch in sizes:
            synthesizer = engine(acoustic, vocoder, batch)
            seconds, mem, results = best_of(
                args.repeats, lambda s=synthesizer: s.synthesize(requests)
            )
            assert all(r.ok for r in results)
            assert sum(r.mel_frames for r in results) == total_frames
            stats = synthesizer.last_stats
            rate = audio_seconds / seconds
            rows.append(
                [
                    name,
                    str(batch),
                    f"{loop_rate:.2f}",
                    f"{rate:.2f}",
                    f"{rate / loop_rate:.2f}",
                    f"{stats.decoder_seconds:.1f}",
                    f"{stats.vocoder_seconds:.1f}",
                    f"{max(loop_mem, loop_voc[name][1]):.0f}",
                    f"{mem:.0f}",
                ]
            )
            summary[f"{name}@{batch}"] = rate / loop_rate
            engine_vocoder[name] = (stats.vocoder_seconds, total_frames)
    print_table(
        f"Study of {len(texts)} sentences: seconds of audio per wall second "
        f"(loop: Tacotron2 {taco_s:.1f} s + vocoder per sentence)",
        [
            "vocoder",
            "batch",
            "(a) loop",
            "(b) engine",
            "b/a",
            "engine decoder s",
            "engine vocoder s",
            "loop peak MB",
            "engine peak MB",
        ],
        rows,
    )

    peaks = matmul_peaks(args.repeats, peaks)
    peak = max(peaks.values())
    print_table(
        "Matrix-multiply peak (float32, best of the start and the end of the run)",
        ["kernel", "GFLOP/s"],
        [[name, f"{value:.0f}"] for name, value in peaks.items()],
    )

    # HiFi-GAN: inside the engine (tiled, from the study) and alone on one 5 s mel.
    rows = []
    for name, config in (("V1", V1), ("V2", V2)):
        seconds, frames = engine_vocoder[name]
        achieved = hifigan_flops_per_frame(config) * frames / seconds / 1e9
        rows.append(
            [
                f"{name} engine",
                f"{hifigan_flops_per_frame(config) / 1e6:.0f}",
                f"{achieved:.0f}",
                f"{100 * achieved / peak:.0f}%",
                f"{frames * HOP / RATE / seconds:.2f}",
                "-",
                "-",
                "-",
            ]
        )
        summary[f"{name} engine peak fraction"] = achieved / peak
    mel = torch.randn(1, 80, 430) - 5.0  # 5 s
    for name, config in (("V1", V1), ("V2", V2)):
        generator = vocoders[name].generator
        flops = hifigan_flops_per_frame(config) * mel.shape[-1]
        with torch.inference_mode():
            generator(mel[:, :, :50])
            seconds, mem, reference = best_of(args.repeats + 1, lambda g=generator: g(mel))

            def bf16(g: HiFiGANGenerator = generator) -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return g(mel).float()

            bf16()
            seconds_bf16, _, approx = best_of(args.repeats, bf16)
        snr = 10 * torch.log10(reference.pow(2).sum() / (approx - reference).pow(2).sum())
        achieved = flops / seconds / 1e9
        rows.append(
            [
                f"{name} alone",
                f"{hifigan_flops_per_frame(config) / 1e6:.0f}",
                f"{achieved:.0f}",
                f"{100 * achieved / peak:.0f}%",
                f"{mel.shape[-1] * HOP / RATE / seconds:.2f}",
                f"{mel.shape[-1] * HOP / RATE / seconds_bf16:.2f}",
                f"{snr:.1f}",
                f"{mem:.0f}",
            ]
        )
        summary[f"{name} peak fraction"] = achieved / peak
    print_table(
        f"HiFi-GAN: in the engine (study, useful frames only) and alone on 5 s of audio "
        f"(peak = {peak:.0f} GFLOP/s)",
        [
            "run",
            "MFLOP/frame",
            "GFLOP/s fp32",
            "of peak",
            "x real time fp32",
            "x real time bf16",
            "bf16 SNR dB",
            "peak MB",
        ],
        rows,
    )

    # Tacotron2 decoder under bfloat16 autocast.
    subset = token_lists[:8]
    limits = [150] * len(subset)
    seeds = list(range(len(subset)))
    with torch.inference_mode():
        fp32_s, _, fp32 = best_of(
            args.repeats,
            lambda: decode_batch(acoustic.model, subset, seeds, limits, ignore_stop_token=True),
        )

        def decode_bf16():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return decode_batch(acoustic.model, subset, seeds, limits, ignore_stop_token=True)

        bf16_s, _, bf16 = best_of(args.repeats, decode_bf16)
    change = max(float((a.mel - b.mel).abs().max()) for a, b in zip(fp32, bf16))
    scale = max(float(a.mel.abs().max()) for a in fp32)
    print_table(
        "Tacotron2 decoder, 8 sentences x 150 frames",
        ["precision", "seconds", "largest mel change"],
        [
            ["float32 (oneDNN)" if onednn_linear_available() else "float32", f"{fp32_s:.2f}", "-"],
            ["bfloat16 autocast", f"{bf16_s:.2f}", f"{change:.3f} (mel range {scale:.2f})"],
        ],
    )

    piper_and_noise_vocoders(texts, args.threads, args.repeats)

    print("\nTargets (2 cores): engine >= 2.5x the loop on the 32-sentence study with V2; ")
    print("HiFi-GAN V1 >= 50% of the measured peak.")
    best_v2 = max(v for k, v in summary.items() if k.startswith("V2@"))
    print(f"  reached: engine/loop with V2 = {best_v2:.2f}x at best batch size")
    print(
        f"  reached: HiFi-GAN V1 = {100 * summary['V1 engine peak fraction']:.0f}% of peak in "
        f"the engine, {100 * summary['V1 peak fraction']:.0f}% alone"
    )
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process ru_maxrss {ru_maxrss:.0f} MB; load average at end {os.getloadavg()[0]:.2f}; ")
    print(f"total benchmark time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
