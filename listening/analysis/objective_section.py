"""The objective-metrics section of a study's report: per-system means with 95% intervals and
each metric's correlation with the listeners' MOS.

Where it sits: the report build (``listening.analysis.reports``; ``stats.build_report`` makes
the MOS numbers from the ratings table) calls :func:`objective_section` with the study and that
report dict; the section is added to the JSON report, and :func:`objective_rows_csv` writes it
for the CSV download. The numbers come from ``Clip.objective``, filled by the Celery tasks in
``listening.objective.cache``; nothing is measured here, so building a report never waits on
audio analysis. Clips whose cache is missing or out of date are counted as ``pending``.
Intervals and correlations are ``listening.objective.summary``'s. The section is analysis, not
objective metrics: it assembles part of a report from the ratings and the cached numbers, so
the arrow runs one way, from the report to the measurements.

MOS here is the mean of every test rating (all listeners, before screening exclusions): per
system it is taken from the report's ``systems`` entries, per clip from the same ratings
(``listening.analysis.selectors.study_ratings_frame``). The DNSMOS P.808 value is a network's
estimate of MOS (Reddy et al. 2021, trained on ITU-T P.808 ratings of noisy speech: a model of
noise suppression); DistillMOS (``distillmos``) is the estimate made for speech quality, with
synthetic speech among its training data. Both are reported beside the listeners' MOS with
their agreement with them (ITU-T P.1401: r, rho, RMSE, RMSE*), never in place of them.
"""

from __future__ import annotations

import io
import math
from typing import Any

from listening.analysis.render import csv_cell
from listening.analysis.selectors import study_ratings_frame
from listening.models import Study
from listening.objective.cache import (
    OBJECTIVE_VERSION,
    clip_objective_key,
    json_safe,
    objective_f0_method,
    reference_clip_for,
    reference_system,
    study_measured_clips,
)
from listening.objective.measure import F0_METHODS
from listening.objective.summary import (
    estimate_agreement,
    metric_correlations,
    system_metric_summary,
)
from mos_site.spreadsheet import csv_writer

SCHEMA = "harken.objective_section/1"

