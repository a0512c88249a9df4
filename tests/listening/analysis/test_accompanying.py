"""The report's accompanying information (ITU-T P.800.2; ``listening.analysis.accompanying``):
every item for a study rated through the real listener path, on the page, in the HTML and in
the JSON, and the warning when a few listeners give most ratings.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from listening.analysis.accompanying import (
    ITEMS,
    NOT_COMPARABLE,
    accompanying_section,
    rating_concentration,
)
from listening.analysis.render import report_html
from listening.analysis.reports import study_report_compute
from listening.models import Listener, System
from listening.scales import ACR_TEST
from listening.studies.lifecycle import study_open
from listening.studies.settings import study_update
from tests.conftest import ROOT
from tests.factories import (
    fail_headphone_check,
    join,
    open_study,
    rate_everything,
    rated_study,
    rating_listener,
)


@pytest.fixture
def study(ada):
    """Three systems (a natural reference, an uploaded one, and one marked as low anchor) x four
    sentences plus a spoken attention check; five listeners pass every check and rate their
    whole playlist, one fails the headphone check, one only consents."""
    study = open_study(
        slug="p800-2",
        n_systems=3,
        ratings_per_clip=3,
        clips_per_listener=6,
        open_study=False,
        recruitment_platforms="Prolific",
        recruitment_filters="First language English; UK and US; approval rate 95 % or more",
        pay_per_hour="12.00",
        pay_currency="GBP",
    )
    System.objects.filter(study=study, name="system-2").update(is_low_anchor=True)
    study_open(study=study)
    study.refresh_from_db()
    for k in range(5):
        listener = rating_listener(study, f"PID{k}")
        rate_everything(
            listener, lambda item, k=k: item.expected_score or 1 + (k + item.position) % 5
        )
    # A German speaker on earbuds who fails the check (every sound played, every answer wrong).
    german = {"native_language": "German", "age_band": "35-44", "device": "earbuds"}
    assert fail_headphone_check(join(study, "PIDX"), german)[1] is False
    join(study, "PIDY")
    return study


def item_text(section: dict, key: str) -> str:
    return next(item["text"] for item in section["items"] if item["key"] == key)


@pytest.mark.django_db
def test_every_item_is_present_for_a_rated_study(study):
    report = study_report_compute(study=study)
    section = report["accompanying_information"]
    assert [item["key"] for item in section["items"]] == list(ITEMS)
    items = {item["key"]: item for item in section["items"]}
    assert all(item["label"] and item["text"] for item in items.values())

    assert items["test"]["question"] == ACR_TEST["question"] == "How does it sound?"
    assert [s["label"] for s in items["scale"]["labels"]] == [
        "Excellent",
        "Good",
        "Fair",
        "Poor",
        "Bad",
    ]
    assert items["scale"]["increment"] == 1
    assert items["instructions"]["instructions"] == study.instructions
    assert items["ui_language"]["language"] == "en"
    assert (
        "Prolific" in items["recruitment"]["text"] and "12.00 GBP" in items["recruitment"]["text"]
    )
    assert "approval rate" in items["recruitment"]["filters"]

    funnel = items["listeners"]["funnel"]
    assert funnel["joined"] == 7 and funnel["consented"] == 6
    assert funnel["headphone_check_passed"] == 5 and funnel["completed"] == 5
    assert funnel["rated"] == 5 == report["n_listeners"]
    assert funnel["after_screening"] == 5 - report["screening"]["n_excluded"]

    per = items["ratings_per_listener"]
    assert per["cap"] == 6 and per["distribution"]["n_listeners"] == 5
    assert per["distribution"]["max"] <= 6

    background = items["listener_background"]
    assert background["first_language"] == {"English": 5, "German": 1}
    assert background["device"] == {"headphones": 5, "earbuds": 1}
    assert "country not asked" in background["text"]

    headphones = items["headphone_check"]
    assert (headphones["passed"], headphones["answered"]) == (5, 6)
    assert headphones["pass_rate"] == pytest.approx(5 / 6, abs=1e-4)
    assert "5 of 6 passed (83 %)" in headphones["text"]

    attention = items["attention_checks"]
    assert attention["n_sentences"] == 1 and attention["rate"] == study.attention_check_rate
    screening = items["screening"]
    assert screening["rules"] == report["screening"]["rules"]
    assert set(screening["fired"]) == set(report["screening"]["fired"])

    stimuli = items["stimuli"]
    assert stimuli["n_sentences"] == 4 and stimuli["sample_rate"] == study.sample_rate
    assert stimuli["loudness_target_lufs"] == study.loudness_target_lufs
    assert stimuli["duration_range_s"] == [pytest.approx(0.6), pytest.approx(0.6)]

    systems = items["systems"]
    assert [s["name"] for s in systems["systems"]] == ["system-0", "system-1", "system-2"]
    assert [s["kind"] for s in systems["systems"]] == ["reference", "uploaded", "uploaded"]
    assert systems["references"] == ["system-0"] and systems["anchors"] == []
    mos = [s["mos"] for s in report["systems_after_exclusion"]]
    assert systems["quality_range"]["low"] == min(mos)
    assert systems["quality_range"]["high"] == max(mos)
    assert items["comparability"]["text"] == NOT_COMPARABLE
    assert "Le Maguer" in NOT_COMPARABLE

    stats = items["statistics"]
    assert any("Cameron" in r for r in stats["references"])
    assert any("P.800.2" in r for r in stats["references"])
    software = items["software"]
    assert software["design_seed"] == study.design_seed and software["versions"]["harken"]

    paragraph = section["paragraph"]
    for words in ("How does it sound?", "Prolific", "12.00 GBP", "headphone check", NOT_COMPARABLE):
        assert words in paragraph


@pytest.mark.django_db
def test_the_section_is_on_the_page_and_in_the_html_and_json(client_ada, study):
    client_ada.force_login(study.owner)
    page = client_ada.get(reverse("study_report", args=[study.slug])).content.decode()
    assert 'id="accompanying-heading"' in page
    for key in ITEMS:
        assert f'id="accompanying-{key}"' in page
    assert "A paragraph to paste into the paper" in page

    data = json.loads(client_ada.get(reverse("study_report_json", args=[study.slug])).content)
    assert [i["key"] for i in data["accompanying_information"]["items"]] == list(ITEMS)
    html = report_html(data, title=study.title)
    assert "Accompanying information (ITU-T P.800.2)" in html
    assert data["accompanying_information"]["paragraph"][:60] in html


@pytest.mark.django_db
def test_changing_the_pay_rebuilds_the_report(client_ada, study):
    client_ada.force_login(study.owner)
    url = reverse("study_report_json", args=[study.slug])
    before = json.loads(client_ada.get(url).content)["accompanying_information"]
    study_update(study=study, data={"pay_per_hour": "15.50"})
    after = json.loads(client_ada.get(url).content)["accompanying_information"]
    assert "12.00 GBP" in item_text(before, "recruitment")
    assert "15.50 GBP" in item_text(after, "recruitment")


def test_a_few_listeners_giving_most_ratings_is_warned_about():
    # 20 listeners; the two most active give 100 of 136 ratings.
    crowd = [50, 50] + [2] * 18
    found = rating_concentration(crowd)
    assert found["top_listeners"] == 2 and found["share"] == pytest.approx(100 / 136, abs=1e-4)
    assert "Finkelstein" in found["warning"] and "2 of 20 listeners" in found["warning"]
    assert rating_concentration([6] * 20)["warning"] is None
    assert rating_concentration([])["warning"] is None


def test_the_concentration_warning_reaches_the_section_warnings():
    facts = {
        "instructions": "",
        "consent_text": "",
        "language": "en",
        "languages": ["en"],
        "recruitment_platforms": "",
        "recruitment_filters": "",
        "pay_per_hour": None,
        "pay_currency": "",
        "platforms_seen": {},
        "stages": {},
        "n_joined": 20,
        "n_consented": 20,
        "n_completed": 20,
        "n_manually_excluded": 0,
        "questionnaire_enabled": False,
        "questionnaires": 0,
        "native_language": {},
        "country": {},
        "device": {},
        "age_band": {},
        "headphone_check_enabled": False,
        "headphone_answered": 0,
        "headphone_passed": 0,
        "ratings_per_listener": [50, 50] + [2] * 18,
        "clips_per_listener": 50,
        "ratings_per_clip": 8,
        "training_clips": 0,
        "attention_check_rate": 0.0,
        "max_attention_failures": 1,
        "playlist_items": {},
        "n_sentences": 10,
        "n_attention_sentences": 0,
        "sample_rate": 22050,
        "sample_rates_seen": [],
        "loudness_target_lufs": -26.0,
        "loudness_range_lufs": [None, None],
        "duration_range_s": [None, None],
        "systems": [],
        "design_seed": 1,
    }
    section = accompanying_section(facts, {"n_listeners": 20, "screening": {}, "systems": []})
    assert len(section["warnings"]) == 1 and "Finkelstein" in section["warnings"][0]
    assert "not stated" in item_text(section, "recruitment")
    assert "No headphone check" in item_text(section, "headphone_check")


def test_the_rating_page_asks_the_question_the_report_states():
    """The report quotes the question; the page must still ask exactly that."""
    page = (ROOT / "templates/listening/participation/rate.html").read_text(encoding="utf-8")
    assert f'{{% translate "{ACR_TEST["question"]}" %}}' in page
    # The ACR page's context (its scale) is built in participation/pages_acr.py.
    context = (ROOT / "listening/participation/pages_acr.py").read_text(encoding="utf-8")
    for label in ACR_TEST["scale"]:
        assert f'gettext_lazy("{label["label"]}")' in context


@pytest.mark.django_db
def test_the_report_warns_when_one_listener_gives_most_ratings(ada):
    study = rated_study(ada, slug="dominated")
    # Every listener but P1 keeps one rating: P1's 12 are 12 of 17 test ratings.
    for listener in Listener.objects.filter(study=study).exclude(external_id="P1"):
        keep = listener.ratings.order_by("id").first()
        listener.ratings.exclude(pk=keep.pk).delete()
    report = study_report_compute(study=study)
    warned = [w for w in report["warnings"] if "Finkelstein" in w]
    assert len(warned) == 1 and "1 of 6 listeners" in warned[0] and "71%" in warned[0]
