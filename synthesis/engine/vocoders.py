"""Vocoder loaders: HiFi-GAN, WaveGlow and Parallel WaveGAN checkpoints in their public formats.

Data flow: a Voice's vocoder path -> :func:`load_vocoder` (the format told apart by its keys)
-> a ``LoadedVocoder`` with its mel settings, checked against the acoustic model's
(``checkpoints.check_mel_settings``) -> ``synthesizer.Synthesizer``. The networks themselves
are in ``hifigan.py``, ``waveglow.py`` and ``pwg.py``; reading files safely is shared with the
acoustic loaders in ``checkpoints.py``.

Formats read:

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
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor
from torch.nn.utils.weight_norm import WeightNorm

from .checkpoints import (
    LJSPEECH_MEL,
    CheckpointError,
    LoadedVocoder,
    MelSettings,
    describe_keys,
    load_checked,
    read_torch_file,
    strip_prefix,
    tensors_only,
    unknown_layout,
)
from .hifigan import V3, HiFiGANConfig, HiFiGANGenerator, fold_weight_norm
from .pwg import ParallelWaveGANGenerator, PWGConfig, PWGVocoder
from .waveglow import WaveGlow, WaveGlowConfig

__all__ = [
    "griffinlim_vocoder",
    "load_hifigan",
    "load_pwg",
    "load_vocoder",
    "load_waveglow",
    "read_hifigan_config",
]

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
    return _hifigan_from(read_torch_file(name, "HiFi-GAN"), name, config)


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
    state = tensors_only(strip_prefix(inner, "module."))
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
        expected = describe_keys(HiFiGANGenerator(_tiny_reference()).state_dict())
        raise unknown_layout(
            name, "HiFi-GAN generator", state, f"keys such as {expected}", error
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
    load_checked(generator, state, name, "HiFi-GAN generator")
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
    return _waveglow_from(read_torch_file(name, "WaveGlow", _WAVEGLOW_PICKLE_GLOBALS), name)


def _waveglow_from(raw: Any, name: str) -> LoadedVocoder:
    inner, config, layout = _waveglow_state(raw, name)
    state = tensors_only(strip_prefix(inner, "module."))
    try:
        state = fold_weight_norm(state)
        wg_config = _infer_waveglow_config(state, name, config)
    except KeyError as error:
        expected = "keys such as upsample.weight, WN.0.start.weight, convinv.0.conv.weight"
        raise unknown_layout(name, "WaveGlow", state, expected, error) from error
    except ValueError as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{name}: {error}") from error
    model = WaveGlow(wg_config)
    load_checked(model, state, name, "WaveGlow")
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
    return _pwg_from(read_torch_file(name, "Parallel WaveGAN"), name, config, stats)


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
    state = tensors_only(strip_prefix(inner, "module."))
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
    load_checked(generator, state, name, "Parallel WaveGAN generator")
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
    keys = set(strip_prefix(inner, "module."))
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
    raw = read_torch_file(name, "vocoder", _WAVEGLOW_PICKLE_GLOBALS)
    kind = _vocoder_format(raw)
    if kind == "hifigan":
        return _hifigan_from(raw, name, config)
    if kind == "waveglow":
        return _waveglow_from(raw, name)
    if kind == "pwg":
        return _pwg_from(raw, name, config, stats)
    if isinstance(raw, Mapping):
        inner = raw.get("state_dict") if isinstance(raw.get("state_dict"), Mapping) else raw
        found = f"keys {describe_keys(str(k) for k in inner)}"
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
