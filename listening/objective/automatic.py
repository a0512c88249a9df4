"""DistillMOS: an automatic estimate of the MOS a clip would get, made for speech quality.

Where it sits: a pure function (no Django) beside the objective measures. Audio in, a 1-5
estimate out; the per-clip cache and the report columns call it.

DistillMOS (the ``distillmos`` package, MIT, weights ``distill_mos_v7.pt`` inside its wheel) is
a small convolutional transformer distilled from an XLS-R based speech quality model (Stahl
and Gamper, ICASSP 2025); its training data include the VoiceMOS 2022 challenge's synthetic
speech, which makes it a better fit for TTS than DNSMOS, a model of noise suppression.
It reads 16 kHz mono: other rates are resampled here, channels averaged. The model scales each
input to full scale, so the estimate does not depend on the clip's level. Clips shorter than
7.68 s are zero-padded to that length and cost the same; longer ones are scored in overlapping
7.68 s windows whose estimates are averaged.

It is an estimate, never a substitute for listeners: report it beside the listeners' MOS.

The model is built once per process on first use (about 17 MB, CPU), never at import time;
torch itself is imported then too. The per-clip cache (``listening.objective.cache``) computes
it on the CPU queue ``metrics`` beside the other metrics.
Nothing is downloaded: the XLS-R backbone its relatives use is not part of it
(``xlsr_name=None``), and the Hugging Face hub is told to stay offline all the same.
"""

from __future__ import annotations

import os
import threading
from importlib import metadata
from typing import Any

import numpy as np

from synthesis.engine.audio import resample, to_mono

__all__ = ["DISTILLMOS_RATE", "DISTILLMOS_VERSION", "distillmos"]

DISTILLMOS_RATE = 16000
# Part of any cache key: a new package version may bring new weights.
DISTILLMOS_VERSION = f"distillmos {metadata.version('distillmos')} (distill_mos_v7)"

_lock = threading.Lock()
_model: Any = None  # the torch module, once loaded


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            # torch is imported here, not at the top: the web process imports this module (the
            # report's objective section names its version) and should not pay for torch.
            import torch

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from distillmos import sqa

            # load_weights=False: the package's own loader prints to stdout; the same file is
            # read here, weights only.
            model = sqa.ConvTransformerSQAModel(load_weights=False)
            checkpoint = torch.load(
                sqa.DEFAULT_WEIGHTS_CHKPT, map_location="cpu", weights_only=True
            )
            model.load_state_dict(checkpoint["model"])
            _model = model.eval()
        return _model


def distillmos(samples: np.ndarray, sample_rate: int) -> float:
    """DistillMOS estimate (1-5) of one clip: ``samples`` mono (n,) or (n, channels), any rate.

    Raises ``ValueError`` for an empty clip.
    """
    mono = to_mono(samples)
    if mono.size == 0:
        raise ValueError("DistillMOS needs audio; the clip is empty.")
    if sample_rate != DISTILLMOS_RATE:
        mono = resample(mono, sample_rate, DISTILLMOS_RATE)
    model = _load()
    import torch  # loaded by _load already; see there why it is not imported at the top

    with torch.inference_mode():
        estimate = model(torch.from_numpy(np.ascontiguousarray(mono))[None])
    return float(estimate.reshape(-1)[0])
