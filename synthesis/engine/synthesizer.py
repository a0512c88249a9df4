"""Batched text-to-speech: sentences in, one waveform (or one error) per sentence out.

Data flow: ``synthesis.tasks`` (or ``manage.py synthesize_text``) -> :class:`Synthesizer` ->
``text`` (normalise, split, symbol ids) -> ``tacotron2.decode_batch`` (log-mel) -> vocoder
(``hifigan``, ``waveglow``, ``pwg`` or Griffin-Lim) -> float32 samples -> ``audio.postprocess``
(done by the caller).

How a call runs:

1. Each request's text is normalised and split into pieces of at most 180 characters
   (``text.split_text``); each piece becomes one decoder item with its own seed (the request's
   seed for the first piece, a value derived from it for the others).
2. Items are sorted longest first (torchaudio's encoder packs sequences, which wants that
   order) and grouped into batches whose summed decoder-step limits stay under
   ``max_batch_frames``, so memory stays bounded whatever the study size.
3. The decoder runs all items of a batch together; each stops on its own stop token. An item
   that reaches its step limit fails with "no stop token (attention failed)"; it is never cut
   short silently. The limit grows with the text: ``min(cap, base + per_char * symbols)``.
4. The vocoder turns each mel into ``frames * hop`` samples. HiFi-GAN runs on batches of
   tiles (pieces of items) that each carry the generator's receptive field of context, with
   silence beyond an item's ends, so an item's samples depend neither on its batch mates nor on
   the tiling; tiles are kept short because long calls fall out of the CPU caches.
   Griffin-Lim, WaveGlow and Parallel WaveGAN run per item, their noise seeded by the item.
5. Pieces of one request are joined with ``PAUSE_SECONDS_BETWEEN_PIECES`` of silence.

The same seed gives the same clip: the prenet dropout masks come from per-item generators and
every layer that mixes time steps is masked per item. Results match a solo run to float
rounding (the matrix kernels may sum in a different order for a different batch size), and are
bit-identical when the same requests are run again.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torchaudio.transforms import GriffinLim, InverseMelScale

from .checkpoints import (
    LJSPEECH_MEL,
    CheckpointError,
    LoadedTacotron2,
    LoadedVocoder,
    MelSettings,
    MelSettingsMismatch,
    check_mel_settings,
    load_acoustic,
)
from .hifigan import LOG_MEL_SILENCE
from .protocol import (
    PreparedRequest,
    SynthesisRequest,
    SynthesisResult,
    piece_seed,
    pieces_result,
    prepare_request,
)
from .tacotron2 import decode_batch
from .text import text_to_sequence
from .vocoders import griffinlim_vocoder, load_hifigan, load_vocoder, read_hifigan_config

__all__ = [
    "LJSPEECH_MEL",
    "NO_STOP_TOKEN",
    "CheckpointError",
    "LoadedTacotron2",
    "LoadedVocoder",
    "MelSettings",
    "MelSettingsMismatch",
    "SynthesisRequest",
    "SynthesisResult",
    "SynthesisStats",
    "Synthesizer",
    "griffinlim_vocoder",
    "load_acoustic",
    "load_hifigan",
    "load_vocoder",
    "piece_seed",
    "read_hifigan_config",
]

NO_STOP_TOKEN = "no stop token (attention failed)"


@dataclass
class SynthesisStats:
    """Measurements of the last ``synthesize`` call.

    ``peak_memory_bytes`` comes from ``torch.cuda.max_memory_allocated`` on CUDA (tensors of
    this call only) and from ``getrusage(RUSAGE_SELF).ru_maxrss`` on the CPU: the resident-set
    high-water mark of the whole process since it started (it never goes down, so it bounds
    this call from above). ``peak_memory_source`` says which.
    """

    wall_seconds: float = 0.0
    decoder_seconds: float = 0.0
    vocoder_seconds: float = 0.0
    audio_seconds: float = 0.0
    items: int = 0
    batches: int = 0
    peak_memory_bytes: int = 0
    peak_memory_source: str = ""


@dataclass
class _Item:
    """One piece of one request: the unit the decoder and the vocoder work on."""

    piece: int
    tokens: list[int]
    seed: int
    limit: int
    mel: Tensor | None = None
    stopped: bool = False
    samples: np.ndarray | None = None
    seconds: float = 0.0  # share of batch time

    @property
    def frames(self) -> int:
        return int(self.mel.shape[-1]) if self.mel is not None else 0


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available here")
    return resolved


class Synthesizer:
    """Tacotron2 + vocoder inference for lists of sentences.

    Args:
        acoustic: from ``load_acoustic``.
        vocoder: from ``load_vocoder`` (HiFi-GAN, WaveGlow, Parallel WaveGAN) or
            ``griffinlim_vocoder``.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        threads: ``torch.set_num_threads`` for CPU inference (process-wide); None leaves it.
        max_batch_frames: decoder batches hold items whose step limits sum to at most this.
        max_batch_items: and at most this many items.
        vocoder_chunk_frames: HiFi-GAN runs on tiles of at most this many frames of one item,
            each with the generator's receptive field of real neighbouring frames (or silence
            at the item's ends) on both sides, so the tiles' samples join seamlessly.
        vocoder_batch_frames: padded frames per HiFi-GAN call (at least one tile). Default
            600 on a CPU, so the activations stay near the caches: on the benchmark machine
            calls of 2400 frames ran 30% (V2) to 2x (V1) slower than calls of 600. 16384 on
            CUDA.
        gate_threshold: stop-token probability that ends an item.
        max_decoder_steps: cap on any item's decoder steps; with ``ignore_stop_token`` every
            item runs exactly this many steps (benchmarks, diagnostics).
        decoder_steps_base, decoder_steps_per_char: the step limit of an item with n symbols
            is ``min(max_decoder_steps, base + per_char * n)``. 12 frames per symbol is about
            half of LJSpeech's speaking rate, so a working model never gets near it.
        ignore_stop_token: run every item to its step limit and succeed.
        max_text_chars: longer request texts fail with a message instead of being synthesised.
        cpu_bf16: bfloat16 autocast on the CPU (for CPUs with AVX512-BF16 or AMX). On the
            benchmark machine it made HiFi-GAN V1 ~1.6-2x faster at 43-51 dB SNR against
            float32 and the decoder ~1.2x faster (benchmarks/synthesis.py, random weights).
            Off by default: its effect on trained voices has not been checked by listening.
        griffinlim_iters: Griffin-Lim iterations (torchaudio's bundle uses 32).
        waveglow_sigma: standard deviation of WaveGlow's noise (NVIDIA's Tacotron2 inference
            uses 0.666).
    """

    def __init__(
        self,
        acoustic: LoadedTacotron2,
        vocoder: LoadedVocoder,
        device: str | torch.device = "auto",
        threads: int | None = None,
        *,
        max_batch_frames: int = 48_000,
        max_batch_items: int = 64,
        vocoder_chunk_frames: int | None = None,
        vocoder_batch_frames: int | None = None,
        gate_threshold: float = 0.5,
        max_decoder_steps: int | None = None,
        decoder_steps_base: int = 50,
        decoder_steps_per_char: float = 12.0,
        ignore_stop_token: bool = False,
        max_text_chars: int = 1000,
        cpu_bf16: bool = False,
        griffinlim_iters: int = 32,
        waveglow_sigma: float = 0.666,
    ) -> None:
        # Compare before any work: a mismatched pair would "work" and produce noise.
        check_mel_settings(acoustic.mel, vocoder.mel)
        if max_decoder_steps is not None and max_decoder_steps < 1:
            raise ValueError(f"max_decoder_steps must be at least 1, got {max_decoder_steps}")
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be at least 1, got {threads}")
            torch.set_num_threads(threads)
        self._device = _resolve_device(device)
        # Public as a string ("cpu", "cuda:0"): what results and metrics record.
        self.device = str(self._device)
        self.acoustic = acoustic
        self.vocoder = vocoder
        self.mel = acoustic.mel
        self.model = acoustic.model.to(self._device).eval()
        self.generator = (
            vocoder.generator.to(self._device).eval() if vocoder.generator is not None else None
        )
        self.max_batch_frames = max_batch_frames
        self.max_batch_items = max_batch_items
        cuda = self._device.type == "cuda"
        context = self.generator.receptive_field_frames() if vocoder.kind == "hifigan" else 0
        if vocoder_chunk_frames is None:
            vocoder_chunk_frames = 2048 if cuda else 512
        if vocoder_batch_frames is None:
            vocoder_batch_frames = 16384 if cuda else 600
        vocoder_batch_frames = max(vocoder_batch_frames, vocoder_chunk_frames + 2 * context)
        self.vocoder_chunk_frames = vocoder_chunk_frames
        self.vocoder_batch_frames = vocoder_batch_frames
        self.gate_threshold = gate_threshold
        self.max_decoder_steps = max_decoder_steps
        self.decoder_steps_base = decoder_steps_base
        self.decoder_steps_per_char = decoder_steps_per_char
        self.ignore_stop_token = ignore_stop_token
        self.max_text_chars = max_text_chars
        self.cpu_bf16 = cpu_bf16
        self.griffinlim_iters = griffinlim_iters
        self.waveglow_sigma = waveglow_sigma
        self.last_stats = SynthesisStats()
        self._context_frames = context
        self._inverse_mel: InverseMelScale | None = None
        self._griffin_lim: GriffinLim | None = None

    # --- public ------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.mel.sample_rate

    @property
    def settings(self) -> dict[str, object]:
        """What, besides text and seed, decides a clip: recorded with every result."""
        return {
            "engine": "tacotron2",
            "acoustic": self.acoustic.source_format,
            "vocoder": self.vocoder.kind,
            "vocoder_format": self.vocoder.source_format,
            "gate_threshold": self.gate_threshold,
            "griffinlim_iters": self.griffinlim_iters,
            "waveglow_sigma": self.waveglow_sigma,
            "device": self.device,
            "cpu_bf16": self.cpu_bf16,
        }

    @property
    def peak_memory_bytes(self) -> int:
        """Peak memory of the last ``synthesize`` call (see ``SynthesisStats``)."""
        return self.last_stats.peak_memory_bytes

    def step_limit(self, n_symbols: int) -> int:
        """Decoder steps an item of ``n_symbols`` symbols may take."""
        cap = self.max_decoder_steps if self.max_decoder_steps is not None else 2000
        if self.ignore_stop_token and self.max_decoder_steps is not None:
            return cap
        return max(
            1, min(cap, int(self.decoder_steps_base + self.decoder_steps_per_char * n_symbols))
        )

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[SynthesisResult]:
        """Synthesise every request; one result per request, in order.

        Problems of one request (empty or over-long text, characters the symbol set cannot
        encode, a decoder that never stops) become that result's ``error``; the others are
        unaffected.
        """
        started = time.perf_counter()
        stats = SynthesisStats()
        if self._device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self._device)
        prepared = [self._prepare(request) for request in requests]
        items = [item for p in prepared for item in p.items]
        stats.items = len(items)
        for batch in self._batches(items):
            stats.batches += 1
            t0 = time.perf_counter()
            self._decode(batch)
            t1 = time.perf_counter()
            vocoded = [item for item in batch if item.stopped]
            self._vocode(vocoded)
            t2 = time.perf_counter()
            stats.decoder_seconds += t1 - t0
            stats.vocoder_seconds += t2 - t1
            # Both stages cost about the same per mel frame whatever the item, so the batch's
            # time is shared out by frames.
            for share, group in ((t1 - t0, batch), (t2 - t1, vocoded)):
                frames = sum(item.frames for item in group) or 1
                for item in group:
                    item.seconds += share * item.frames / frames
        results = [self._assemble(request, p) for request, p in zip(requests, prepared)]
        stats.wall_seconds = time.perf_counter() - started
        stats.audio_seconds = sum(r.duration_s for r in results if r.ok)
        if self._device.type == "cuda":
            stats.peak_memory_bytes = int(torch.cuda.max_memory_allocated(self._device))
            stats.peak_memory_source = "torch.cuda.max_memory_allocated"
        else:
            stats.peak_memory_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            stats.peak_memory_source = "ru_maxrss (process high-water mark)"
        self.last_stats = stats
        return results

    # --- steps -------------------------------------------------------------------------------

    def _prepare(self, request: SynthesisRequest) -> PreparedRequest[_Item]:
        def piece_item(index: int, piece: str, seed: int) -> _Item:
            tokens = text_to_sequence(piece, self.acoustic.symbol_set)
            return _Item(piece=index, tokens=tokens, seed=seed, limit=self.step_limit(len(tokens)))

        return prepare_request(request, self.max_text_chars, piece_item)

    def _batches(self, items: list[_Item]) -> list[list[_Item]]:
        ordered = sorted(items, key=lambda item: -len(item.tokens))
        batches: list[list[_Item]] = []
        current: list[_Item] = []
        budget = 0
        for item in ordered:
            if current and (
                budget + item.limit > self.max_batch_frames or len(current) >= self.max_batch_items
            ):
                batches.append(current)
                current, budget = [], 0
            current.append(item)
            budget += item.limit
        if current:
            batches.append(current)
        return batches

    def _autocast(self):
        if self._device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        if self.cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return nullcontext()

    def _decode(self, batch: list[_Item]) -> None:
        with torch.inference_mode(), self._autocast():
            decoded = decode_batch(
                self.model,
                [item.tokens for item in batch],
                [item.seed for item in batch],
                [item.limit for item in batch],
                gate_threshold=self.gate_threshold,
                ignore_stop_token=self.ignore_stop_token,
            )
        for item, result in zip(batch, decoded):
            item.mel = result.mel.float()
            item.stopped = result.stopped

    def _vocode(self, items: list[_Item]) -> None:
        if not items:
            return
        if self.vocoder.kind == "griffinlim":
            for item in items:
                item.samples = self._griffinlim(item.mel, item.seed)
            return
        if self.vocoder.kind in ("waveglow", "pwg"):
            for item in items:
                item.samples = self._noise_vocoder(item.mel, item.seed)
            return
        self._hifigan(items)

    def _noise_vocoder(self, mel: Tensor, seed: int) -> np.ndarray:
        """WaveGlow or Parallel WaveGAN on one whole item, its noise drawn from the item's seed.

        One item per call: both draw noise for every sample, and a batch's padding would change
        the draw of the items after the first. ``frames * hop`` samples.
        """
        assert self.generator is not None
        noise = torch.Generator(device=self._device).manual_seed(seed)
        with torch.inference_mode(), self._autocast():
            if self.vocoder.kind == "waveglow":
                audio = self.generator(mel[None], generator=noise, sigma=self.waveglow_sigma)
            else:
                audio = self.generator(mel[None], generator=noise)
        return audio[0].float().cpu().numpy()

    def _hifigan(self, items: list[_Item]) -> None:
        """Vocode in tiles: at most ``vocoder_chunk_frames`` frames of one item per tile.

        A tile carries ``context`` frames on each side (the item's neighbouring frames, or
        silence beyond its ends). Since no output sample depends on frames further away than
        the generator's receptive field, each tile's central samples are exactly those of
        the whole item padded with silence, whatever the tiling or the batch.
        """
        assert self.generator is not None
        hop, context = self.mel.hop_length, self._context_frames
        chunk = self.vocoder_chunk_frames
        padded: dict[int, Tensor] = {}
        tiles: list[tuple[_Item, int, int]] = []
        for item in items:
            assert item.mel is not None
            frames = item.mel.shape[-1]
            padded[id(item)] = F.pad(item.mel, (context, context), value=LOG_MEL_SILENCE)
            item.samples = np.empty(frames * hop, dtype=np.float32)
            tiles.extend(
                (item, start, min(frames, start + chunk)) for start in range(0, frames, chunk)
            )
        tiles.sort(key=lambda tile: tile[1] - tile[2])  # longest first
        groups: list[list[tuple[_Item, int, int]]] = []
        for tile in tiles:
            if groups:
                width = groups[-1][0][2] - groups[-1][0][1] + 2 * context
                if (len(groups[-1]) + 1) * width <= self.vocoder_batch_frames:
                    groups[-1].append(tile)
                    continue
            groups.append([tile])
        for group in groups:
            width = group[0][2] - group[0][1] + 2 * context
            batch = torch.full(
                (len(group), self.mel.n_mels, width), LOG_MEL_SILENCE, device=self._device
            )
            for row, (item, start, end) in enumerate(group):
                batch[row, :, : end - start + 2 * context] = padded[id(item)][
                    :, start : end + 2 * context
                ]
            with torch.inference_mode(), self._autocast():
                audio = self.generator(batch).float().cpu().numpy()
            for row, (item, start, end) in enumerate(group):
                assert item.samples is not None
                item.samples[start * hop : end * hop] = audio[
                    row, context * hop : (context + end - start) * hop
                ]

    def _griffinlim(self, mel: Tensor, seed: int) -> np.ndarray:
        """torchaudio's TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH vocoder, seeded, ``frames * hop`` long.

        As in the bundle: undo the log compression (``exp``), invert the slaney mel filterbank
        by least squares, run Griffin-Lim (power 1, momentum 0.99) from a random phase. A
        centred STFT of ``n`` frames spans ``(n - 1) * hop`` samples, so one silent frame is
        appended to cover the last frame's hop.
        """
        settings = self.mel
        if self._inverse_mel is None:
            self._inverse_mel = InverseMelScale(
                n_stft=settings.n_fft // 2 + 1,
                n_mels=settings.n_mels,
                sample_rate=settings.sample_rate,
                f_min=settings.f_min,
                f_max=settings.f_max,
                mel_scale="slaney",
                norm="slaney",
            ).to(self._device)
            self._griffin_lim = GriffinLim(
                n_fft=settings.n_fft,
                n_iter=self.griffinlim_iters,
                win_length=settings.win_length,
                hop_length=settings.hop_length,
                power=1.0,
            ).to(self._device)
        padded = F.pad(mel.float(), (0, 1), value=LOG_MEL_SILENCE)
        devices = [self._device] if self._device.type == "cuda" else []
        with torch.inference_mode(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            audio = self._griffin_lim(self._inverse_mel(torch.exp(padded)))
        return audio.cpu().numpy().astype(np.float32)

    def _assemble(
        self, request: SynthesisRequest, prepared: PreparedRequest[_Item]
    ) -> SynthesisResult:
        error = prepared.error
        n = len(prepared.items)
        stuck = [item for item in prepared.items if not item.stopped]
        if error is None and stuck:
            item = stuck[0]
            where = f" in piece {item.piece + 1} of {n}" if n > 1 else ""
            error = (
                f"{NO_STOP_TOKEN}{where}: the decoder ran its limit of {item.limit} steps "
                f"for {len(item.tokens)} symbols without the stop token firing. The "
                "checkpoint may be undertrained or not match the text's symbol set."
            )
        return pieces_result(
            request,
            prepared.items,
            sample_rate=self.mel.sample_rate,
            device=self.device,
            settings=self.settings,
            error=error,
        )
