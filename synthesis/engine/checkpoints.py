"""Checkpoint loaders: public weight files in, ready-to-run models with their mel settings out.

Data flow: a Voice's checkpoint path (``synthesis.models``, resolved by the worker) -> this
module -> ``synthesizer.Synthesizer``. Nothing here runs a network; see ``tacotron2.py`` and
``hifigan.py`` for that.

Formats read:

- Tacotron2, NVIDIA naming: ``tacotron2_statedict.pt`` from NVIDIA/tacotron2 and the
  checkpoints of NVIDIA/DeepLearningExamples (``PyTorch/SpeechSynthesis/Tacotron2``), weights
  under ``"state_dict"``. Their convolutions and linear layers sit inside ``ConvNorm`` /
  ``LinearNorm`` wrappers, so a key carries one more component than torchaudio's
  (``decoder.gate_layer.linear_layer.weight`` is torchaudio's ``decoder.gate_layer.weight``,
  ``encoder.convolutions.0.0.conv.weight`` is ``encoder.convolutions.0.0.weight``). Training
  with DistributedDataParallel adds a ``module.`` prefix; older BatchNorm layers lack
  ``num_batches_tracked``. DeepLearningExamples files also carry the optimizer, RNG states and
  the model config next to the weights.
- Tacotron2, torchaudio naming: the bundle weights (``tacotron2_english_characters_*.pth``) are
  a plain state dict of ``torchaudio.models.Tacotron2``; a plain or wrapped state dict in either
  naming is accepted too.
- HiFi-GAN: the authors' ``generator_v1``/``v2``/``v3`` (and ``g_*`` training) files,
  ``{"generator": state_dict}`` with weight-norm parameters ``weight_g``/``weight_v``, with or
  without the ``config.json`` that came with them.
- WaveGlow, DeepLearningExamples: ``{"state_dict": ..., "config": ..., "optimizer": ...}`` with
  the ``module.`` prefix of DistributedDataParallel (also a plain state dict).
- WaveGlow, NVIDIA/waveglow (``waveglow_256channels_universal_v5.pt``): ``{"model": WaveGlow,
  ...}``, the whole module object pickled. It is unpickled without running code from the file:
  only ``glow.WaveGlow``/``WN``/``Invertible1x1Conv`` (as inert module shells), torch's own
  convolution, container and weight-norm classes are let through, and the shell's state dict
  is then loaded like any other. Anything else in the file is refused by name.
- Parallel WaveGAN (kan-bayashi/ParallelWaveGAN): ``checkpoint-*.pkl`` (a torch file,
  ``{"model": {"generator": ..., "discriminator": ...}, "steps": ...}``) with the
  ``config.yml`` and ``stats.npy`` of its experiment directory.

``load_vocoder`` tells the vocoder formats apart by their keys and names what it found otherwise.

Every file is read with ``torch.load(weights_only=True)``: a checkpoint is untrusted input and
must not run code. Shapes are read off the tensors, so smaller or larger variants of the
networks load as well.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml
from numpy._core import multiarray as np_multiarray
from torch import Tensor
from torch.nn.utils.weight_norm import WeightNorm
from torchaudio.models import Tacotron2

from .hifigan import V3, HiFiGANConfig, HiFiGANGenerator, fold_weight_norm
from .pwg import ParallelWaveGANGenerator, PWGConfig, PWGVocoder
from .tacotron2 import Tacotron2Params, build_tacotron2, params_from_state_dict
from .text import SymbolSet, symbols
from .waveglow import WaveGlow, WaveGlowConfig

__all__ = [
    "LJSPEECH_MEL",
    "acoustic_from_bundle_model",
    "CheckpointError",
    "LoadedTacotron2",
    "LoadedVocoder",
    "MelSettings",
    "MelSettingsMismatch",
    "check_mel_settings",
    "griffinlim_vocoder",
    "load_acoustic",
    "load_hifigan",
    "load_pwg",
    "load_vocoder",
    "load_waveglow",
    "read_hifigan_config",
]


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file, the cause and the fix."""


class MelSettingsMismatch(ValueError):
    """The acoustic model and the vocoder disagree on the mel spectrogram they exchange."""


@dataclass(frozen=True)
class MelSettings:
    """The mel spectrogram an acoustic model produces or a vocoder consumes.

    Both sides must agree field by field; ``check_mel_settings`` compares them before any
    synthesis, because a mismatched pair produces plausible-looking noise, not an error.
    """

    sample_rate: int = 22050
    n_mels: int = 80
    hop_length: int = 256
    win_length: int = 1024
    n_fft: int = 1024
    f_min: float = 0.0
    f_max: float = 8000.0

    def differences(self, other: MelSettings) -> list[str]:
        return [
            f.name
            for f in fields(self)
            if float(getattr(self, f.name)) != float(getattr(other, f.name))
        ]


# NVIDIA/tacotron2 hparams, torchaudio's TACOTRON2_*_CHAR_LJSPEECH bundles and HiFi-GAN's
# config_v1/v2/v3 all use these (LJSpeech, 22050 Hz).
LJSPEECH_MEL = MelSettings()


