"""Objective metrics of a study's clips: computed by a real worker on the "metrics" queue,
cached per clip, and reported beside MOS with intervals and correlations.

The audio is real: eSpeak NG speaks each sentence; that recording is the study's natural
reference, and degraded copies of it (white noise at a known SNR, a known delay) are the other
systems. DIO replaces Harvest as the F0 tracker (OBJECTIVE_F0_METHOD=dio) to keep this fast.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from listening.analysis.objective_section import (
    CSV_COLUMNS,
    METRIC_KEYS,
    objective_rows_csv,
    objective_section,
)
from listening.analysis.selectors import study_ratings_frame
from listening.analysis.stats import build_report
from listening.models import Clip, Sentence, Study, System
from listening.objective import cache as objective_cache
from listening.objective.cache import (
    OBJECTIVE_VERSION,
    clip_objective_compute,
    clips_objective_compute,
    compute_study_objective,
    study_objective_stale,
)
from synthesis.engine.espeak import EspeakEngine
from tests.conftest import purge_broker, start_worker, wait_for
from tests.factories import StudyFactory, audio_bytes, rate_clips, ready_clip

TEXTS = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "Rice is often served in round bowls.",
]
# Degraded systems: (name, SNR of added white noise in dB, delay in seconds, base score).
DEGRADED = [("mild", 30.0, 0.025, 4), ("medium", 12.0, 0.0, 3), ("harsh", 0.0, 0.025, 1)]


@pytest.fixture(scope="module")
def speech() -> tuple[list[np.ndarray], int]:
    engine = EspeakEngine(voice="en-us")
    return [engine.synthesize(t).astype(np.float64) for t in TEXTS], engine.sample_rate


@pytest.fixture
def dio(monkeypatch, settings):
    # The setting for this process (the report's cache keys), the variable for the workers it
    # starts.
    settings.OBJECTIVE_F0_METHOD = "dio"
    monkeypatch.setenv("OBJECTIVE_F0_METHOD", "dio")


def degrade(x: np.ndarray, sr: int, snr_db: float, delay_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(x))
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    y = np.concatenate([np.zeros(int(delay_s * sr)), x + noise])
    peak = np.max(np.abs(y))
    return y * (0.95 / peak) if peak > 0.95 else y  # FLAC stores [-1, 1): keep the headroom


def flac_clip(system: System, sentence: Sentence, samples: np.ndarray, sr: int) -> Clip:
    """A clip as an upload would leave it: FLAC in the default storage, status ready."""
    audio = audio_bytes(samples, sr, "FLAC", "PCM_16")
    return ready_clip(system, sentence, audio, duration_s=len(samples) / sr, sample_rate=sr)


def new_study(slug: str) -> Study:
    return StudyFactory(slug=slug, title=slug, status=Study.Status.READY)


def reference_study(speech, slug: str = "objective") -> Study:
    """natural (reference) + mild, medium and harsh degraded copies of each sentence."""
    samples, sr = speech
    study = new_study(slug)
    natural = System.objects.create(
        study=study, name="natural", kind=System.Kind.REFERENCE, position=0
    )
    systems = [
        (System.objects.create(study=study, name=name, kind=System.Kind.UPLOADED, position=k), snr, delay)
        for k, (name, snr, delay, _) in enumerate(DEGRADED, start=1)
    ]  # fmt: skip
    for j, (text, x) in enumerate(zip(TEXTS, samples)):
        sentence = Sentence.objects.create(study=study, key=f"s{j}", text=text, position=j)
        flac_clip(natural, sentence, x, sr)
        for k, (system, snr, delay) in enumerate(systems):
            flac_clip(system, sentence, degrade(x, sr, snr, delay, seed=10 * j + k), sr)
    return study


def by_name(section: dict) -> dict[str, dict]:
    return {s["system"]: s for s in section["systems"]}


def all_cached(study: Study) -> bool:
    return all(c.objective.get("key") for c in Clip.objects.filter(system__study=study))


@pytest.mark.worker
def test_worker_measures_degraded_systems_against_the_reference(
    transactional_db, tmp_path, speech, dio
):
    study = reference_study(speech)
    purge_broker()
    worker = start_worker(tmp_path / "worker.log")
    try:
        compute_study_objective.delay(study.pk)
        wait_for(
            lambda: all_cached(study),
            timeout=150,
            message="objective metrics of 12 clips",
        )
    finally:
        worker.stop()
    errors = [c.objective["error"] for c in Clip.objects.filter(system__study=study)]
    assert errors == [""] * 12, worker.log_text()[-3000:]

    rate_clips(study, {"natural": 5, **{name: score for name, _, _, score in DEGRADED}})
    report = build_report(study_ratings_frame(study))
    section = objective_section(study=study, report=report)
    json.dumps(section, allow_nan=False)  # goes into the JSON download as it is

    assert section["reference_system"] == "natural" and section["f0_methods"] == ["dio"]
    assert (section["n_clips"], section["n_computed"], section["pending"]) == (12, 12, 0)
    systems = by_name(section)
    mild, harsh = systems["mild"]["metrics"], systems["harsh"]["metrics"]
    assert mild["stoi"]["mean"] > harsh["stoi"]["mean"]
    assert mild["estoi"]["mean"] > harsh["estoi"]["mean"]
    assert mild["pesq_wb"]["mean"] > harsh["pesq_wb"]["mean"]
    assert mild["mcd_db"]["mean"] < harsh["mcd_db"]["mean"]
    assert mild["vde"]["mean"] < harsh["vde"]["mean"]
    for name in ("mild", "medium", "harsh"):
        for key in ("stoi", "pesq_wb", "mcd_db", "dnsmos_p808"):
            summary = systems[name]["metrics"][key]
            lo, hi = summary["ci95"]
            assert summary["n"] == 3 and lo < summary["mean"] < hi, (name, key, summary)
    # The reference is not compared with itself; it is still described and estimated.
    natural = systems["natural"]["metrics"]
    assert natural["stoi"]["n"] == 0 and natural["mcd_db"]["mean"] is None
    assert natural["duration_s"]["n"] == 3 and natural["dnsmos_p808"]["n"] == 3
    mild_mos = next(s["mos"] for s in report["systems"] if s["system"] == "mild")
    assert systems["mild"]["mos"] == mild_mos

    by_systems = section["correlations"]["systems"]
    by_clips = section["correlations"]["clips"]
    assert by_systems["stoi"]["n"] == 3 and by_systems["stoi"]["pearson"] > 0
    assert by_systems["mcd_db"]["n"] == 3 and by_systems["mcd_db"]["pearson"] < 0
    assert by_clips["stoi"]["n"] == 9 and by_clips["stoi"]["spearman"] > 0
    assert by_systems["dnsmos_p808"]["n"] == 4 and by_clips["dnsmos_p808"]["n"] == 12
    assert -1 <= by_clips["dnsmos_p808"]["pearson"] <= 1
    # DistillMOS, computed by the same worker and cached with the rest.
    assert all(systems[name]["metrics"]["distillmos"]["n"] == 3 for name in systems)
    assert mild["distillmos"]["mean"] > harsh["distillmos"]["mean"]
    distill = section["agreement"]["distillmos"]
    assert distill["systems"]["n"] == 4 and distill["clips"]["n"] == 12
    assert distill["systems"]["rmse"] > 0 and distill["systems"]["rmse_star"] is not None

    # The CSV download: one row per system and metric, one per metric and correlation scope.
    rows = list(csv.DictReader(io.StringIO(objective_rows_csv(section))))
    assert list(rows[0]) == CSV_COLUMNS
    system_rows = [r for r in rows if r["scope"] == "system"]
    assert len(system_rows) == 4 * len(METRIC_KEYS)
    mild_stoi = next(r for r in system_rows if (r["system"], r["metric"]) == ("mild", "stoi"))
    assert float(mild_stoi["mean"]) == pytest.approx(mild["stoi"]["mean"], abs=1e-6)
    assert float(mild_stoi["ci95_low"]) == pytest.approx(mild["stoi"]["ci95"][0], abs=1e-6)
    corr = [r for r in rows if r["scope"].startswith("correlation_")]
    assert len(corr) == 2 * len(METRIC_KEYS)
    mcd = next(r for r in corr if (r["scope"], r["metric"]) == ("correlation_systems", "mcd_db"))
    assert float(mcd["pearson"]) == pytest.approx(by_systems["mcd_db"]["pearson"], abs=1e-6)
    assert mcd["rmse"] == ""  # RMSE only for the estimates on the MOS scale
    row = next(
        r for r in corr if (r["scope"], r["metric"]) == ("correlation_systems", "distillmos")
    )
    assert float(row["rmse"]) == pytest.approx(distill["systems"]["rmse"], abs=1e-6)
    assert float(row["rmse_star"]) == pytest.approx(distill["systems"]["rmse_star"], abs=1e-6)

    # Cached: nothing is stale, a clip is skipped; a new algorithm version recomputes all.
    assert study_objective_stale(study=study) == []
    clip = Clip.objects.filter(system__name="harsh", system__study=study).first()
    assert clip_objective_compute(clip_id=clip.pk) == "skipped"


def test_current_clips_are_skipped_and_changes_recompute(db, speech, dio, monkeypatch, settings):
    samples, sr = speech
    study = new_study("cache")
    natural = System.objects.create(study=study, name="natural", kind=System.Kind.REFERENCE)
    other = System.objects.create(study=study, name="other", kind=System.Kind.UPLOADED, position=1)
    sentence = Sentence.objects.create(study=study, key="s0", text=TEXTS[0])
    reference = flac_clip(natural, sentence, samples[0], sr)
    clip = flac_clip(other, sentence, degrade(samples[0], sr, 20.0, 0.0, seed=1), sr)

    assert sorted(study_objective_stale(study=study)) == sorted([reference.pk, clip.pk])
    assert clips_objective_compute(clip_ids=[reference.pk, clip.pk]) == {
        "computed": 2,
        "skipped": 0,
        "failed": 0,
    }
    clip.refresh_from_db()
    cache = clip.objective
    assert cache["version"] == OBJECTIVE_VERSION and cache["f0_method"] == "dio"
    assert cache["reference_clip"] == reference.pk and cache["reference"]["stoi"] > 0.9
    assert study_objective_stale(study=study) == []
    assert clips_objective_compute(clip_ids=[reference.pk, clip.pk])["skipped"] == 2
    clip.refresh_from_db()
    assert clip.objective["computed_at"] == cache["computed_at"]  # nothing was rewritten

    # The reference recording is replaced: the clips compared with it are stale, not it alone.
    Clip.objects.filter(pk=reference.pk).update(ready_at=timezone.now() + timedelta(seconds=1))
    assert sorted(study_objective_stale(study=study)) == sorted([reference.pk, clip.pk])
    clips_objective_compute(clip_ids=[reference.pk, clip.pk])
    assert study_objective_stale(study=study) == []
    # Another F0 tracker or algorithm version: every clip again.
    settings.OBJECTIVE_F0_METHOD = "harvest"
    assert len(study_objective_stale(study=study)) == 2
    # ...while the report still shows what was measured, and with which tracker.
    section = objective_section(study=study, report={"systems": []})
    assert (section["pending"], section["n_computed"], section["f0_methods"]) == (0, 2, ["dio"])
    settings.OBJECTIVE_F0_METHOD = "dio"
    monkeypatch.setattr(objective_cache, "OBJECTIVE_VERSION", OBJECTIVE_VERSION + 1)
    assert len(study_objective_stale(study=study)) == 2
    section = objective_section(study=study, report={"systems": []})
    assert (section["pending"], section["n_computed"]) == (2, 0)


def test_without_a_reference_clips_are_described_and_estimated(db, speech, dio):
    samples, sr = speech
    study = new_study("no-reference")
    system = System.objects.create(study=study, name="tts", kind=System.Kind.UPLOADED)
    plain_sentence = Sentence.objects.create(study=study, key="s0", text=TEXTS[0], position=0)
    padded_sentence = Sentence.objects.create(study=study, key="s1", text=TEXTS[0], position=1)
    gold = Sentence.objects.create(
        study=study, key="gold", text="Please select Poor.", position=2, expected_score=2
    )
    plain = flac_clip(system, plain_sentence, samples[0], sr)
    padded = flac_clip(
        system, padded_sentence, np.concatenate([np.zeros(int(0.5 * sr)), samples[0]]), sr
    )
    check = flac_clip(system, gold, samples[1], sr)
    broken = Clip(system=system, sentence=Sentence.objects.create(study=study, key="s2", text="x"))
    broken.audio.save("clip.flac", ContentFile(b"this is not audio"), save=False)
    broken.status, broken.ready_at = Clip.Status.READY, timezone.now()
    broken.save()

    counts = clips_objective_compute(clip_ids=[plain.pk, padded.pk, check.pk, broken.pk])
    assert counts == {"computed": 2, "skipped": 1, "failed": 1}  # the gold item is no test clip
    plain.refresh_from_db()
    padded.refresh_from_db()
    broken.refresh_from_db()
    a, b = plain.objective["describe"], padded.objective["describe"]
    assert plain.objective["reference"] is None and plain.objective["reference_clip"] is None
    assert b["leading_silence_s"] - a["leading_silence_s"] == pytest.approx(0.5, abs=0.02)
    assert b["duration_s"] - a["duration_s"] == pytest.approx(0.5, abs=1e-3)
    span = a["duration_s"] - a["leading_silence_s"] - a["trailing_silence_s"]
    assert a["words_per_s"] == pytest.approx(len(TEXTS[0].split()) / span)
    assert -40 < a["loudness_lufs"] < 0 and a["clipped_samples"] == 0
    assert 1.0 <= plain.objective["dnsmos_p808"] <= 5.0
    assert 1.0 <= plain.objective["distillmos"] <= 5.0
    assert "could not be decoded (Format not recognised" in broken.objective["error"]
    assert clip_objective_compute(clip_id=broken.pk) == "skipped"  # same audio: not retried

    section = objective_section(study=study, report={"systems": [{"system": "tts", "mos": 3.5}]})
    assert section["reference_system"] is None
    assert any("no reference" in note for note in section["notes"])
    assert (section["n_computed"], section["failed"], section["pending"]) == (2, 1, 0)
    tts = by_name(section)["tts"]
    assert tts["mos"] == 3.5 and tts["n_clips"] == 3  # the gold clip is not counted
    assert tts["metrics"]["stoi"]["n"] == 0
    assert tts["metrics"]["leading_silence_s"]["mean"] == pytest.approx(
        (a["leading_silence_s"] + b["leading_silence_s"]) / 2
    )
    assert {row["clip"] for row in section["clips"]} == {plain.pk, padded.pk}
