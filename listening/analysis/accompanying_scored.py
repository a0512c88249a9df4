"""The accompanying information (ITU-T P.800.2) of a MUSHRA and of a transcription report: the
items whose words differ from an ACR report's, from the study's own settings.

Where it sits: ``accompanying.accompanying_section`` builds the section (who listened,
recruitment, pay, headphone check, stimuli, software: the same for every type) and hands it
here, which rewrites, for these two types, the items that speak of the test itself and the
paragraph. Pure: the facts (``accompanying.study_accompanying_facts``)
and the built report in, the section out.

Why separate words: an ACR paragraph on a MUSHRA report would tell a reader the listeners
answered "How does it sound?" on five categories and quote MOS values, none of which happened.
A MUSHRA report must name the hidden reference and the anchors (ITU-R BS.1534-3: a test
without them is not MUSHRA), the post-screening with the thresholds actually applied, and the
intervals; a transcription report the normalisation, how WER and CER are counted and how often
a clip could be played, because error rates depend on all three.
"""

from __future__ import annotations

from typing import Any

from listening.analysis.render_transcription import percent_text
from listening.analysis.stats.mushra import METHOD as MUSHRA_METHOD
from listening.analysis.stats.transcription import METHOD as TRANSCRIPTION_METHOD
from listening.models import System, TestType
from listening.scales import MUSHRA_TEST, TRANSCRIPTION_TEST

MUSHRA_NOT_COMPARABLE = (
    "MUSHRA scores are relative to the reference, the anchors and the conditions of this test: "
    "they are not comparable with scores from other tests, nor with MOS values, and the "
    "anchors must not be used to rescale results between tests (ITU-R BS.1534-3)."
)
TRANSCRIPTION_NOT_COMPARABLE = (
    "Error rates depend on the sentences (how predictable they are), on how often a clip could "
    "be played and on the normalisation: compare systems within this test, not with "
    "error rates from other tests."
)
MUSHRA_STATISTICS = (
    "Per condition the mean and median, a naive 95 % t-interval over ratings and a 95 % "
    "two-way clustered interval (listeners × sentences; Cameron, Gelbach & Miller 2011); "
    "every pair of conditions by a Wilcoxon signed-rank test on the paired differences per "
    "listener and sentence and by a clustered test of the difference, Holm corrected; "
    "details in the report's method section."
)
TRANSCRIPTION_STATISTICS = (
    "WER = (substitutions + deletions + insertions) / reference words after a word-level "
    "Levenshtein alignment, CER the same on characters, both summed over a system's answers; "
    "95 % two-way clustered intervals (listeners × sentences) of the ratio; details in the "
    "report's method section."
)