def check_mel_settings(acoustic: MelSettings, vocoder: MelSettings) -> None:
    """Raise ``MelSettingsMismatch`` naming every field where the two differ, with both values."""
    differing = acoustic.differences(vocoder)
    if differing:
        details = "; ".join(
            f"{name}: acoustic model {getattr(acoustic, name)}, vocoder {getattr(vocoder, name)}"
            for name in differing
        )
        raise MelSettingsMismatch(
            f"The acoustic model and the vocoder use different mel spectrograms ({details}). "
            "Pair the Tacotron2 checkpoint with a vocoder trained on the same mel settings."
        )


@dataclass
class LoadedTacotron2:
    """A Tacotron2 ready for inference (eval mode, on the CPU until the synthesizer moves it)."""

    model: Tacotron2
    symbol_set: SymbolSet
    mel: MelSettings
    params: Tacotron2Params
    source_format: str
    path: str


@dataclass
class LoadedVocoder:
    """A vocoder and the mel settings it expects.

    ``kind`` is ``"hifigan"``, ``"waveglow"`` or ``"pwg"`` (``generator`` set: a module from
    natural-log mel ``(batch, n_mels, frames)`` to samples ``(batch, frames * hop)``; WaveGlow
    and Parallel WaveGAN also take a ``torch.Generator`` for their noise) or ``"griffinlim"``
    (no weights; the mel settings alone define it). ``config`` is the network's configuration.
    """

    kind: Literal["hifigan", "griffinlim", "waveglow", "pwg"]
    mel: MelSettings
    generator: torch.nn.Module | None = None
    config: HiFiGANConfig | WaveGlowConfig | PWGConfig | None = None
    path: str = ""
    source_format: str = ""


# --- Reading files ---------------------------------------------------------------------------

# Harmless non-tensor metadata found next to the weights in published training checkpoints
# (argparse namespaces of hyper-parameters, numpy scalars in logged values). Only these are let
# through the weights-only unpickler; anything else is refused with its name.
_METADATA_GLOBALS: dict[str, Any] = {
    "argparse.Namespace": argparse.Namespace,
    "numpy.dtype": np.dtype,
    # numpy 1.x pickles name the scalar helper numpy.core..., numpy 2.x numpy._core...
    "numpy.core.multiarray.scalar": np_multiarray.scalar,
    "numpy._core.multiarray.scalar": np_multiarray.scalar,
    **{
        f"numpy.dtypes.{name}": getattr(np.dtypes, name)
        for name in dir(np.dtypes)
        if name.endswith("DType")
    },
}


def _describe_keys(keys: Iterable[str], limit: int = 4) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    more = f", ... ({len(keys)} in all)" if len(keys) > limit else f" ({len(keys)} in all)"
    return shown + more if keys else "none"


def _read_torch_file(
    path: str | os.PathLike[str], what: str, allowed: Mapping[str, Any] | None = None
) -> Any:
    """``torch.load`` with ``weights_only=True``, turning every failure into CheckpointError.

    ``allowed`` maps further pickled globals (``"module.Name"``) to the objects the unpickler
    may build for them."""
    name = os.fspath(path)
    permitted = {**_METADATA_GLOBALS, **(allowed or {})}
    if not os.path.exists(name):
        raise CheckpointError(f"{name}: no such file; check the {what} checkpoint path.")
    if os.path.isdir(name):
        raise CheckpointError(f"{name} is a directory; give the {what} checkpoint file itself.")
    if os.path.getsize(name) == 0:
        raise CheckpointError(f"{name} is empty (0 bytes); download the {what} checkpoint again.")
    try:
        return torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" not in str(error) and "Weights only" not in str(error):
            raise _unreadable(name, what, error) from error
        try:
            found = torch.serialization.get_unsafe_globals_in_checkpoint(name)
        except Exception:  # the legacy (non-zip) format cannot be scanned: try what we permit
            found = list(allowed) if allowed else []
        if not found:  # not a pickle of globals at all: garbage or a damaged file
            raise _unreadable(name, what, error) from error
        unknown = [g for g in found if g not in permitted]
        if not unknown:
            with torch.serialization.safe_globals([(permitted[g], g) for g in found]):
                try:
                    return torch.load(name, map_location="cpu", weights_only=True)
                except Exception as retry_error:
                    raise _unreadable(name, what, retry_error) from retry_error
        raise CheckpointError(
            f"{name} holds Python objects besides tensors ({', '.join(unknown)}) that cannot be "
            "loaded without running code from the file. Where you trust the file, re-save only the "
            "weights, e.g. torch.save({'state_dict': ckpt['state_dict']}, 'weights.pt'), and "
            "use that file."
        ) from error
    except Exception as error:
        # Garbage bytes fail the unpickler in many ways
        # (IndexError, KeyError, EOFError, BadZipFile, ...): each means "not a checkpoint".
        raise _unreadable(name, what, error) from error


def _unreadable(name: str, what: str, error: BaseException) -> CheckpointError:
    cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return CheckpointError(
        f"{name} is not a readable PyTorch {what} checkpoint ({cause[:200]}). The file is "
        "truncated, corrupt or not a checkpoint: download it again and compare its sha256."
    )


