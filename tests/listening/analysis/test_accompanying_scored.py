"""The accompanying information of a MUSHRA and of a transcription report
(``listening.analysis.accompanying_scored``): each type's own words, from the study's real
settings and the report's numbers, and no ACR wording left (no MOS, no five categories)."""

from __future__ import annotations

import pytest

from listening.analysis.accompanying import ITEMS
from listening.analysis.reports import study_report_compute
from listening.models import Listener
from listening.scales import ACR_TEST
from tests.mushra_factories import (
    SENTENCE_TEXTS,
    careless_mushra_study,
    mushra_study,
    rate_study,
    transcription_answer,
    transcription_study,
)

pytestmark = pytest.mark.django_db


def items_of(report: dict) -> dict[str, dict]:
    section = report["accompanying_information"]
    assert [item["key"] for item in section["items"]] == list(ITEMS)
    assert all(item["label"] and item["text"] for item in section["items"])
    return {item["key"]: item for item in section["items"]}


def no_acr_words(report: dict) -> None:
    section = report["accompanying_information"]
    text = " ".join([section["paragraph"], *(i["text"] for i in section["items"])])
    assert ACR_TEST["question"] not in text
    assert ": MOS" not in text and "MOS range" not in text
    assert "Absolute Category Rating" not in text and "5-point scale" not in text


@pytest.fixture
def mushra():
    study = careless_mushra_study(
        mushra_conditions_per_page=8,
        mushra_keep_position=False,
        screening={"hidden_reference_below": 85.0, "max_hidden_reference_share": 0.2},
    )
    Listener.objects.filter(external_id="P4").update(excluded=True, exclusion_reason="bot")
    return study


def test_a_mushra_report_names_the_procedure_the_reference_and_the_anchors(mushra):
    report = study_report_compute(study=mushra)
    items = items_of(report)
    test = items["test"]["text"]
    assert test.startswith("MUSHRA (multiple stimuli with hidden reference and anchor)")
    assert "ITU-R BS.1534-3" in test and "the same recording hidden among the conditions" in test
    assert "anchors anchor35, anchor70" in test
    # The study's settings, not the defaults: 8 on a page, each condition from its start.
    assert "at most 8 conditions on a page" in test
    assert "each condition starts from its beginning" in test
    assert items["test"]["question"] == "Rate each sound: 100 means as good as the Reference."
    assert "0–100 continuous quality scale" in items["scale"]["text"]
    assert "Excellent 80-100" in items["scale"]["text"]
    systems = items["systems"]["text"]
    assert "system-0 (hidden reference): mean" in systems
    assert "anchor35 (low anchor, 3.5 kHz)" in systems and "anchor70 (mid anchor, 7 kHz)" in systems
    assert "nor with MOS values" in items["comparability"]["text"]
    assert "Wilcoxon signed-rank" in items["statistics"]["text"]
    assert "two-way clustered interval" in items["statistics"]["text"]
    no_acr_words(report)


def test_a_mushra_report_states_the_post_screening_with_the_study_thresholds(mushra):
    report = study_report_compute(study=mushra)
    screening = items_of(report)["screening"]
    assert screening["text"].startswith("Post-screening per ITU-R BS.1534-3 (section 4.1.2)")
    # P0 misses the hidden reference; P4 was excluded by hand, so five listeners are judged.
    assert (
        "hidden reference rated below 85 in more than 20% of a listener's trials: 1 of 5"
        in (screening["text"])
    )
    assert (
        "mid anchor (7 kHz) rated above 90 in more than 15% of a listener's trials: 0 of 5"
        in screening["text"]
    )
    assert screening["text"].endswith("1 listener excluded.")
    assert screening["rules"]["hidden_reference_below"] == 85.0
    paragraph = report["accompanying_information"]["paragraph"]
    assert paragraph.startswith("We ran a MUSHRA test (ITU-R BS.1534-3), with an open and a hidden")
    assert "Of 6 listeners who rated, 4 remained after the post-screening of BS.1534-3" in paragraph
    assert "hidden reference rated below 85 in more than 20%" in paragraph
    assert "1 listener excluded by the researcher" in paragraph


def test_a_reference_free_mushra_report_says_so_and_drops_the_hidden_reference_rule():
    study = mushra_study(slug="mushra-free", mushra_reference_free=True, ratings_per_clip=2)
    rate_study(study, lambda listener, system, role, sentence: 50 + sentence)
    report = study_report_compute(study=study)
    items = items_of(report)
    assert "reference-free: no open or hidden reference" in items["test"]["text"]
    assert items["test"]["question"] == "Rate each sound from 0 (Bad) to 100 (Excellent)."
    assert "hidden reference" not in items["screening"]["text"]
    assert (
        "without a reference (a MUSHRA-like test)"
        in (report["accompanying_information"]["paragraph"])
    )


@pytest.fixture
def transcription():
    study = transcription_study(ratings_per_clip=2, transcription_max_plays=3, texts=SENTENCE_TEXTS)
    transcription_answer(
        study, lambda system, key: "the cat" if system == "system-1" else SENTENCE_TEXTS[key]
    )
    return study


def test_a_transcription_report_names_the_normalisation_the_error_rates_and_the_plays(
    transcription,
):
    report = study_report_compute(study=transcription)
    items = items_of(report)
    assert "each clip could be played up to 3 times" in items["test"]["text"]
    assert items["test"]["max_plays"] == 3
    scoring = items["scale"]["text"]
    assert "British spellings made American" in scoring and "lower case" in scoring
    statistics = items["statistics"]["text"]
    assert "WER = (substitutions + deletions + insertions) / reference words" in statistics
    assert "CER the same on characters" in statistics and "clustered intervals" in statistics
    assert "system-0: WER 0.0 %" in items["systems"]["text"]
    assert "No automatic screening" in items["screening"]["text"]
    paragraph = report["accompanying_information"]["paragraph"]
    assert "listeners heard each clip up to 3 times and typed what was said" in paragraph
    assert "normalised" in paragraph and "Levenshtein" in paragraph
    no_acr_words(report)


def test_a_transcription_clip_heard_once_is_worded_so():
    study = transcription_study(slug="once", ratings_per_clip=1)
    transcription_answer(study, lambda system, key: "words")
    report = study_report_compute(study=study)
    assert "each clip could be played once" in items_of(report)["test"]["text"]