def number_text(value: float | None, digits: int = 1) -> str:
    """A number as the accompanying information writes it (plain, ``digits`` decimals)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def _listeners(n: int) -> str:
    return f"{n} listener" if n == 1 else f"{n} listeners"


def _interval(ci: list | None, show=number_text) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f" [{show(ci[0])}–{show(ci[1])}]"


def _about_the_numbers(not_comparable: str, label: str, text: str, method: dict) -> dict:
    """The comparability and statistics items: what the numbers may be compared with, and
    how they were made (the statistics' own method texts as data)."""
    return {
        "comparability": {"label": "Comparability", "text": not_comparable},
        "statistics": {"label": label, "text": text, "method": method},
    }


def _excluded_counts(report: dict) -> tuple[int, int]:
    """(excluded by the screening, excluded by hand) as the report counts them."""
    screening = report.get("screening") or {}
    automatic = int(screening.get("n_excluded", 0)) if screening.get("enabled", True) else 0
    return automatic, len(report.get("manual_exclusions") or [])


# --- MUSHRA ----------------------------------------------------------------------------------


def _mushra_presentation(facts: dict) -> str:
    page = facts["mushra_conditions_per_page"]
    playback = (
        "switching between conditions keeps the playback position"
        if facts["mushra_keep_position"]
        else "each condition starts from its beginning when switched to"
    )
    return (
        f"{MUSHRA_TEST['presentation']}; {playback}; at most {page} conditions on a page (a "
        "balanced subset of the systems per listener when the study has more); a region may "
        "be looped"
    )


def _mushra_rules(report: dict) -> list[tuple[str, str]]:
    """(rule name, what it excludes) of the post-screening rules that apply to ``report``,
    with the thresholds the study set."""
    rules = (report.get("screening") or {}).get("rules") or {}
    phrases = []
    if (
        rules.get("hidden_reference_below") is not None
        and report.get("variant") != "reference_free"
    ):
        phrases.append(
            (
                "hidden_reference_missed",
                f"hidden reference rated below {rules['hidden_reference_below']:g} in more than "
                f"{rules['max_hidden_reference_share']:.0%} of a listener's trials",
            )
        )
    if rules.get("mid_anchor_above") is not None:
        phrases.append(
            (
                "mid_anchor_high",
                f"mid anchor (7 kHz) rated above {rules['mid_anchor_above']:g} in more than "
                f"{rules['max_mid_anchor_share']:.0%} of a listener's trials",
            )
        )
    return phrases


def _mushra_applied(report: dict) -> bool:
    screening = report.get("screening") or {}
    return bool(screening.get("applied", screening.get("enabled", True)))


def _mushra_screening_text(report: dict) -> str:
    screening = report.get("screening") or {}
    fired, evaluated = screening.get("fired", {}), screening.get("evaluated", {})
    parts = [
        f"{phrase}: {fired.get(name, 0)} of {evaluated.get(name, 0)} listeners"
        for name, phrase in _mushra_rules(report)
    ]
    automatic, _ = _excluded_counts(report)
    outcome = (
        f"{_listeners(automatic)} excluded"
        if _mushra_applied(report)
        else "reported only, nobody excluded (post-screening switched off)"
    )
    rule_text = "; ".join(parts) or "no rule applies"
    return f"Post-screening per ITU-R BS.1534-3 (section 4.1.2): {rule_text}; {outcome}."


def _role_text(role: str | None) -> str:
    return {
        "hidden_reference": "hidden reference",
        "reference": "open reference",
        "anchor35": "low anchor, 3.5 kHz",
        "anchor70": "mid anchor, 7 kHz",
    }.get(role or "", "under test")


def mushra_items(facts: dict, report: dict) -> dict[str, dict[str, Any]]:
    """The MUSHRA words of the items that speak of the test (label, text and their data)."""
    reference_free = facts["mushra_reference_free"] or report.get("variant") == "reference_free"
    question = MUSHRA_TEST["question_reference_free" if reference_free else "question"]
    bands = ", ".join(f"{b['label']} {b['value']}" for b in MUSHRA_TEST["scale"])
    anchors = [s for s in facts["systems"] if s["kind"] == System.Kind.ANCHOR]
    anchor_names = [s["name"] for s in anchors]
    systems = report.get("systems") or []
    counts = report.get("screening", {})
    return {
        "test": {
            "label": "Test type and question",
            "text": f"{MUSHRA_TEST['name']} ({MUSHRA_TEST['standard']}), "
            + (
                "reference-free: no open or hidden reference"
                if reference_free
                else "an open reference and the same recording hidden among the conditions"
            )
            + f"; anchors {', '.join(anchor_names) or 'none'}; question: “{question}”; "
            f"{_mushra_presentation(facts)}.",
            "type": MUSHRA_TEST["type"],
            "question": question,
            "standard": MUSHRA_TEST["standard"],
            "reference_free": reference_free,
            "keep_position": facts["mushra_keep_position"],
            "mid_anchor": facts["mushra_mid_anchor"],
            "conditions_per_page": facts["mushra_conditions_per_page"],
        },
        "scale": {
            "label": "Scale labels and increment",
            "text": f"0–100 continuous quality scale, increment {MUSHRA_TEST['increment']}, "
            f"five equal labelled bands: {bands}.",
            "labels": MUSHRA_TEST["scale"],
            "increment": MUSHRA_TEST["increment"],
        },
        "attention_checks": {
            "label": "Attention checks",
            "text": "No gold or repeated items: the hidden reference and the anchors in every "
            "trial are the checks (see the post-screening).",
        },
        "screening": {
            "label": "Screening rules and their counts",
            "text": _mushra_screening_text(report),
            "rules": counts.get("rules", {}),
            "fired": counts.get("fired", {}),
            "evaluated": counts.get("evaluated", {}),
            "n_excluded": _excluded_counts(report)[0],
        },
        "systems": {
            "label": "Conditions in the test",
            "text": "; ".join(
                f"{s['system']} ({_role_text(s.get('role'))}): mean {number_text(s.get('mean'))}"
                + _interval(s.get("ci95_clustered"))
                for s in systems
            )
            + f". {len(systems)} conditions, {len(anchors)} anchors.",
            "systems": [
                {k: s.get(k) for k in ("system", "role", "n", "mean", "median", "ci95_clustered")}
                for s in systems
            ],
            "anchors": anchor_names,
        },
        **_about_the_numbers(
            MUSHRA_NOT_COMPARABLE, "Intervals and tests", MUSHRA_STATISTICS, MUSHRA_METHOD
        ),
    }


def mushra_paragraph(facts: dict, report: dict, items: dict[str, dict]) -> str:
    """A method paragraph of a MUSHRA test for a paper (``items``: the section's, by key)."""
    test = items["test"]
    automatic, manual = _excluded_counts(report)
    rated = int(report.get("n_listeners") or 0) + manual
    after = rated - manual - automatic
    reference = (
        "without a reference (a MUSHRA-like test)"
        if test["reference_free"]
        else "with an open and a hidden reference"
    )
    rules = " or ".join(phrase for _, phrase in _mushra_rules(report)) or "no rule applied"
    screening = (
        f"the post-screening of BS.1534-3 ({rules}: {_listeners(automatic)} excluded)"
        if _mushra_applied(report)
        else "the post-screening, which was switched off"
    )
    return " ".join(
        [
            f"We ran a MUSHRA test (ITU-R BS.1534-3), {reference}, in Harken "
            f"{items['software']['versions']['harken']}: listeners heard all conditions of a "
            f"sentence on one page, at most {test['conditions_per_page']} at a time, and rated "
            "each on a 0–100 scale (Bad, Poor, Fair, Good, Excellent); every condition had to "
            "be played before the page could be sent.",
            f"The anchors were {', '.join(items['systems']['anchors']) or 'none'}.",
            f"Of {rated} listeners who rated, {after} remained after {screening} and "
            f"{_listeners(manual)} excluded by the researcher.",
            f"The stimuli were {facts['n_sentences']} sentences at {facts['sample_rate']} Hz, "
            f"loudness-normalised to {facts['loudness_target_lufs']:g} LUFS.",
            "We report per condition the mean with 95 % intervals clustered by listener and "
            "sentence, and Holm-corrected Wilcoxon signed-rank tests of the pairs.",
            MUSHRA_NOT_COMPARABLE,
        ]
    )


# --- Transcription ---------------------------------------------------------------------------


def _plays_text(plays: int) -> str:
    return "once" if plays == 1 else f"up to {plays} times"


def transcription_items(facts: dict, report: dict) -> dict[str, dict[str, Any]]:
    """The transcription words of the items that speak of the test (label, text and their data)."""
    plays = facts["transcription_max_plays"]
    _, manual = _excluded_counts(report)
    systems = report.get("systems") or []
    return {
        "test": {
            "label": "Test type and question",
            "text": f"{TRANSCRIPTION_TEST['name']} ({TRANSCRIPTION_TEST['standard']}); "
            f"question: “{TRANSCRIPTION_TEST['question']}”; "
            f"{TRANSCRIPTION_TEST['presentation']}; each clip could be played "
            f"{_plays_text(plays)}.",
            "type": TRANSCRIPTION_TEST["type"],
            "question": TRANSCRIPTION_TEST["question"],
            "standard": TRANSCRIPTION_TEST["standard"],
            "max_plays": plays,
        },
        "scale": {
            "label": "Answer and scoring",
            "text": "A typed answer, scored against the sentence text after normalisation: "
            + TRANSCRIPTION_METHOD["normalisation"],
            "normalisation": TRANSCRIPTION_METHOD["normalisation"],
        },
        "attention_checks": {
            "label": "Attention checks",
            "text": "No gold or repeated items; every typed answer counts as it was typed.",
        },
        "screening": {
            "label": "Screening rules and their counts",
            "text": "No automatic screening of typed answers; "
            f"{_listeners(manual)} excluded by the researcher.",
            "n_excluded": 0,
        },
        "systems": {
            "label": "Systems in the test",
            "text": "; ".join(
                f"{s['system']}: WER {percent_text(s.get('wer'))}"
                + _interval(s.get("ci95_clustered"), percent_text)
                + f", CER {percent_text(s.get('cer'))}"
                for s in systems
            )
            + ".",
            "systems": [
                {k: s.get(k) for k in ("system", "n", "wer", "cer", "ci95_clustered")}
                for s in systems
            ],
        },
        **_about_the_numbers(
            TRANSCRIPTION_NOT_COMPARABLE,
            "Error rates and intervals",
            TRANSCRIPTION_STATISTICS,
            TRANSCRIPTION_METHOD,
        ),
    }


def transcription_paragraph(facts: dict, report: dict, items: dict[str, dict]) -> str:
    """A method paragraph of a transcription test for a paper (``items`` by key)."""
    _, manual = _excluded_counts(report)
    kept = int(report.get("n_listeners") or 0)
    return " ".join(
        [
            f"We ran a transcription test in Harken {items['software']['versions']['harken']}: "
            f"listeners heard each clip {_plays_text(facts['transcription_max_plays'])} and "
            "typed what was said.",
            f"The answers of {_listeners(kept)} were scored ({manual} excluded by the researcher).",
            "Answers and sentence texts were normalised (case, punctuation, numbers written out, "
            "contractions, British spellings made American) before a word-level Levenshtein "
            "alignment; WER and CER are the substitutions, deletions and insertions over the "
            "reference words (characters), summed over a system's answers.",
            f"The stimuli were {facts['n_sentences']} sentences at {facts['sample_rate']} Hz, "
            f"loudness-normalised to {facts['loudness_target_lufs']:g} LUFS.",
            "We report 95 % intervals clustered by listener and sentence.",
            TRANSCRIPTION_NOT_COMPARABLE,
        ]
    )


WORDING = {
    TestType.MUSHRA: (mushra_items, mushra_paragraph),
    TestType.TRANSCRIPTION: (transcription_items, transcription_paragraph),
}


def scored_accompanying(section: dict, facts: dict, report: dict) -> dict:
    """``section`` (``accompanying.accompanying_section``) with the items that speak of the
    test worded for the study's type (``facts["test_type"]``) and its paragraph rewritten;
    returned unchanged for any other type."""
    if facts.get("test_type") not in WORDING:
        return section
    items_of, paragraph_of = WORDING[facts["test_type"]]
    worded = items_of(facts, report)
    # A worded item replaces the ACR one whole: its MOS values and ACR scale do not hold here.
    items = [
        {"key": item["key"], **worded[item["key"]]} if item["key"] in worded else item
        for item in section["items"]
    ]
    by_key = {item["key"]: item for item in items}
    return {**section, "items": items, "paragraph": paragraph_of(facts, report, by_key)}