def _strip_prefix(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def _tensors_only(state: Mapping[str, Any]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if isinstance(v, Tensor)}


# --- Tacotron2 -------------------------------------------------------------------------------

# NVIDIA's ConvNorm keeps its Conv1d as `.conv`, LinearNorm its Linear as `.linear_layer`;
# torchaudio uses the bare modules. The wrapper component always sits right before the
# parameter name.
_NVIDIA_WRAPPER_RE = re.compile(r"\.(conv|linear_layer)\.(weight|bias)$")


def _is_nvidia_naming(keys: Iterable[str]) -> bool:
    return any(_NVIDIA_WRAPPER_RE.search(k) for k in keys)


def nvidia_to_torchaudio(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an NVIDIA Tacotron2 state dict to torchaudio's module names."""
    return {_NVIDIA_WRAPPER_RE.sub(r".\2", k): v for k, v in state.items()}


def _unwrap_tacotron2(obj: Any, name: str) -> tuple[dict[str, Any], str]:
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{name} holds a {type(obj).__name__}, not a state dict; expected a Tacotron2 "
            "checkpoint (NVIDIA tacotron2_statedict.pt, DeepLearningExamples or torchaudio)."
        )
    for wrapper in ("state_dict", "model", "model_state_dict"):
        inner = obj.get(wrapper)
        if isinstance(inner, Mapping) and any(isinstance(v, Tensor) for v in inner.values()):
            return dict(inner), f"'{wrapper}' entry"
    return dict(obj), "plain state dict"


_SYMBOL_SET_SIZES = {len(symbols(s)): s for s in SymbolSet}


def load_acoustic(
    path: str | os.PathLike[str],
    *,
    mel: MelSettings | None = None,
    symbol_set: SymbolSet | str | None = None,
    gate_threshold: float = 0.5,
) -> LoadedTacotron2:
    """Load a Tacotron2 checkpoint in any supported layout (see the module docstring).

    The network's dimensions and the symbol set (148 symbols: NVIDIA, 38: torchaudio) are
    read off the tensors; ``symbol_set`` overrides the latter when given. ``mel`` defaults to
    the LJSpeech settings every public Tacotron2 uses, with ``n_mels`` from the weights.
    Raises ``CheckpointError`` for unreadable files, unknown layouts and shape mismatches.
    """
    name = os.fspath(path)
    raw = _read_torch_file(name, "Tacotron2")
    inner, wrapper = _unwrap_tacotron2(raw, name)
    state = _tensors_only(_strip_prefix(inner, "module."))
    nvidia = _is_nvidia_naming(state)
    if nvidia:
        state = nvidia_to_torchaudio(state)
    naming = "NVIDIA" if nvidia else "torchaudio"
    source_format = f"{naming} naming, {wrapper}"

    try:
        params = params_from_state_dict(state)
    except (KeyError, IndexError) as error:
        reference = build_tacotron2(Tacotron2Params()).state_dict()
        raise CheckpointError(
            f"{name} is not a Tacotron2 checkpoint in a known layout: found keys "
            f"{_describe_keys(state)}; expected torchaudio/NVIDIA Tacotron2 keys such as "
            f"{_describe_keys(reference)} (missing {error})."
        ) from error

    model = build_tacotron2(params, gate_threshold=gate_threshold)
    _load_checked(model, state, name, "Tacotron2")

    if symbol_set is None:
        found = _SYMBOL_SET_SIZES.get(params.n_symbol)
        if found is None:
            known = ", ".join(f"{s.value} ({n})" for n, s in _SYMBOL_SET_SIZES.items())
            raise CheckpointError(
                f"{name} embeds {params.n_symbol} symbols; Harken's text front-end knows "
                f"{known}. Phoneme models (e.g. torchaudio's 96-symbol bundles) are not "
                "supported."
            )
        symbol_set = found
    else:
        symbol_set = SymbolSet(symbol_set)
        if len(symbols(symbol_set)) != params.n_symbol:
            raise CheckpointError(
                f"{name} embeds {params.n_symbol} symbols but the '{symbol_set.value}' symbol "
                f"set has {len(symbols(symbol_set))}; choose the matching symbol set."
            )
    mel = mel or MelSettings(n_mels=params.n_mels)
    if mel.n_mels != params.n_mels:
        raise CheckpointError(
            f"{name} predicts {params.n_mels} mel bands but the mel settings say {mel.n_mels}."
        )
    return LoadedTacotron2(
        model=model,
        symbol_set=symbol_set,
        mel=mel,
        params=params,
        source_format=source_format,
        path=name,
    )


def acoustic_from_bundle_model(model: Tacotron2, name: str = "") -> LoadedTacotron2:
    """Wrap a Tacotron2 that torchaudio already built, e.g. ``bundle.get_tacotron2()``.

    ``name`` is the bundle's name (for messages). The symbol set is read off the embedding as
    in ``load_acoustic``; torchaudio's phoneme bundles (96 symbols) are refused.
    """
    label = name or "torchaudio model"
    state = model.state_dict()
    try:
        params = params_from_state_dict(state)
    except (KeyError, IndexError) as error:
        raise CheckpointError(
            f"{label} is not a torchaudio Tacotron2 (missing {error})."
        ) from error
    symbol_set = _SYMBOL_SET_SIZES.get(params.n_symbol)
    if symbol_set is None:
        raise CheckpointError(
            f"{label} embeds {params.n_symbol} symbols; only the character bundles "
            "(38 symbols, e.g. TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH) and NVIDIA's 148 symbols "
            "are supported."
        )
    return LoadedTacotron2(
        model=model.eval(),
        symbol_set=symbol_set,
        mel=MelSettings(n_mels=params.n_mels),
        params=params,
        source_format=f"torchaudio bundle {name}".strip(),
        path=name,
    )


def _load_checked(module: torch.nn.Module, state: dict[str, Tensor], name: str, what: str) -> None:
    """``load_state_dict(strict=True)`` with messages that name keys and shapes."""
    expected = module.state_dict()
    # BatchNorm's step counter is training bookkeeping; older files do not have it.
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value.clone()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    wrong = [
        f"{key}: expected {tuple(expected[key].shape)}, found {tuple(state[key].shape)}"
        for key in sorted(set(expected) & set(state))
        if tuple(expected[key].shape) != tuple(state[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_describe_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_describe_keys(unexpected)}")
    if wrong:
        shown = "; ".join(wrong[:4]) + (f"; ... ({len(wrong)} in all)" if len(wrong) > 4 else "")
        problems.append(f"{len(wrong)} tensor(s) with the wrong shape ({shown})")
    if problems:
        raise CheckpointError(
            f"{name} does not match the {what} network its tensors describe: "
            f"{'; '.join(problems)}. Expected {len(expected)} keys such as "
            f"{_describe_keys(expected)}; found {len(state)}. The file mixes weights of "
            "different models, is damaged, or is not this kind of checkpoint."
        )
    module.load_state_dict(state, strict=True)


# --- HiFi-GAN --------------------------------------------------------------------------------


def read_hifigan_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a HiFi-GAN ``config.json``; raises ``CheckpointError`` naming the file."""
    name = os.fspath(path)
    try:
        data = json.loads(Path(name).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CheckpointError(f"{name}: no such HiFi-GAN config file.") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{name} is not a readable JSON config ({error}).") from error
    if not isinstance(data, dict):
        raise CheckpointError(f"{name} holds {type(data).__name__}; expected a JSON object.")
    return data


def _count(state: Mapping[str, Tensor], prefix: str, suffix: str) -> int:
    n = 0
    while f"{prefix}{n}{suffix}" in state:
        n += 1
    return n


def _infer_hifigan_config(state: Mapping[str, Tensor], name: str) -> HiFiGANConfig:
    """Recover a generator configuration from tensor shapes (no config.json).

    Read off the shapes: mel bands and initial channels (``conv_pre``), number and kernel
    sizes of the upsampling layers, number of resblocks per stage, resblock type (``convs1``
    for type 1, ``convs`` for type 2) and kernel sizes. Not visible in shapes, taken from the
    published family: upsampling rate = kernel / 2 (true of V1, V2 and V3, and checked against
    hop 256 below), dilations (1, 3, 5) for type 1 (V1, V2) and V3's ((1, 2), (2, 6), (3, 12))
    for type 2 with kernels (3, 5, 7). Anything else needs its config.json.
    """
    pre = state["conv_pre.weight"]  # (initial_channel, num_mels, 7)
    n_ups = _count(state, "ups.", ".weight")
    if n_ups == 0:
        raise KeyError("ups.0.weight")
    kernels = tuple(int(state[f"ups.{i}.weight"].shape[2]) for i in range(n_ups))
    rates = tuple(k // 2 for k in kernels)
    n_blocks = _count(state, "resblocks.", ".convs1.0.weight")
    resblock = "1"
    first_conv = ".convs1.0.weight"
    if n_blocks == 0:
        n_blocks = _count(state, "resblocks.", ".convs.0.weight")
        resblock, first_conv = "2", ".convs.0.weight"
    if n_blocks == 0 or n_blocks % n_ups:
        raise CheckpointError(
            f"{name}: found {n_blocks} resblocks for {n_ups} upsampling layers; expected a "
            "multiple. Pass the generator's config.json."
        )
    per_stage = n_blocks // n_ups
    res_kernels = tuple(int(state[f"resblocks.{j}{first_conv}"].shape[2]) for j in range(per_stage))
    if resblock == "1":
        dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * per_stage
    elif res_kernels == V3.resblock_kernel_sizes:
        dilations = V3.resblock_dilation_sizes
    else:
        raise CheckpointError(
            f"{name}: a type-2 generator with resblock kernels {list(res_kernels)} is not one "
            "of the published configurations, so its dilations cannot be inferred. Pass its "
            "config.json."
        )
    config = HiFiGANConfig(
        resblock=resblock,
        upsample_rates=rates,
        upsample_kernel_sizes=kernels,
        upsample_initial_channel=int(pre.shape[0]),
        resblock_kernel_sizes=res_kernels,
        resblock_dilation_sizes=dilations,
        num_mels=int(pre.shape[1]),
    )
    if config.hop_length != LJSPEECH_MEL.hop_length:
        raise CheckpointError(
            f"{name}: upsampling kernels {list(kernels)} suggest rates {list(rates)} (hop "
            f"{config.hop_length}), not the published hop of 256. Pass the generator's "
            "config.json."
        )
    return config


def _mel_from_hifigan_config(data: Mapping[str, Any], config: HiFiGANConfig) -> MelSettings:
    defaults = LJSPEECH_MEL
    sample_rate = int(data.get("sampling_rate", defaults.sample_rate))
    fmax = data.get("fmax", defaults.f_max)
    mel = MelSettings(
        sample_rate=sample_rate,
        n_mels=int(data.get("num_mels", config.num_mels)),
        hop_length=int(data.get("hop_size", config.hop_length)),
        win_length=int(data.get("win_size", defaults.win_length)),
        n_fft=int(data.get("n_fft", defaults.n_fft)),
        f_min=float(data.get("fmin", defaults.f_min)),
        f_max=float(fmax) if fmax is not None else sample_rate / 2,
    )
    if mel.hop_length != config.hop_length:
        raise ValueError(
            f"hop_size {mel.hop_length} differs from the product of upsample_rates "
            f"{list(config.upsample_rates)} = {config.hop_length}"
        )
    return mel


def load_hifigan(
    path: str | os.PathLike[str], config: Mapping[str, Any] | None = None
) -> LoadedVocoder:
    """Load a HiFi-GAN generator, folding weight norm away.

    ``config`` is the contents of the generator's ``config.json`` (see
    ``read_hifigan_config``); without it the configuration is inferred from the tensor shapes
    and the mel settings are the published LJSpeech ones. Raises ``CheckpointError``.
    """
    name = os.fspath(path)
    return _hifigan_from(_read_torch_file(name, "HiFi-GAN"), name, config)


def _hifigan_from(raw: Any, name: str, config: Mapping[str, Any] | None) -> LoadedVocoder:
    if not isinstance(raw, Mapping):
        raise CheckpointError(
            f"{name} holds a {type(raw).__name__}; expected a HiFi-GAN generator file "
            "({'generator': state_dict})."
        )
    if "generator" in raw and isinstance(raw["generator"], Mapping):
        inner: Mapping[str, Any] = raw["generator"]
    elif "mpd" in raw or "msd" in raw:
        raise CheckpointError(
            f"{name} is a HiFi-GAN discriminator/optimizer checkpoint (do_*); use the "
            "generator file (g_* or generator_*) instead."
        )
    else:
        inner = raw
    state = _tensors_only(_strip_prefix(inner, "module."))
    try:
        state = fold_weight_norm(state)
    except ValueError as error:
        raise CheckpointError(f"{name}: {error}") from error

    try:
        if config is not None:
            gen_config = HiFiGANConfig.from_json_dict(config)
        else:
            gen_config = _infer_hifigan_config(state, name)
    except KeyError as error:
        expected = HiFiGANGenerator(_tiny_reference()).state_dict()
        raise CheckpointError(
            f"{name} is not a HiFi-GAN generator in a known layout: found keys "
            f"{_describe_keys(state)}; expected keys such as {_describe_keys(expected)} "
            f"(missing {error})."
        ) from error
    except ValueError as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{name}: invalid HiFi-GAN config: {error}") from error
    try:
        mel = (
            _mel_from_hifigan_config(config, gen_config)
            if config is not None
            else MelSettings(n_mels=gen_config.num_mels, hop_length=gen_config.hop_length)
        )
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{name}: invalid HiFi-GAN config: {error}") from error

    generator = HiFiGANGenerator(gen_config)
    _load_checked(generator, state, name, "HiFi-GAN generator")
    generator.eval()
    return LoadedVocoder(
        kind="hifigan",
        mel=mel,
        generator=generator,
        config=gen_config,
        path=name,
        source_format="HiFi-GAN generator",
    )


def _tiny_reference() -> HiFiGANConfig:
    # Only used to list example key names in error messages.
    return HiFiGANConfig(
        resblock="1",
        upsample_rates=(8, 8, 2, 2),
        upsample_kernel_sizes=(16, 16, 4, 4),
        upsample_initial_channel=16,
        resblock_kernel_sizes=(3, 7, 11),
        resblock_dilation_sizes=((1, 3, 5),) * 3,
    )


# --- WaveGlow --------------------------------------------------------------------------------


class _PickledModule(torch.nn.Module):
    """What ``glow.WaveGlow``, ``glow.WN`` and ``glow.Invertible1x1Conv`` unpickle into: a module
    with the pickled parameters and submodules and no code of the file's, so its state dict can
    be read. It has no ``forward``."""


# The globals a whole-object NVIDIA/waveglow checkpoint pickles, each mapped to what the
# weights-only unpickler may build for it: inert shells for the file's own classes, torch's
# classes (built with ``__new__`` and filled from the pickled ``__dict__``: no code runs).
_WAVEGLOW_PICKLE_GLOBALS: dict[str, Any] = {
    "glow.WaveGlow": _PickledModule,
    "glow.WN": _PickledModule,
    "glow.Invertible1x1Conv": _PickledModule,
    "torch.nn.modules.conv.Conv1d": torch.nn.Conv1d,
    "torch.nn.modules.conv.ConvTranspose1d": torch.nn.ConvTranspose1d,
    "torch.nn.modules.container.ModuleList": torch.nn.ModuleList,
    "torch.nn.utils.weight_norm.WeightNorm": WeightNorm,
    "builtins.set": set,
}


def _infer_waveglow_config(
    state: Mapping[str, Tensor], name: str, config: Mapping[str, Any] | None
) -> WaveGlowConfig:
    """The configuration from tensor shapes, checked against a DeepLearningExamples config.

    Shapes give: mel bands and upsampling kernel (``upsample``), flows (``WN.K``), channels per
    flow (``convinv.K``: the group size, and where and how many channels enter early), layers,
    channels and kernel of ``WN``, and the conditioning layout. Not visible: the upsampling
    stride, taken as a quarter of the kernel (1024 / 256 in every published checkpoint) unless a
    config says otherwise.
    """
    up = state["upsample.weight"]  # (n_mel, n_mel, kernel)
    n_flows = _count(state, "WN.", ".start.weight")
    if n_flows == 0:
        raise KeyError("WN.0.start.weight")
    channels = [int(state[f"convinv.{k}.conv.weight"].shape[0]) for k in range(n_flows)]
    drops = [k for k in range(1, n_flows) if channels[k] != channels[k - 1]]
    early_every = drops[0] if drops else n_flows
    early_size = channels[0] - channels[drops[0]] if drops else 2
    shared = "WN.0.cond_layer.weight" in state
    wn_layers = _count(state, "WN.0.in_layers.", ".weight")
    start = state["WN.0.start.weight"]  # (n_channels, n_half, 1)
    cond = state["WN.0.cond_layer.weight" if shared else "WN.0.cond_layers.0.weight"]
    n_mel = int(up.shape[0])
    given = dict(config or {})
    wn_given = dict(given.get("WN_config") or {})
    inferred = WaveGlowConfig(
        n_mel_channels=n_mel,
        n_flows=n_flows,
        n_group=channels[0],
        n_early_every=early_every,
        n_early_size=early_size,
        n_layers=wn_layers,
        n_channels=int(start.shape[0]),
        kernel_size=int(state["WN.0.in_layers.0.weight"].shape[2]),
        upsample_kernel=int(up.shape[2]),
        hop_length=int(given.get("hop_length", int(up.shape[2]) // 4)),
        shared_cond_layer=shared,
    )
    if int(cond.shape[1]) != n_mel * inferred.n_group:
        raise CheckpointError(
            f"{name}: WaveGlow conditioning takes {int(cond.shape[1])} channels, not "
            f"{n_mel} mel bands x group {inferred.n_group}; the file mixes models."
        )
    if inferred.remaining_channels() != channels:
        raise CheckpointError(
            f"{name}: WaveGlow flows have {channels} channels, which no n_early_every / "
            "n_early_size explains; the file is damaged or not a WaveGlow."
        )
    for key, value in {**given, **wn_given}.items():
        if (
            hasattr(inferred, key)
            and not isinstance(value, dict)
            and value != getattr(inferred, key)
        ):
            raise CheckpointError(
                f"{name}: its config says {key} = {value}, its tensors say "
                f"{getattr(inferred, key)}; the config belongs to another model."
            )
    return inferred


def _waveglow_state(raw: Any, name: str) -> tuple[dict[str, Any], Mapping[str, Any] | None, str]:
    """(state dict, DeepLearningExamples config or None, layout) of a WaveGlow file."""
    if isinstance(raw, Mapping) and isinstance(raw.get("model"), torch.nn.Module):
        return raw["model"].state_dict(), None, "NVIDIA/waveglow whole-model pickle"
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        config = raw.get("config") if isinstance(raw.get("config"), Mapping) else None
        return dict(raw["state_dict"]), config, "DeepLearningExamples 'state_dict' entry"
    if isinstance(raw, Mapping):
        return dict(raw), None, "plain state dict"
    raise CheckpointError(f"{name} holds a {type(raw).__name__}, not a WaveGlow checkpoint.")


def load_waveglow(path: str | os.PathLike[str]) -> LoadedVocoder:
    """Load a WaveGlow in either published layout (see the module docstring).

    The mel settings are Tacotron2's (NVIDIA trained both on the same LJSpeech features) with
    the mel bands and hop of the weights. Raises ``CheckpointError``.
    """
    name = os.fspath(path)
    return _waveglow_from(_read_torch_file(name, "WaveGlow", _WAVEGLOW_PICKLE_GLOBALS), name)


def _waveglow_from(raw: Any, name: str) -> LoadedVocoder:
    inner, config, layout = _waveglow_state(raw, name)
    state = _tensors_only(_strip_prefix(inner, "module."))
    try:
        state = fold_weight_norm(state)
        wg_config = _infer_waveglow_config(state, name, config)
    except KeyError as error:
        raise CheckpointError(
            f"{name} is not a WaveGlow in a known layout: found keys {_describe_keys(state)}; "
            "expected keys such as upsample.weight, WN.0.start.weight, convinv.0.conv.weight "
            f"(missing {error})."
        ) from error
    except ValueError as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{name}: {error}") from error
    model = WaveGlow(wg_config)
    _load_checked(model, state, name, "WaveGlow")
    mel = MelSettings(n_mels=wg_config.n_mel_channels, hop_length=wg_config.hop_length)
    return LoadedVocoder(
        kind="waveglow",
        mel=mel,
        generator=model.eval().prepare(),
        config=wg_config,
        path=name,
        source_format=f"WaveGlow, {layout}",
    )


# --- Parallel WaveGAN ------------------------------------------------------------------------


def _read_pwg_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CheckpointError(
            f"{path}: no such file. A Parallel WaveGAN checkpoint needs the config.yml of its "
            "experiment directory beside it (or given explicitly)."
        ) from error
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CheckpointError(f"{path} is not a readable YAML config ({error}).") from error
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds {type(data).__name__}; expected a YAML mapping.")
    return data


def _read_pwg_stats(path: Path, n_mels: int) -> tuple[Tensor, Tensor]:
    """``stats.npy``: the training set's per-band mean and scale, shape (2, n_mels)."""
    if path.suffix == ".h5" or (not path.exists() and path.with_suffix(".h5").exists()):
        h5 = path if path.suffix == ".h5" else path.with_suffix(".h5")
        raise CheckpointError(
            f"{h5}: HDF5 statistics are not read here; save them as stats.npy beside the "
            "checkpoint (python -c \"import h5py, numpy; f = h5py.File('stats.h5'); "
            "numpy.save('stats.npy', numpy.stack([f['mean'][()], f['scale'][()]]))\")."
        )
    try:
        stats = np.load(path, allow_pickle=False)
    except FileNotFoundError as error:
        raise CheckpointError(
            f"{path}: no such file. Parallel WaveGAN models expect mels normalised with their "
            "training set's statistics; copy stats.npy from the experiment directory."
        ) from error
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable .npy file ({error}).") from error
    if stats.shape != (2, n_mels):
        raise CheckpointError(
            f"{path} holds an array of shape {stats.shape}; expected (2, {n_mels}): the mean "
            "and scale of each mel band."
        )
    if not np.all(np.isfinite(stats)) or np.any(stats[1] <= 0):
        raise CheckpointError(f"{path}: the scales must be positive and finite.")
    return torch.from_numpy(stats[0].astype(np.float32)), torch.from_numpy(
        stats[1].astype(np.float32)
    )


def _mel_from_pwg_config(data: Mapping[str, Any], config: PWGConfig) -> MelSettings:
    sample_rate = int(data["sampling_rate"])
    fft = int(data.get("fft_size", 1024))
    fmin, fmax = data.get("fmin"), data.get("fmax")
    mel = MelSettings(
        sample_rate=sample_rate,
        n_mels=int(data.get("num_mels", config.aux_channels)),
        hop_length=int(data.get("hop_size", config.hop_length)),
        win_length=int(data.get("win_length") or fft),
        n_fft=fft,
        f_min=float(fmin) if fmin is not None else 0.0,
        f_max=float(fmax) if fmax is not None else sample_rate / 2,
    )
    if mel.hop_length != config.hop_length:
        raise ValueError(
            f"hop_size {mel.hop_length} differs from the product of upsample_scales "
            f"{list(config.upsample_scales)} = {config.hop_length}"
        )
    if mel.n_mels != config.aux_channels:
        raise ValueError(f"num_mels {mel.n_mels} differs from aux_channels {config.aux_channels}")
    return mel


def load_pwg(
    path: str | os.PathLike[str],
    config: Mapping[str, Any] | None = None,
    stats: str | os.PathLike[str] | None = None,
) -> LoadedVocoder:
    """Load a Parallel WaveGAN ``checkpoint-*.pkl`` with its ``config.yml`` and ``stats.npy``.

    ``config`` is the config's contents; by default ``config.yml`` is read from the
    checkpoint's directory, and so is ``stats.npy`` unless ``stats`` names it. Only
    ``ParallelWaveGANGenerator`` generators are supported. Raises ``CheckpointError``.
    """
    name = os.fspath(path)
    return _pwg_from(_read_torch_file(name, "Parallel WaveGAN"), name, config, stats)


def _pwg_from(
    raw: Any,
    name: str,
    config: Mapping[str, Any] | None,
    stats: str | os.PathLike[str] | None,
) -> LoadedVocoder:
    directory = Path(name).parent
    data = dict(config) if config is not None else _read_pwg_config(directory / "config.yml")
    kind = data.get("generator_type", "ParallelWaveGANGenerator")
    if kind != "ParallelWaveGANGenerator":
        raise CheckpointError(
            f"{name}: its config names generator_type {kind!r}; only ParallelWaveGANGenerator "
            "is supported (MelGAN, HiFi-GAN and the others of that project are not)."
        )
    if isinstance(raw, Mapping) and isinstance(raw.get("model"), Mapping):
        inner = raw["model"].get("generator")
    else:
        inner = raw
    if not isinstance(inner, Mapping):
        raise CheckpointError(
            f"{name} holds no Parallel WaveGAN generator (expected {{'model': {{'generator': "
            "state_dict, ...}, 'steps': ...}} as the project's trainer saves)."
        )
    state = _tensors_only(_strip_prefix(inner, "module."))
    # The project's generator may carry the statistics as buffers (register_stats).
    mean_scale = (state.pop("mean", None), state.pop("scale", None))
    try:
        state = fold_weight_norm(state)
        pwg_config = PWGConfig.from_generator_params(dict(data.get("generator_params") or {}))
        mel = _mel_from_pwg_config(data, pwg_config)
    except KeyError as error:
        raise CheckpointError(f"{name}: its config.yml lacks {error}.") from error
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{name}: invalid Parallel WaveGAN config: {error}") from error
    generator = ParallelWaveGANGenerator(pwg_config)
    _load_checked(generator, state, name, "Parallel WaveGAN generator")
    if stats is not None or mean_scale[0] is None:
        mean, scale = _read_pwg_stats(
            Path(stats) if stats is not None else directory / "stats.npy", mel.n_mels
        )
    else:
        mean, scale = mean_scale
    return LoadedVocoder(
        kind="pwg",
        mel=mel,
        generator=PWGVocoder(generator.eval(), mean, scale).eval(),
        config=pwg_config,
        path=name,
        source_format="Parallel WaveGAN checkpoint",
    )


# --- Any vocoder -----------------------------------------------------------------------------


def _vocoder_format(raw: Any) -> str | None:
    """ "hifigan", "waveglow", "pwg" or None, from the file's layout and key names."""
    if not isinstance(raw, Mapping):
        return None
    if isinstance(raw.get("model"), torch.nn.Module):
        return "waveglow"
    if isinstance(raw.get("model"), Mapping) and "generator" in raw["model"]:
        return "pwg"
    if isinstance(raw.get("generator"), Mapping) or "mpd" in raw or "msd" in raw:
        return "hifigan"
    inner = raw.get("state_dict") if isinstance(raw.get("state_dict"), Mapping) else raw
    keys = set(_strip_prefix(inner, "module."))
    if "upsample.weight" in keys and any(k.startswith("WN.0.") for k in keys):
        return "waveglow"
    if "conv_pre.weight" in keys or "conv_pre.weight_v" in keys:
        return "hifigan"
    if any(k.startswith("first_conv.") for k in keys) and any(
        k.startswith("conv_layers.0.") for k in keys
    ):
        return "pwg"
    return None


def load_vocoder(
    path: str | os.PathLike[str],
    config: Mapping[str, Any] | None = None,
    *,
    stats: str | os.PathLike[str] | None = None,
) -> LoadedVocoder:
    """Load a HiFi-GAN, WaveGlow or Parallel WaveGAN checkpoint, its format detected.

    ``config``: HiFi-GAN's config.json or Parallel WaveGAN's config.yml contents (optional for
    HiFi-GAN; read from beside the checkpoint for Parallel WaveGAN). ``stats``: Parallel
    WaveGAN's stats.npy. Raises ``CheckpointError`` naming the file and what it holds when
    the format is none of these.
    """
    name = os.fspath(path)
    raw = _read_torch_file(name, "vocoder", _WAVEGLOW_PICKLE_GLOBALS)
    kind = _vocoder_format(raw)
    if kind == "hifigan":
        return _hifigan_from(raw, name, config)
    if kind == "waveglow":
        return _waveglow_from(raw, name)
    if kind == "pwg":
        return _pwg_from(raw, name, config, stats)
    if isinstance(raw, Mapping):
        inner = raw.get("state_dict") if isinstance(raw.get("state_dict"), Mapping) else raw
        found = f"keys {_describe_keys(str(k) for k in inner)}"
    else:
        found = f"a {type(raw).__name__}"
    raise CheckpointError(
        f"{name} is not a vocoder checkpoint Harken knows: it holds {found}. Expected a "
        "HiFi-GAN generator ({'generator': ...} with conv_pre.*), a WaveGlow (upsample.*, "
        "WN.*, convinv.*; DeepLearningExamples or NVIDIA/waveglow) or a Parallel WaveGAN "
        "checkpoint-*.pkl ({'model': {'generator': ...}}), or 'griffinlim'."
    )


def griffinlim_vocoder(mel: MelSettings = LJSPEECH_MEL) -> LoadedVocoder:
    """Griffin-Lim phase reconstruction; needs no weights.

    With the default settings it reproduces torchaudio's TACOTRON2_GRIFFINLIM_CHAR_LJSPEECH
    vocoder (slaney mel scale and norm, 22050 Hz, n_fft 1024, hop 256, 80 mels, 0-8000 Hz).
    """
    return LoadedVocoder(kind="griffinlim", mel=mel, source_format="Griffin-Lim")