# key, label, unit, which direction is better, group. "reference" metrics need a natural
# recording of the sentence; "descriptive" ones describe the clip alone; "estimate" is DNSMOS.
_METRIC_ROWS = [
    ("stoi", "STOI", "", "higher", "reference"),
    ("estoi", "ESTOI", "", "higher", "reference"),
    ("pesq_wb", "PESQ-WB (P.862.2)", "MOS-LQO", "higher", "reference"),
    ("mcd_db", "MCD-DTW (c1-c13)", "dB", "lower", "reference"),
    ("f0_rmse_cents", "F0 RMSE", "cents", "lower", "reference"),
    ("f0_rmse_hz", "F0 RMSE", "Hz", "lower", "reference"),
    ("f0_corr", "F0 correlation", "", "higher", "reference"),
    ("vde", "Voicing decision error", "", "lower", "reference"),
    ("f0_gpe", "Gross pitch error", "", "lower", "reference"),
    ("duration_s", "Duration", "s", None, "descriptive"),
    ("speaking_rate_syll_per_s", "Speaking rate", "syllables/s", None, "descriptive"),
    ("words_per_s", "Words per second", "words/s", None, "descriptive"),
    ("loudness_lufs", "Loudness (BS.1770)", "LUFS", None, "descriptive"),
    ("clipped_fraction", "Clipped samples", "fraction", "lower", "descriptive"),
    ("leading_silence_s", "Leading silence", "s", None, "descriptive"),
    ("trailing_silence_s", "Trailing silence", "s", None, "descriptive"),
    (
        "distillmos",
        "DistillMOS (an automatic estimate of MOS, not listeners)",
        "MOS estimate",
        "higher",
        "estimate",
    ),
    (
        "dnsmos_p808",
        "DNSMOS P.808 (a noise-suppression model's estimate, not listeners)",
        "MOS estimate",
        "higher",
        "estimate",
    ),
]
METRICS: list[dict[str, Any]] = [
    dict(zip(("key", "label", "unit", "better", "group"), row, strict=True)) for row in _METRIC_ROWS
]
METRIC_KEYS = [m["key"] for m in METRICS]
_REFERENCE_KEYS = [m["key"] for m in METRICS if m["group"] == "reference"]
_DESCRIBE_KEYS = [m["key"] for m in METRICS if m["group"] == "descriptive"]
# Automatic MOS estimates: on the listeners' 1-5 scale, so their agreement includes RMSE.
ESTIMATE_KEYS = [m["key"] for m in METRICS if m["group"] == "estimate"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def clip_metric_values(cache: dict[str, Any] | None) -> dict[str, float | None]:
    """The flat metric values of one ``Clip.objective`` cache: {metric key: number or None}."""
    cache = cache or {}
    reference = cache.get("reference") or {}
    describe = cache.get("describe") or {}
    values: dict[str, float | None] = {k: _number(reference.get(k)) for k in _REFERENCE_KEYS}
    values.update({k: _number(describe.get(k)) for k in _DESCRIBE_KEYS})
    values.update({k: _number(cache.get(k)) for k in ESTIMATE_KEYS})
    return values


def clip_mos(study: Study) -> dict[int, tuple[float, int]]:
    """{clip id: (mean test score, number of test ratings)} over every listener."""
    frame = study_ratings_frame(study)
    if frame.empty:
        return {}
    test = frame[frame["purpose"] == "test"]
    grouped = test.groupby("clip")["score"].agg(["mean", "count"])
    return {int(clip): (float(row["mean"]), int(row["count"])) for clip, row in grouped.iterrows()}


def objective_section(*, study: Study, report: dict) -> dict:
    """The objective-metrics section for ``study``, next to the MOS numbers of ``report``.

    ``report`` is the dict of ``listening.analysis.stats.build_report``; its ``systems`` entries give
    each system's MOS by name. Returns a JSON-ready dict:

    - ``schema``, ``version`` (the metric algorithms' version), ``f0_methods`` (the F0
      trackers the shown clips were measured with; the workers' OBJECTIVE_F0_METHOD decides),
      ``reference_system`` (name or None), ``metrics`` (key, label, unit, better, group);
    - ``systems``: one entry per system in study order with ``system``, ``kind``, ``mos``,
      ``n_clips`` (ready test clips), ``n_computed``, and ``metrics`` {key: {n, mean, sd,
      ci95}} (95% Student-t intervals over the system's clips; ITU-T P.800.2 practice);
    - ``correlations``: {"systems": {key: stats}, "clips": {key: stats}}, stats being
      {n, pearson, pearson_p, spearman, spearman_p} of the metric against MOS across systems
      (system means) and across clips (clip means of the ratings), None where undefined;
    - ``agreement``: for the automatic MOS estimates (``distillmos``, ``dnsmos_p808``),
      {key: {"systems": stats, "clips": stats}} with ITU-T P.1401's numbers
      (``listening.objective.summary.estimate_agreement``: r, rho, RMSE, RMSE*, mean error);
    - ``clips``: per clip: clip id, system, sentence key, mos, n_ratings, values {key: number};
    - ``n_clips``, ``n_computed``, ``pending`` (ready clips whose metrics are missing or out of
      date: the tasks have not caught up), ``failed`` (clips whose audio could not be
      measured) and ``notes``.
    """
    configured = objective_f0_method()
    used_methods: set[str] = set()
    clips, references, ref_system_id = study_measured_clips(study)
    ref_system = reference_system(study)
    mos_by_system = {s["system"]: s.get("mos") for s in report.get("systems", [])}
    mos_by_clip = clip_mos(study)

    per_system_values: dict[int, list[dict[str, float | None]]] = {}
    clip_rows: list[dict[str, Any]] = []
    pending = failed = 0
    for clip in clips:
        reference = reference_clip_for(clip, references, ref_system_id)
        cache = clip.objective or {}
        # The workers' F0 tracker decides what is computed; a cache made with either tracker is
        # current here, so a web process configured differently never hides the numbers.
        method = cache.get("f0_method")
        method = method if method in F0_METHODS else configured
        if cache.get("key") != clip_objective_key(clip, reference, method):
            pending += 1
            continue
        if cache.get("error"):
            failed += 1
            continue
        values = clip_metric_values(cache)
        if cache.get("reference"):
            used_methods.add(method)
        per_system_values.setdefault(clip.system_id, []).append(values)
        mos, n_ratings = mos_by_clip.get(clip.pk, (None, 0))
        clip_rows.append(
            {
                "clip": clip.pk,
                "system": clip.system.name,
                "sentence": clip.sentence.key,
                "mos": mos,
                "n_ratings": n_ratings,
                "values": values,
            }
        )

    n_ready = {}
    for clip in clips:
        n_ready[clip.system_id] = n_ready.get(clip.system_id, 0) + 1
    systems = []
    for system in study.systems.order_by("position", "id"):
        rows = per_system_values.get(system.pk, [])
        systems.append(
            {
                "system": system.name,
                "kind": system.kind,
                "mos": mos_by_system.get(system.name),
                "n_clips": n_ready.get(system.pk, 0),
                "n_computed": len(rows),
                "metrics": {
                    key: system_metric_summary([r[key] for r in rows]) for key in METRIC_KEYS
                },
            }
        )

    correlations = metric_correlations(
        [{"mos": s["mos"], **{k: s["metrics"][k]["mean"] for k in METRIC_KEYS}} for s in systems],
        [{"mos": row["mos"], **row["values"]} for row in clip_rows],
        metrics=METRIC_KEYS,
    )

    # P.1401's epsilon-insensitive RMSE takes each condition's 95 % interval as the test gave
    # it: the Student-t interval over its ratings.
    half_by_system = {s["system"]: s.get("ci95_half_width") for s in report.get("systems", [])}
    agreement = {
        key: {
            "systems": estimate_agreement(
                [(s["mos"], s["metrics"][key]["mean"]) for s in systems],
                [half_by_system.get(s["system"]) for s in systems],
            ),
            "clips": estimate_agreement([(row["mos"], row["values"][key]) for row in clip_rows]),
        }
        for key in ESTIMATE_KEYS
    }

    notes = [
        "MOS is the mean of all test ratings (every listener, before screening exclusions).",
        "distillmos is an estimate of MOS from DistillMOS (Stahl and Gamper, ICASSP 2025), a "
        "speech-quality model whose training data include synthetic speech (VoiceMOS 2022); "
        "it is the estimate made for TTS. Read it beside the listeners' MOS and its agreement "
        "with them, never as a substitute.",
        "dnsmos_p808 is an estimate from DNSMOS P.808, a model of noise suppression trained on "
        "noisy and enhanced speech rather than on synthetic speech; it is shown for comparison.",
        "Agreement of an estimate with MOS follows ITU-T P.1401: Pearson r, Spearman rho and "
        "RMSE across systems and across clips, the estimate taken as it is (no mapping "
        "fitted; N - 1 in the RMSE), and RMSE* across systems, which forgives the part of each "
        "error inside the system's 95 % MOS interval.",
        "Correlations need at least 3 systems (or clips) with both numbers; with fewer they "
        "are null.",
    ]
    if ref_system is None:
        notes.append(
            "The study has no reference (natural) system: only reference-free metrics "
            "(duration, speaking rate, loudness, clipping, silences) and DNSMOS."
        )
    else:
        notes.append(
            f"Reference metrics compare each clip with the clip of the same sentence in "
            f"'{ref_system.name}'; MCD is MCD-DTW on mel-cepstra c1-c13 (c0 excluded), "
            f"10/ln10*sqrt(2) dB per unit; F0 from WORLD "
            f"{' and '.join(sorted(used_methods)) or configured}."
        )
    if pending:
        notes.append(
            f"{pending} clip(s) have no current objective metrics yet; they are computed by the "
            "'metrics' workers and will appear in a later report."
        )
    return json_safe(
        {
            "schema": SCHEMA,
            "version": OBJECTIVE_VERSION,
            "f0_methods": sorted(used_methods),
            "reference_system": ref_system.name if ref_system else None,
            "metrics": METRICS,
            "systems": systems,
            "correlations": correlations,
            "agreement": agreement,
            "clips": clip_rows,
            "n_clips": len(clips),
            "n_computed": len(clip_rows),
            "pending": pending,
            "failed": failed,
            "notes": notes,
        }
    )


CSV_COLUMNS = [
    "scope",
    "system",
    "kind",
    "metric",
    "unit",
    "n",
    "mean",
    "sd",
    "ci95_low",
    "ci95_high",
    "mos",
    "pearson",
    "pearson_p",
    "spearman",
    "spearman_p",
    "rmse",
    "rmse_star",
    "mean_error",
]


def objective_rows_csv(section: dict) -> str:
    """The section as one long CSV table (columns :data:`CSV_COLUMNS`).

    Rows with scope ``system``: one per system and metric (n, mean, sd, 95% interval, the
    system's MOS). Rows with scope ``correlation_systems`` and ``correlation_clips``: one per
    metric (n, Pearson and Spearman coefficients with p-values against MOS; for the automatic
    MOS estimates also RMSE, RMSE* (systems) and the mean error, ITU-T P.1401)."""
    units = {m["key"]: m["unit"] for m in section.get("metrics", METRICS)}
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(CSV_COLUMNS)
    for s in section["systems"]:
        for key, summary in s["metrics"].items():
            ci = summary.get("ci95") or [None, None]
            row = ["system", s["system"], s["kind"], key, units.get(key, ""), summary["n"],
                   summary["mean"], summary["sd"], ci[0], ci[1], s["mos"],
                   None, None, None, None, None, None, None]  # fmt: skip
            writer.writerow([csv_cell(v) for v in row])
    agreement = section.get("agreement") or {}
    for scope in ("systems", "clips"):
        for key, stats in section["correlations"][scope].items():
            # The estimates' rows carry P.1401's agreement (its r and rho are the same numbers).
            stats = {**stats, **((agreement.get(key) or {}).get(scope) or {})}
            row = [f"correlation_{scope}", None, None, key, units.get(key, ""), stats["n"],
                   None, None, None, None, None, stats["pearson"], stats["pearson_p"],
                   stats["spearman"], stats["spearman_p"], stats.get("rmse"),
                   stats.get("rmse_star"), stats.get("mean_error")]  # fmt: skip
            writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()
