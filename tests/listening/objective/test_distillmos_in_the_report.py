"""DistillMOS in the report: computed per clip into the cache, per-system means with intervals
beside the listeners' MOS, P.1401 agreement, in the JSON, the CSV and the HTML.

The audio is real: the bundled Piper voice speaks each sentence (clean neural speech) and the
other systems are MNRU copies of it at Q = 25, 15 and 5 dB (ITU-T P.810), rated by listeners
who hear what MNRU does. DistillMOS must rank the clean speech above every MNRU copy.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from listening.analysis.objective_section import objective_rows_csv, objective_section
from listening.analysis.render import report_html
from listening.analysis.selectors import study_ratings_frame
from listening.analysis.stats import build_report
from listening.models import Clip, Sentence, Study, System
from listening.objective.cache import clips_objective_compute
from synthesis.engine.mnru import mnru
from synthesis.engine.piper import PiperSynthesizer, bundled_voice, load_piper
from synthesis.engine.protocol import SynthesisRequest
from tests.factories import StudyFactory, audio_bytes, rate_clips, ready_clip

TEXTS = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "Rice is often served in round bowls.",
]
# System, MNRU Q in dB (None: the clean voice), the listeners' base score.
SYSTEMS = [("piper", None, 5), ("mnru-q25", 25.0, 4), ("mnru-q15", 15.0, 2), ("mnru-q5", 5.0, 1)]


@pytest.fixture(scope="module")
def speech() -> tuple[list[np.ndarray], int]:
    voice = PiperSynthesizer(load_piper(*bundled_voice()), device="cpu", threads=1)
    results = voice.synthesize([SynthesisRequest(t, seed=i) for i, t in enumerate(TEXTS)])
    return [0.5 * r.samples for r in results], results[0].sample_rate


@pytest.fixture
def study(db, speech, settings) -> Study:
    settings.OBJECTIVE_F0_METHOD = "dio"
    samples, rate = speech
    study = StudyFactory(slug="distill", title="distill", status=Study.Status.READY)
    systems = [
        (System.objects.create(study=study, name=name, kind=System.Kind.UPLOADED, position=k), q)
        for k, (name, q, _) in enumerate(SYSTEMS)
    ]
    for j, (text, x) in enumerate(zip(TEXTS, samples, strict=True)):
        sentence = Sentence.objects.create(study=study, key=f"s{j}", text=text, position=j)
        for system, q in systems:
            y = x if q is None else mnru(x, rate, q, seed=j)
            y = y * (0.9 / max(0.9, float(np.max(np.abs(y)))))
            data = audio_bytes(y, rate, "FLAC", "PCM_16")
            ready_clip(system, sentence, data, duration_s=len(y) / rate, sample_rate=rate)
    base = {name: score for name, _, score in SYSTEMS}
    rate_clips(study, base, step=-1)  # one point down for some listener/sentence pairs
    ids = list(Clip.objects.filter(system__study=study).values_list("id", flat=True))
    assert clips_objective_compute(clip_ids=ids)["computed"] == 12
    return study


def test_distillmos_ranks_clean_speech_above_its_mnru_copies_in_the_report(study):
    report = build_report(study_ratings_frame(study))
    section = objective_section(study=study, report=report)
    json.dumps(section, allow_nan=False)
    means = {s["system"]: s["metrics"]["distillmos"] for s in section["systems"]}
    assert all(m["n"] == 3 for m in means.values())
    assert means["piper"]["mean"] > means["mnru-q25"]["mean"] > means["mnru-q5"]["mean"]
    assert means["piper"]["mean"] > means["mnru-q15"]["mean"] > means["mnru-q5"]["mean"]
    lo, hi = means["piper"]["ci95"]
    assert lo < means["piper"]["mean"] < hi and means["piper"]["mean"] > 3.0
    # Beside the listeners' MOS, and agreeing with it across systems (P.1401 numbers).
    mos = {s["system"]: s["mos"] for s in section["systems"]}
    assert mos["piper"] > mos["mnru-q5"]
    agreement = section["agreement"]["distillmos"]
    assert agreement["systems"]["n"] == 4 and agreement["systems"]["spearman"] > 0.7
    assert agreement["systems"]["pearson"] > 0.7
    assert 0 <= agreement["systems"]["rmse_star"] <= agreement["systems"]["rmse"] < 2.0
    assert agreement["clips"]["n"] == 12 and agreement["clips"]["spearman"] > 0.5
    assert any("an estimate of MOS" in note for note in section["notes"])
    assert any("noise suppression" in note for note in section["notes"])

    rows = list(csv.DictReader(io.StringIO(objective_rows_csv(section))))
    piper_row = next(r for r in rows if (r["system"], r["metric"]) == ("piper", "distillmos"))
    assert float(piper_row["mean"]) == pytest.approx(means["piper"]["mean"], abs=1e-6)
    assert float(piper_row["mos"]) == pytest.approx(mos["piper"], abs=1e-6)

    html = report_html({**report, "objective": section}, title="distill")
    assert "DistillMOS (an automatic estimate of MOS, not listeners)" in html
    assert "DNSMOS P.808 (a noise-suppression model&#x27;s estimate, not listeners)" in html
    assert "Automatic MOS estimates against the listeners" in html
    assert f"{agreement['systems']['rmse']:.3f}" in html
    # DistillMOS sits right under the listeners' MOS in the table.
    table = html.split("Objective metrics per system", 1)[1]
    assert table.index("DistillMOS") < table.index("Duration")
