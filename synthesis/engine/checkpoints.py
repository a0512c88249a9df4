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
Vocoder checkpoints (HiFi-GAN, WaveGlow, Parallel WaveGAN) are read by ``vocoders.py`` with the
helpers here.

Every file is read with ``torch.load(weights_only=True)``: a checkpoint is untrusted input and
must not run code. Shapes are read off the tensors, so smaller or larger variants of the
networks load as well.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from numpy._core import multiarray as np_multiarray
from torch import Tensor
from torchaudio.models import Tacotron2

from .hifigan import HiFiGANConfig
from .mel import LJSPEECH_MEL, MelSettings, MelSettingsMismatch, check_mel_settings
from .pwg import PWGConfig
from .tacotron2 import Tacotron2Params, build_tacotron2, params_from_state_dict
from .text import SymbolSet, symbol_set_of_size, symbol_set_sizes, symbols
from .waveglow import WaveGlowConfig

__all__ = [
    "LJSPEECH_MEL",
    "acoustic_from_bundle_model",
    "CheckpointError",
    "LoadedTacotron2",
    "LoadedVocoder",
    "MelSettings",
    "MelSettingsMismatch",
    "check_mel_settings",
    "load_acoustic",
]


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file, the cause and the fix."""


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


def describe_keys(keys: Iterable[str], limit: int = 4) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    more = f", ... ({len(keys)} in all)" if len(keys) > limit else f" ({len(keys)} in all)"
    return shown + more if keys else "none"


def unknown_layout(
    name: str, model: str, state: Iterable[str], expected: str, error: KeyError
) -> CheckpointError:
    """The CheckpointError for ``name`` whose keys are not ``model``'s: the keys it has, the
    ``expected`` ones and the key found missing (``error``)."""
    return CheckpointError(
        f"{name} is not a {model} in a known layout: found keys {describe_keys(state)}; "
        f"expected {expected} (missing {error})."
    )


def read_torch_file(
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


def strip_prefix(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def tensors_only(state: Mapping[str, Any]) -> dict[str, Tensor]:
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
    raw = read_torch_file(name, "Tacotron2")
    inner, wrapper = _unwrap_tacotron2(raw, name)
    state = tensors_only(strip_prefix(inner, "module."))
    nvidia = _is_nvidia_naming(state)
    if nvidia:
        state = nvidia_to_torchaudio(state)
    naming = "NVIDIA" if nvidia else "torchaudio"
    source_format = f"{naming} naming, {wrapper}"

    try:
        params = params_from_state_dict(state)
    except (KeyError, IndexError) as error:
        reference = build_tacotron2(Tacotron2Params()).state_dict()
        expected = f"torchaudio/NVIDIA Tacotron2 keys such as {describe_keys(reference)}"
        raise unknown_layout(name, "Tacotron2 checkpoint", state, expected, error) from error

    model = build_tacotron2(params, gate_threshold=gate_threshold)
    load_checked(model, state, name, "Tacotron2")

    if symbol_set is None:
        found = symbol_set_of_size(params.n_symbol)
        if found is None:
            known = symbol_set_sizes()
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
    symbol_set = symbol_set_of_size(params.n_symbol)
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


def load_checked(module: torch.nn.Module, state: dict[str, Tensor], name: str, what: str) -> None:
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
        problems.append(f"missing keys {describe_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {describe_keys(unexpected)}")
    if wrong:
        shown = "; ".join(wrong[:4]) + (f"; ... ({len(wrong)} in all)" if len(wrong) > 4 else "")
        problems.append(f"{len(wrong)} tensor(s) with the wrong shape ({shown})")
    if problems:
        raise CheckpointError(
            f"{name} does not match the {what} network its tensors describe: "
            f"{'; '.join(problems)}. Expected {len(expected)} keys such as "
            f"{describe_keys(expected)}; found {len(state)}. The file mixes weights of "
            "different models, is damaged, or is not this kind of checkpoint."
        )
    module.load_state_dict(state, strict=True)
