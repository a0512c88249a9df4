"""The MUSHRA and the transcription report pages in real Chromium, with realistic data: seven
conditions with both anchors and a listener the post-screening excludes; four systems with word
errors. Each page is read at phone and desktop width: nothing wider than the window (wide
tables and, on a phone, the box plot scroll in their own boxes).

Screenshots: var/screenshots/report-mushra-{phone,desktop}.png and
report-transcription-{phone,desktop}.png (kept out of git with var/); with follow-up questions,
report-mushra-followups-{phone,desktop}.png cut to the chart and to the follow-up section.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from listening.analysis.reports import report_request
from listening.models import ConditionScore, Listener, Study, StudyReport, System, TrialClip
from tests.browser.conftest import (
    DESKTOP,
    LIVE_SERVER_MARKS,
    PHONE,
    SCREENSHOTS,
    researcher_log_in,
    screenshot,
)
from tests.mushra_factories import (
    mushra_study,
    rate_study,
    texts_set,
    transcription_answer,
    transcription_study,
)

pytestmark = LIVE_SERVER_MARKS

PASSWORD = "pw-researcher-123456"  # the factories' researcher password

#: What the conditions are called in a real vocoder comparison, and their usual score.
CONDITIONS = {
    "system-1": ("tacotron2-hifigan-ljspeech", 72),
    "system-2": ("vits-piper-en_US-lessac-medium", 64),
    "system-3": ("fastspeech2-parallel-wavegan", 55),
    "system-4": ("espeak-ng-en-us", 30),
    "anchor70": ("anchor70", 42),
    "anchor35": ("anchor35", 16),
}


def mushra_score(listener: int, system: str, role: str, sentence: int) -> int:
    """Attentive listeners but the first, who cannot find the hidden reference."""
    if role == TrialClip.Role.HIDDEN_REFERENCE:
        return 62 + sentence if listener == 0 else 100 - (listener + sentence) % 5
    return CONDITIONS[system][1] + (listener * 7 + sentence * 3) % 15 - 7


TEXTS = {
    "s0": "The birch canoe slid on the smooth planks.",
    "s1": "Glue the sheet to the dark blue background.",
    "s2": "It's easy to tell the depth of a well.",
}
#: What listeners type for each system: the natural voice right, the others with errors.
HEARD = {
    "natural-recording": TEXTS,
    "tacotron2-hifigan-ljspeech": {**TEXTS, "s0": "The birch canoe slid on the smooth planes."},
    "vits-piper-en_US-lessac-medium": {**TEXTS, "s1": "Glue the sheep to the dark blue back."},
    "espeak-ng-en-us": {
        "s0": "the bird canoe slit on smooth banks",
        "s1": "blue the sheet to the dark blue background",
        "s2": "it is easy to sell the death of a well",
    },
}


def built(study):
    """``study`` with its report built now, so the page shows it at once (the build on a
    loaded machine must not eat the browser's timeouts)."""
    assert report_request(study=study).status == StudyReport.Status.READY
    return study


def rename(study, names: dict[str, str]) -> None:
    for old, new in names.items():
        System.objects.filter(study=study, name=old).update(name=new)


@pytest.fixture
def mushra(db):
    study = mushra_study(slug="vocoders", n_systems=5, n_sentences=3, ratings_per_clip=6)
    rate_study(study, mushra_score)
    Listener.objects.filter(external_id="P5").update(
        excluded=True, exclusion_reason="reported a noisy room"
    )
    rename(study, {"system-0": "natural-recording"} | {k: v for k, (v, _) in CONDITIONS.items()})
    return built(study)


@pytest.fixture
def transcription(db):
    study = transcription_study(slug="intelligibility", n_systems=4, ratings_per_clip=5)
    texts_set(study, TEXTS)
    rename(
        study,
        {
            "system-0": "natural-recording",
            "system-1": "tacotron2-hifigan-ljspeech",
            "system-2": "vits-piper-en_US-lessac-medium",
            "system-3": "espeak-ng-en-us",
        },
    )
    transcription_answer(study, lambda system, key: HEARD[system][key])
    return built(study)


def read_at_both_widths(page_factory, live_server, study, name: str, heading: str) -> list:
    """Open the study's report at desktop then phone width; screenshots; the pages."""
    url = reverse("study_report", args=[study.slug])
    pages = []
    for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_factory(size)
        researcher_log_in(page, live_server.url, study.owner.username, PASSWORD, url)
        page.get_by_role("heading", name=heading).wait_for()
        # Nothing wider than the window: wide tables and the chart scroll in their own boxes.
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], label
        screenshot(page, f"report-{name}-{label}")
        pages.append(page)
    return pages


