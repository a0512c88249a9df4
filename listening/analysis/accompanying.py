"""The report's accompanying information (ITU-T P.800.2): what a reader needs to judge a MOS,
built from the data Harken holds, plus a paragraph a researcher can paste into a paper.

Where it sits: ``listening.analysis.reports.study_report_compute`` adds the section to every
site report under ``accompanying_information`` (so the page, the HTML and the JSON downloads
and the API all carry it); ``templates/listening/analysis/_accompanying.html`` shows it.
:func:`study_accompanying_facts` reads the study's rows; :func:`accompanying_section` is pure
(facts and the built report in, the section out), so tests can check it item by item; a
MUSHRA or transcription study's items about the test are worded by ``accompanying_scored``.

Why: surveys of TTS papers find most MOS results come without who listened, how they were
recruited and paid, the exact question, the screening, and which systems shared the test
(Chiang et al., Interspeech 2023; Kirkland et al., SSW 2023). MOS is relative to the systems
and anchors of one test, so numbers from different tests are not comparable (Le Maguer et al.,
Computer Speech & Language, 2024). A few listeners supplying most ratings make a result less
reproducible (Finkelstein et al., SSW 2023), hence the concentration warning.

The items, in order (``ITEMS``): test, scale, instructions, ui_language, recruitment,
listeners, ratings_per_listener, listener_background, headphone_check, attention_checks,
screening, stimuli, systems, comparability, statistics, software.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min

from listening.analysis.accompanying_scored import number_text, scored_accompanying
from listening.models import Clip, Listener, PlaylistItem, Rating, Study, System
from listening.scales import ACR_TEST
from mos_site.version import software_versions

ITEMS = (
    "test",
    "scale",
    "instructions",
    "ui_language",
    "recruitment",
    "listeners",
    "ratings_per_listener",
    "listener_background",
    "headphone_check",
    "attention_checks",
    "screening",
    "stimuli",
    "systems",
    "comparability",
    "statistics",
    "software",
)

NOT_COMPARABLE = (
    "These MOS values are relative to the systems, anchors and listeners of this test and are "
    "not comparable with MOS values from other tests (Le Maguer et al., Computer Speech & "
    "Language, 2024; ITU-T P.800.2)."
)

# Finkelstein et al. (SSW 2023): results are tighter and more reproducible with fewer items
# per rater. Warn when the most active tenth of the listeners gave over half the ratings.
# How a MUSHRA low-pass anchor is named in the text (ITU-R BS.1534-3).
LOWPASS_TEXT = {
    System.AnchorKind.LOWPASS_3500: "low-pass 3.5 kHz (ITU-R BS.1534-3)",
    System.AnchorKind.LOWPASS_7000: "low-pass 7 kHz (ITU-R BS.1534-3)",
}
TOP_SHARE_OF_LISTENERS = 0.10


def _all_mnru(systems: list[dict]) -> bool:
    """Every anchor is an MNRU one (the paragraph then says "MNRU anchors", as it always did)."""
    return all(s.get("anchor_kind") in (None, System.AnchorKind.MNRU) for s in systems)


CONCENTRATION_LIMIT = 0.50

REFERENCES = [
    "ITU-T P.800 (1996): Methods for subjective determination of transmission quality.",
    "ITU-T P.800.2 (2016): Mean opinion score interpretation and reporting.",
    "ITU-T P.808 (2021): Subjective evaluation of speech quality with a crowdsourcing approach.",
    "ITU-T P.1401 (2020): Statistical evaluation of objective quality models (intervals).",
    "Cameron, Gelbach & Miller (2011): Robust inference with multiway clustering, JBES 29(2).",
    "Holm (1979): A simple sequentially rejective multiple test procedure, Scand. J. Stat. 6.",
    "Wilcoxon (1945): Individual comparisons by ranking methods, Biometrics Bulletin 1(6).",
    "Woods, Siegel, Traer & McDermott (2017): Headphone screening to facilitate web-based "
    "auditory experiments, Attention, Perception & Psychophysics 79.",
]

#: The facts the stimuli item carries as they are.
STIMULI_FACTS = (
    "n_sentences",
    "sample_rate",
    "sample_rates_seen",
    "loudness_target_lufs",
    "loudness_range_lufs",
    "duration_range_s",
)

HEADPHONE_METHOD = (
    "Antiphase test of Woods et al. (2017): in each of 6 trials, which of 3 tones is quietest; "
    "5 of 6 right passes, one attempt."
)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _counts(values) -> dict[str, int]:
    """How often each answer was given, most common first (ties by answer)."""
    counted = Counter(str(v).strip() or "(blank)" for v in values if v not in (None, ""))
    return dict(sorted(counted.items(), key=lambda kv: (-kv[1], kv[0].lower())))


# --------------------------------------------------------------------------------------------
# Facts from the database
# --------------------------------------------------------------------------------------------


def study_accompanying_facts(*, study: Study) -> dict:
    """What the section needs from the study's rows, JSON-ready: settings, texts, listeners'
    stages, questionnaires and headphone checks, ratings per listener, stimuli, systems."""
    listeners = Listener.objects.filter(study=study)
    stages = dict(listeners.values_list("stage").annotate(n=Count("id")).order_by())
    checks = [c for c in listeners.values_list("headphone_check", flat=True) if c]
    answered = [c for c in checks if "passed" in c]
    per_listener = list(
        Rating.objects.filter(listener__study=study, purpose=PlaylistItem.Purpose.TEST)
        .values("listener")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    questionnaires = [q for q in listeners.values_list("questionnaire", flat=True) if q]
    clips = Clip.objects.filter(system__study=study, status=Clip.Status.READY)
    durations = clips.aggregate(
        low=Min("duration_s"),
        high=Max("duration_s"),
        loud_low=Min("loudness_lufs"),
        loud_high=Max("loudness_lufs"),
    )
    items = PlaylistItem.objects.filter(playlist__study=study)
    purposes = dict(items.values_list("purpose").annotate(n=Count("id")).order_by())
    systems = [
        {
            "name": s.name,
            "kind": s.kind,
            "kind_label": str(System.Kind(s.kind).label),
            "voice": s.voice.name if s.voice else None,
            "engine": s.voice.engine if s.voice else None,
            "anchor_source": s.anchor_source.name if s.anchor_source else None,
            "anchor_q_db": s.anchor_q_db,
            "anchor_kind": s.anchor_kind if s.kind == System.Kind.ANCHOR else None,
            "is_low_anchor": s.is_low_anchor,
        }
        for s in study.systems.select_related("voice", "anchor_source").order_by("position", "id")
    ]
    sentences = study.sentences.all()
    return {
        "slug": study.slug,
        "instructions": study.instructions,
        "consent_text": study.consent_text,
        "language": settings.LANGUAGE_CODE,
        "languages": [code for code, _ in settings.LANGUAGES],
        "recruitment_platforms": study.recruitment_platforms,
        "recruitment_filters": study.recruitment_filters,
        "pay_per_hour": _plain(study.pay_per_hour),
        "pay_currency": study.pay_currency,
        # As the listener links recorded them: the platform's name, not its code.
        "platforms_seen": _counts(
            str(Listener.Platform(code).label)
            for code in listeners.values_list("platform", flat=True)
        ),
        "stages": stages,
        "n_joined": sum(stages.values()),
        "n_consented": listeners.exclude(consented_at=None).count(),
        "n_completed": listeners.exclude(completed_at=None).count(),
        "n_manually_excluded": listeners.filter(excluded=True).count(),
        "questionnaire_enabled": study.questionnaire_enabled,
        "questionnaires": len(questionnaires),
        "native_language": _counts(q.get("native_language") for q in questionnaires),
        "country": _counts(q.get("country") for q in questionnaires),
        "device": _counts(q.get("device") for q in questionnaires),
        "age_band": _counts(q.get("age_band") for q in questionnaires),
        "headphone_check_enabled": study.headphone_check_enabled,
        "headphone_answered": len(answered),
        "headphone_passed": sum(1 for c in answered if c.get("passed")),
        "ratings_per_listener": sorted(per_listener),
        "clips_per_listener": study.clips_per_listener,
        "ratings_per_clip": study.ratings_per_clip,
        "training_clips": study.training_clips,
        "attention_check_rate": study.attention_check_rate,
        "max_attention_failures": study.max_attention_failures,
        "playlist_items": {str(k): v for k, v in purposes.items()},
        "n_sentences": sentences.filter(expected_score=None).count(),
        "n_attention_sentences": sentences.exclude(expected_score=None).count(),
        "sample_rate": study.sample_rate,
        "sample_rates_seen": sorted(
            set(clips.exclude(sample_rate=None).values_list("sample_rate", flat=True))
        ),
        "loudness_target_lufs": study.loudness_target_lufs,
        "loudness_range_lufs": [durations["loud_low"], durations["loud_high"]],
        "duration_range_s": [durations["low"], durations["high"]],
        "systems": systems,
        "design_seed": study.design_seed,
        # The test type's own settings (``accompanying_scored`` words them).
        "test_type": study.test_type,
        "mushra_keep_position": study.mushra_keep_position,
        "mushra_mid_anchor": study.mushra_mid_anchor,
        "mushra_reference_free": study.mushra_reference_free,
        "mushra_conditions_per_page": study.mushra_conditions_per_page,
        "transcription_max_plays": study.transcription_max_plays,
    }


# --------------------------------------------------------------------------------------------
# The section (pure)
# --------------------------------------------------------------------------------------------


def _distribution(counts: list[int]) -> dict:
    if not counts:
        return {"n_listeners": 0, "min": None, "median": None, "max": None, "histogram": {}}
    ordered = sorted(counts)
    return {
        "n_listeners": len(ordered),
        "min": ordered[0],
        "median": statistics.median(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "max": ordered[-1],
        "histogram": {str(k): v for k, v in sorted(Counter(ordered).items())},
    }


def rating_concentration(counts: list[int]) -> dict:
    """The share of test ratings given by the most active tenth of the listeners (at least
    one listener), and whether it is over :data:`CONCENTRATION_LIMIT`."""
    total = sum(counts)
    if not total:
        return {"top_listeners": 0, "share": None, "warning": None}
    top = max(1, math.ceil(len(counts) * TOP_SHARE_OF_LISTENERS))
    share = sum(sorted(counts, reverse=True)[:top]) / total
    warning = None
    if share > CONCENTRATION_LIMIT and len(counts) > 1:
        warning = (
            f"{top} of {len(counts)} listeners (the most active {TOP_SHARE_OF_LISTENERS:.0%}) "
            f"gave {share:.0%} of the test ratings: a few listeners dominate the result, which "
            "makes it less reproducible (Finkelstein et al., SSW 2023). Lower the clips per "
            "listener and recruit more listeners."
        )
    return {"top_listeners": top, "share": round(share, 4), "warning": warning}


def _quality_range(systems: list[dict]) -> dict:
    scored = [s for s in systems if s.get("mos") is not None]
    if not scored:
        return {"low": None, "high": None, "lowest": None, "highest": None}
    low = min(scored, key=lambda s: s["mos"])
    high = max(scored, key=lambda s: s["mos"])
    return {
        "low": low["mos"],
        "high": high["mos"],
        "lowest": low["system"],
        "highest": high["system"],
    }


def accompanying_section(facts: dict, report: dict) -> dict:
    """The accompanying-information section of ``report`` (the dict of ``build_report`` plus
    the site's keys) for a study described by ``facts`` (:func:`study_accompanying_facts`).

    Returns ``{"items": [{"key": name, "label", "text", ...data}] for every name of ITEMS in
    order, "paragraph": str, "warnings": [...]}``; every item has a one-line ``text``."""
    screening = report.get("screening", {})
    after = report.get("systems_after_exclusion") or report.get("systems") or []
    by_name = {s["system"]: s for s in after}
    n_rated = int(report.get("n_listeners") or 0)
    n_excluded = int(screening.get("n_excluded", 0)) if screening.get("enabled", True) else 0
    n_manual = int(screening.get("n_manually_excluded", facts["n_manually_excluded"]))
    n_after = n_rated - n_excluded
    per_listener = _distribution(facts["ratings_per_listener"])
    concentration = rating_concentration(facts["ratings_per_listener"])
    pay = facts["pay_per_hour"]
    pay_text = f"{pay:.2f} {facts['pay_currency']}".strip() if pay is not None else "not stated"
    platforms = facts["recruitment_platforms"] or ", ".join(facts["platforms_seen"]) or "not stated"
    answered, passed = facts["headphone_answered"], facts["headphone_passed"]
    pass_rate = passed / answered if answered else None
    anchors = [s for s in facts["systems"] if s["kind"] == System.Kind.ANCHOR]
    references = [s for s in facts["systems"] if s["kind"] == System.Kind.REFERENCE]
    quality = _quality_range(after)
    fired = screening.get("fired", {})
    rules = screening.get("rules", {})
    scale = _scale_text()
    dur_low, dur_high = facts["duration_range_s"]
    versions = software_versions()

    systems = [
        {
            **spec,
            "n": by_name.get(spec["name"], {}).get("n"),
            "mos": by_name.get(spec["name"], {}).get("mos"),
            "ci95_clustered": by_name.get(spec["name"], {}).get("ci95_clustered"),
        }
        for spec in facts["systems"]
    ]

    def item(label: str, text: str, **data: Any) -> dict:
        return {"label": label, "text": text, **data}

    items = {
        "test": item(
            "Test type and question",
            f"{ACR_TEST['name']} ({ACR_TEST['standard']}); question: “{ACR_TEST['question']}”; "
            f"{ACR_TEST['presentation']}.",
            type=ACR_TEST["type"],
            question=ACR_TEST["question"],
            standard=ACR_TEST["standard"],
        ),
        "scale": item(
            "Scale labels and increment",
            f"5-point scale, increment {ACR_TEST['increment']}: {scale}.",
            labels=ACR_TEST["scale"],
            increment=ACR_TEST["increment"],
        ),
        "instructions": item(
            "Instructions",
            facts["instructions"] or "(no instructions text; only the rating page's own words)",
            instructions=facts["instructions"],
            consent_text=facts["consent_text"],
        ),
        "ui_language": item(
            "User-interface language",
            f"{facts['language']} (available: {', '.join(facts['languages'])}).",
            language=facts["language"],
        ),
        "recruitment": item(
            "Platform, recruitment filters and pay",
            f"{platforms}; filters: {facts['recruitment_filters'] or 'not stated'}; "
            f"pay per hour: {pay_text}.",
            platforms=platforms,
            platforms_seen=facts["platforms_seen"],
            filters=facts["recruitment_filters"],
            pay_per_hour=pay,
            pay_currency=facts["pay_currency"],
        ),
        "listeners": item(
            "Listeners before and after screening",
            f"{facts['n_joined']} joined, {facts['n_consented']} consented, "
            f"{facts['n_completed']} completed; {n_rated + n_manual} rated, {n_manual} excluded "
            f"by hand, {n_excluded} by the screening, {n_after} remain.",
            funnel={
                "joined": facts["n_joined"],
                "consented": facts["n_consented"],
                "headphone_check_passed": passed,
                "completed": facts["n_completed"],
                "rated": n_rated + n_manual,
                "excluded_by_hand": n_manual,
                "excluded_by_screening": n_excluded,
                "after_screening": n_after,
            },
            stages=facts["stages"],
            # The listener path's own funnel, when the report has one.
            listener_path=report.get("funnel"),
        ),
        "ratings_per_listener": item(
            "Ratings per listener",
            f"cap {facts['clips_per_listener']} test clips per listener "
            f"(plus {facts['training_clips']} training); given: min {per_listener['min']}, "
            f"median {_whole(per_listener['median'])}, max {per_listener['max']} over "
            f"{per_listener['n_listeners']} listeners; {facts['ratings_per_clip']} ratings per "
            f"clip planned. Most active {TOP_SHARE_OF_LISTENERS:.0%} of listeners gave "
            f"{number_text((concentration['share'] or 0) * 100, 0)} % of the ratings.",
            cap=facts["clips_per_listener"],
            distribution=per_listener,
            concentration=concentration,
        ),
        "listener_background": item(
            "Listeners' first language, country and device",
            (
                f"from {facts['questionnaires']} questionnaires: first language "
                f"{_count_text(facts['native_language'])}; country "
                f"{_count_text(facts['country']) if facts['country'] else 'not asked'}; device "
                f"{_count_text(facts['device'])}."
            )
            if facts["questionnaires"]
            else "no questionnaire answers"
            + ("" if facts["questionnaire_enabled"] else " (the questionnaire is switched off)")
            + ".",
            first_language=facts["native_language"],
            country=facts["country"],
            device=facts["device"],
            age_band=facts["age_band"],
        ),
        "headphone_check": item(
            "Headphone check",
            (
                "No headphone check (switched off for this study)."
                if not facts["headphone_check_enabled"]
                else f"{HEADPHONE_METHOD} No listener has taken it yet."
                if not answered
                else f"{HEADPHONE_METHOD} {passed} of {answered} passed "
                f"({number_text((pass_rate or 0) * 100, 0)} %)."
            ),
            enabled=facts["headphone_check_enabled"],
            method=HEADPHONE_METHOD,
            answered=answered,
            passed=passed,
            pass_rate=None if pass_rate is None else round(pass_rate, 4),
        ),
        "attention_checks": item(
            "Attention checks",
            f"{facts['n_attention_sentences']} spoken attention-check sentences; about "
            f"{facts['attention_check_rate']:.0%} extra gold or repeated items per playlist "
            f"(P.808 practice); {facts['playlist_items'].get('gold', 0)} gold and "
            f"{facts['playlist_items'].get('repeat', 0)} repeat items placed; a listener failing "
            f"more than {facts['max_attention_failures']} is flagged.",
            n_sentences=facts["n_attention_sentences"],
            rate=facts["attention_check_rate"],
            playlist_items=facts["playlist_items"],
        ),
        "screening": item(
            "Screening rules and their counts",
            (
                "; ".join(
                    f"{screening.get('rule_labels', {}).get(name, name)}: {count} of "
                    f"{screening.get('evaluated', {}).get(name, 0)} listeners"
                    for name, count in fired.items()
                )
                or "no rule could be evaluated"
            )
            + (
                f"; {_listeners(n_excluded)} excluded."
                if screening.get("enabled", True)
                else "; screening switched off."
            ),
            enabled=screening.get("enabled", True),
            rules=rules,
            fired=fired,
            labels=screening.get("rule_labels", {}),
            evaluated=screening.get("evaluated", {}),
            n_excluded=n_excluded,
        ),
        "stimuli": item(
            "Stimuli",
            f"{facts['n_sentences']} test sentences; sample rate {facts['sample_rate']} Hz; "
            f"loudness normalised to {facts['loudness_target_lufs']:g} LUFS (ITU-R BS.1770); "
            f"durations {number_text(dur_low, 2)}–{number_text(dur_high, 2)} s.",
            **{key: facts[key] for key in STIMULI_FACTS},
        ),
        "systems": item(
            "Systems in the test",
            "; ".join(
                f"{s['name']} ({s['kind_label'].lower()}"
                + (f", voice {s['voice']}" if s["voice"] else "")
                + (
                    f", MNRU Q {s['anchor_q_db']:g} dB of {s['anchor_source']}"
                    if s["anchor_q_db"] is not None
                    else ""
                )
                + (
                    f", {LOWPASS_TEXT[s['anchor_kind']]} of {s['anchor_source']}"
                    if s.get("anchor_kind") in LOWPASS_TEXT
                    else ""
                )
                + f"): MOS {number_text(s['mos'], 2)}"
                for s in systems
            )
            + f". Anchors: {len(anchors)}; natural reference: {'yes' if references else 'no'}; "
            f"MOS range covered {number_text(quality['low'], 2)}–{number_text(quality['high'], 2)}.",
            systems=systems,
            anchors=[s["name"] for s in anchors],
            references=[s["name"] for s in references],
            quality_range=quality,
        ),
        "comparability": item("Comparability", NOT_COMPARABLE),
        "statistics": item(
            "Intervals and tests",
            "MOS with the 95 % t-interval and the 95 % two-way clustered interval (listeners × "
            "sentences; Cameron, Gelbach & Miller 2011); pairwise Wilcoxon signed-rank tests on "
            "per-sentence means (or Mann-Whitney when unpaired) with Holm correction; details in "
            "the report's method section.",
            interval_labels=report.get("interval_labels"),
            alpha=report.get("alpha"),
            references=REFERENCES,
        ),
        "software": item(
            "Software and seeds",
            f"Harken {versions['harken']} (Python {versions['python']}, Django "
            f"{versions['django']}); design seed {facts['design_seed']}; report seed "
            f"{report.get('seed', 0)}.",
            versions=versions,
            design_seed=facts["design_seed"],
            report_seed=report.get("seed", 0),
        ),
    }
    warnings = [w for w in (concentration["warning"],) if w]
    section = {
        "title": "Accompanying information (ITU-T P.800.2)",
        # A list, not an object: PostgreSQL's jsonb does not keep the keys' order.
        "items": [{"key": key, **value} for key, value in items.items()],
        "paragraph": _paragraph(facts, items, n_after, quality),
        "warnings": warnings,
    }
    # A MUSHRA or transcription study's items about the test in its own words.
    return scored_accompanying(section, facts, report)


def report_accompanied(*, study: Study, report: dict) -> dict:
    """``report`` with its ``accompanying_information`` section for ``study``, the section's
    warnings added to the report's (every site report ends with this)."""
    section = accompanying_section(study_accompanying_facts(study=study), report)
    report["accompanying_information"] = section
    report["warnings"] = [*report.get("warnings", []), *section["warnings"]]
    return report


def _listeners(n: int) -> str:
    return f"{n} listener" if n == 1 else f"{n} listeners"


def _whole(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"


def _screening_summary(items: dict) -> str:
    """The rules that excluded someone, for the paragraph: " (one score throughout: 1 ...)"."""
    screening = items["screening"]
    if not screening["enabled"]:
        return " (screening switched off)"
    labels = items["screening"].get("labels", {})
    fired = [
        f"{labels.get(name, name).lower()}: {_listeners(n)}"
        for name, n in screening["fired"].items()
        if n
    ]
    parts = [*fired, f"{_listeners(screening['n_excluded'])} excluded by the screening"]
    by_hand = items["listeners"]["funnel"]["excluded_by_hand"]
    if by_hand:
        parts.append(f"{_listeners(by_hand)} excluded by the researcher")
    return f" ({'; '.join(parts)})"


def _scale_text() -> str:
    return ", ".join(f"{s['value']} {s['label']}" for s in ACR_TEST["scale"])


def _count_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def _paragraph(facts: dict, items: dict, n_after: int, quality: dict) -> str:
    """A method paragraph for a paper, in plain English, built from the items."""
    rec = items["recruitment"]
    per = items["ratings_per_listener"]["distribution"]
    hp = items["headphone_check"]
    sys = items["systems"]
    parts = [
        f"We ran an {ACR_TEST['name']} test ({ACR_TEST['standard']}) with Harken "
        f"{items['software']['versions']['harken']}. Listeners heard one clip at a time and "
        f"answered “{ACR_TEST['question']}” on a five-point scale ({_scale_text()}).",
        f"Listeners were recruited on {rec['platforms']}"
        + (f" with the filters {rec['filters']}" if rec["filters"] else "")
        + (
            f" and paid {rec['pay_per_hour']:.2f} {rec['pay_currency']} per hour."
            if rec["pay_per_hour"] is not None
            else "."
        ),
        f"Of {items['listeners']['funnel']['rated']} listeners who rated, {n_after} remained after "
        f"screening{_screening_summary(items)}.",
        f"Each listener rated at most {facts['clips_per_listener']} test clips (median "
        f"{_whole(per['median'])}); every clip was to receive {facts['ratings_per_clip']} "
        "ratings.",
    ]
    if hp["enabled"] and hp["answered"]:
        parts.append(
            f"A headphone check (Woods et al., 2017) was passed by {hp['passed']} of "
            f"{hp['answered']} listeners."
        )
    parts += [
        f"The stimuli were {facts['n_sentences']} sentences at {facts['sample_rate']} Hz, "
        f"loudness-normalised to {facts['loudness_target_lufs']:g} LUFS.",
        f"The test held {len(sys['systems'])} systems"
        + (
            f", including the natural reference {', '.join(sys['references'])}"
            if sys["references"]
            else ""
        )
        + (
            f" and the {'MNRU ' if _all_mnru(sys['systems']) else ''}anchors "
            f"{', '.join(sys['anchors'])}"
            if sys["anchors"]
            else ""
        )
        + f"; MOS ranged from {number_text(quality['low'], 2)} to {number_text(quality['high'], 2)}.",
        "We report 95 % intervals clustered by listener and sentence and Holm-corrected "
        "pairwise tests.",
        NOT_COMPARABLE,
    ]
    return " ".join(parts)
