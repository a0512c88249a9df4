"""The standalone file of an ACR (MOS) report is the site page's report: the same tables, with
the same captions, column heads and cells, in one file without a script, a style attribute, a
link to the site or its static files. The study (``tests.factories.rated_study``) has a
listener excluded by the screening and one by hand, pairs, a follow-up question and measured
clips, so every section of the report body has its tables."""

from __future__ import annotations

import pytest
from django.urls import reverse

from listening.models import Clip, Rating, Study
from listening.objective.cache import clips_objective_compute
from tests.factories import HONEST, rated_study
from tests.listening.analysis.test_scored_standalone import (
    assert_outline,
    assert_self_contained,
    by_caption,
    standalone,
    tables,
)

QUESTION = [{"key": "odd", "text": "Did a word sound wrong?"}]
#: The funnel's two tables, which only the site page has, after the report's.
FUNNEL_TABLES = [
    "Listeners at each step, per platform",
    "Dropped out, by the step where they stopped",
]


@pytest.fixture
def study(ada):
    study = rated_study(ada)
    screening = {**study.screening, "max_gold_failures": 0, "min_correlation": None}
    Study.objects.filter(pk=study.pk).update(followup_questions=QUESTION, screening=screening)
    for rating in Rating.objects.select_related("listener", "clip__sentence"):
        yes = rating.listener.external_id not in HONEST or rating.clip.sentence.position == 0
        rating.followups = {"odd": "yes" if yes else "no"}
        rating.save(update_fields=["followups"])
    clips_objective_compute(clip_ids=list(Clip.objects.values_list("id", flat=True)))
    return study


def test_the_standalone_mos_file_has_the_site_page_s_tables(client_ada, study):
    site = client_ada.get(reverse("study_report", args=[study.slug])).content.decode()
    page = standalone(client_ada, study)
    assert_self_contained(page)
    assert_outline(page)
    assert page.count("<details open>") == 3 and "<details open>" not in site
    assert "href=" not in page and "<form" not in page
    ours, theirs = tables(page), tables(site)
    # The page's tables are the report's, then its funnel's: the file has the report's.
    assert [caption for caption, _ in theirs[len(ours) :]] == FUNNEL_TABLES
    assert ours == theirs[: len(ours)]
    captions = [caption for caption, _ in ours]
    for caption in (
        "MOS per system after exclusions",
        "MOS per system with every screened listener",
        "Significance matrix · after exclusions",
        "Pairwise tests · after exclusions",
        "Rules",
        "Thresholds",
        "Excluded listeners and why",
        "Screening values per listener",
        "Did a word sound wrong? (odd)",
        "Objective metrics per system",
        "Automatic MOS estimates against the listeners",
        "Ratings needed for the target half-width of the clustered interval",
    ):
        assert caption in captions, caption
    # Every table has its head row and at least one row of cells.
    assert all(len(rows) >= 2 for _, rows in ours)
    # The site's own parts stay on the site: its downloads, the funnel, the settings link.
    assert 'id="funnel"' in site and 'id="funnel"' not in page
    thresholds = reverse("researcher:study_edit", args=[study.slug])
    assert thresholds in site and thresholds not in page
    assert reverse("study_report_html", args=[study.slug]) not in page


def test_the_thresholds_are_named_as_the_settings_form_names_them(client_ada, study):
    rows = by_caption(standalone(client_ada, study))["Thresholds"]
    values = {header: value for header, value in rows[1:]}
    # The form's label, then the name the JSON and the API use; a switch is on or off, a
    # threshold switched off is "off", and a threshold of 0 is 0.
    assert values["Screen listeners enabled"] == "on"
    assert values["Most gold-question failures allowed max_gold_failures"] == "0"
    assert values[
        "Lowest correlation with the other listeners (optional floor) min_correlation"
    ] == ("off")
    assert values["Exclude listeners who give one score throughout flag_identical_scores"] == "on"
    # A tuning knob the form does not show keeps its name alone.
    assert values["gold_tolerance"] == "1.0"