def test_the_mushra_report_reads_at_phone_and_desktop_width(page_factory, live_server, mushra):
    desktop, phone = read_at_both_widths(
        page_factory, live_server, mushra, "mushra", "MUSHRA report"
    )
    chart = desktop.locator(".report-figure svg[role=img]").first
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"]
    # On a phone the chart of seven conditions keeps its size and scrolls in its own box.
    figure = phone.locator(".report-figure").first.bounding_box()
    assert figure["x"] >= 0 and figure["x"] + figure["width"] <= PHONE["width"]
    assert phone.locator(".report-figure svg[role=img]").first.is_visible()
    for page in (desktop, phone):
        assert "prolific:P0" in page.content() and "tacotron2-hifigan-ljspeech" in page.content()


def test_the_transcription_report_reads_at_phone_and_desktop_width(
    page_factory, live_server, transcription
):
    desktop, phone = read_at_both_widths(
        page_factory, live_server, transcription, "transcription", "Transcription report"
    )
    for page in (desktop, phone):
        text = page.locator("main").inner_text()
        assert "espeak-ng-en-us" in text and "birch" in text


def test_the_mushra_report_with_follow_ups_reads_at_phone_and_desktop_width(
    page_factory, live_server, db
):
    """The follow-up shares sit under the conditions in the chart's order (reference, systems,
    anchors), each row labelled, nothing wider than the window."""
    study = mushra_study(slug="vocoders-asked", n_systems=5, n_sentences=3, ratings_per_clip=6)
    rate_study(study, mushra_score)
    rename(study, {"system-0": "natural-recording"} | {k: v for k, (v, _) in CONDITIONS.items()})
    Study.objects.filter(pk=study.pk).update(
        followup_questions=[{"key": "odd", "text": "Did any word sound wrong?"}]
    )
    for score in ConditionScore.objects.select_related("trial_clip__clip__system"):
        odd = score.trial_clip.clip.system.name in {"espeak-ng-en-us", "anchor35"}
        score.followups = {"odd": "yes" if odd else "no"}
        score.save(update_fields=["followups"])
    study.refresh_from_db()
    built(study)
    url = reverse("study_report", args=[study.slug])
    order = [s["system"] for s in StudyReport.objects.get(study=study).data["systems"]]
    assert order[0] == "natural-recording" and order[-2:] == ["anchor70", "anchor35"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_factory(size)
        researcher_log_in(page, live_server.url, study.owner.username, PASSWORD, url)
        section = page.locator("section[aria-labelledby=followups-heading]")
        section.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], label
        text = section.inner_text()
        assert "Did any word sound wrong?" in text and "Condition" in text
        assert [text.index(name) for name in order] == sorted(text.index(n) for n in order)
        for part, locator in (("chart", page.locator(".report-figure").first), ("asked", section)):
            locator.scroll_into_view_if_needed()
            box = locator.bounding_box()
            page.screenshot(
                path=str(SCREENSHOTS / f"report-mushra-followups-{part}-{label}.png"),
                full_page=True,
                clip={
                    "x": 0,
                    "y": box["y"] + page.evaluate("window.scrollY") - 20,
                    "width": size["width"],
                    "height": min(box["height"] + 40, 1400),
                },
            )
