"""The standalone file of a MUSHRA and of a transcription report is the site page's report: the
same tables with the same words and cells, the same hints, in one file without a script, a
style attribute or a link to the site's static files; ``mos_report`` on a CSV (a report with
no study and none of the site's screening counts) draws the same body."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from django.urls import reverse

from listening.analysis.render_mushra import mushra_html
from listening.analysis.render_transcription import transcription_html
from listening.analysis.stats.mushra import mushra_report
from tests.listening.analysis.test_render_mushra import report as csv_mushra_report
from tests.listening.analysis.test_site_report_transcription import TYPED
from tests.mushra_factories import (
    SENTENCE_TEXTS,
    careless_mushra_study,
    transcription_answer,
    transcription_study,
)
from tests.trial_factories import report_page


class _Tables(HTMLParser):
    """Every ``<table>`` of a page as (caption, rows of cell texts, the head row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._caption: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append(("", []))
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._caption is not None:
            caption = " ".join("".join(self._caption).split())
            self.tables[-1] = (caption, self.tables[-1][1])
            self._caption = None
        elif tag in ("th", "td") and self._cell is not None:
            self.tables[-1][1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        for part in (self._caption, self._cell):
            if part is not None:
                part.append(data)


def tables(page: str) -> list[tuple[str, list[list[str]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def by_caption(page: str) -> dict[str, list[list[str]]]:
    return dict(tables(page))


def standalone(client, study) -> str:
    response = client.get(reverse("study_report_html", args=[study.slug]))
    assert response.status_code == 200
    return response.content.decode()


def heading_levels(html: str) -> list[int]:
    return [int(level) for level in re.findall(r"<h([1-6])[\s>]", html)]


def assert_outline(page: str) -> None:
    """The file's headings: one h1, then no level skipped on the way down (h1 to h2, not to h3),
    so a screen reader's list of headings nests as the report does."""
    levels = heading_levels(page)
    assert levels[0] == 1 and levels.count(1) == 1, levels
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and not re.search(r"\sstyle=", page)
    assert "/static/" not in page and "<link" not in page
    assert "<style>" in page and ".table-scroll" in page
    # A file is read on paper too: what the site page folds away, it shows open.
    assert re.findall(r"<details(?: open)?>", page) == re.findall(r"<details open>", page)


@pytest.mark.django_db
def test_the_standalone_mushra_file_has_the_site_page_s_tables_and_hints(client):
    study = careless_mushra_study()
    site, _ = report_page(client, study)
    page = standalone(client, study)
    assert_self_contained(page)
    ours = tables(page)
    # The report's tables come first on the site page (its funnel follows): the same ones.
    assert len(ours) >= 5
    assert ours == tables(site)[: len(ours)]
    captions = by_caption(page)
    rules = captions["Rules and the listeners each flagged"]
    assert rules[0] == ["Rule", "Flagged", "Listeners judged"]
    flagged = {row[0]: row[1:] for row in rules[1:]}
    assert flagged == {
        "Hidden reference not found": ["1", "6"],
        "Mid anchor rated high": ["0", "6"],
    }
    conditions = captions["Scores per condition after exclusions"]
    assert conditions[0][:3] == ["Condition", "Role", "n"]
    assert [row[0] for row in conditions[1:]][0] == "system-0"
    assert "prolific:P0" in [row[0] for row in captions["Excluded listeners"]]
    assert "Scores per condition, all listeners" in captions
    for hint in ("p values Holm-corrected across the pairs", "Thresholds: a hidden reference"):
        assert hint in page and hint in site
    assert f"<h1>{study.title}: MUSHRA report</h1>" in page
    # The file's sections are h2 under its h1; on the site they stay h3 under the report's h2.
    assert_outline(page)
    assert '<h2 id="pairs-heading">' in page and '<h3 id="pairs-heading">' in site
    # The thresholds are changed on the site, so only the site page links them.
    edit = reverse("researcher:study_edit", args=[study.slug])
    assert f'<a href="{edit}">Change the thresholds</a>' in site and edit not in page


@pytest.mark.django_db
def test_the_standalone_transcription_file_has_the_site_page_s_word_errors(client):
    study = transcription_study(ratings_per_clip=4, texts=SENTENCE_TEXTS)
    transcription_answer(study, lambda system, sentence: TYPED[system][sentence])
    site, _ = report_page(client, study)
    page = standalone(client, study)
    assert_self_contained(page)
    ours = tables(page)
    assert ours == tables(site)[: len(ours)]
    captions = by_caption(page)
    words = captions["All systems"]
    head = ["Word", "Heard", "Right", "Other word", "Missed", "Error rate", "Typed instead"]
    assert words[0] == head
    assert [row[6] for row in words[1:] if row[0] == "mat"] == ["hat (4)"]
    # Each system's table, folded on the site, is in the file too.
    assert by_caption(page)["system-1"][0] == head
    rates = captions["Word and character error rates per system"]
    assert rates[0][-1] == "Sentences all right"
    assert "lower is more intelligible" in page
    assert "Correct" not in page and "Substituted" not in page
    assert_outline(page)


def test_mos_report_s_mushra_file_counts_the_post_screening_itself():
    """A report from a CSV has no study and no site counts: the file counts the rules."""
    report = csv_mushra_report()
    assert "fired" not in report["screening"]
    page = mushra_html(report, title="offline.csv")
    assert_self_contained(page)
    rules = by_caption(page)["Rules and the listeners each flagged"]
    flagged = {row[0]: row[1:] for row in rules[1:]}
    assert len(report["excluded_listeners"]) == 1
    assert flagged["Hidden reference not found"] == ["1", "8"]
    assert "post-screening excluded 1 listener." in " ".join(page.split())
    # The report handed in is not changed by being drawn.
    assert "fired" not in report["screening"]


def test_mos_report_s_files_without_screening_follow_ups_or_exclusions_by_hand():
    rows = [
        (f"L{j}", f"S{s}", system, score)
        for j in range(3)
        for s in range(2)
        for system, score in (("ref", 95.0), ("tts", 60.0 + j), ("lp35", 20.0))
    ]
    report = mushra_report(
        pd.DataFrame(rows, columns=["listener", "sentence", "system", "score"]),
        roles={"reference": "ref", "anchor35": "lp35"},
        rules={"enabled": False},
    )
    page = mushra_html(report, title="plain.csv")
    assert_self_contained(page)
    assert "The post-screening is switched off." in page
    assert "Follow-up questions" not in page and "excluded by hand" not in page
    assert "No listener was excluded." in page
    empty = {
        "test": "transcription",
        "n_answers": 0,
        "n_listeners": 0,
        "n_sentences": 0,
        "systems": [],
        "word_errors": [],
        "excluded_listeners": [],
        "method": {"wer": "Word error rate."},
    }
    page = transcription_html(empty, title="empty.csv")
    assert "empty.csv: transcription report</h1>" in page
    assert by_caption(page)["All systems"][1] == ["No words."]
