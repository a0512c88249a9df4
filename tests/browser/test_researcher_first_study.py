"""A researcher's first study in real Chromium, where it used to go wrong: a voice that cannot
work is shown as unavailable and cannot be chosen; sentences are checked against the study's
actual systems and again when a Tacotron2 system is added; an Excel (Windows-1252) file lists
every bad line and is read as Windows-1252 after a preview; the clip preview marks the playing
row, says Pause and keeps the player in view; each Copy button has its own name; a database
outage shows the friendly 503 page. Screenshots at 360x740 and 1280x800 go to var/screenshots/."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from playwright.sync_api import expect

from listening.models import Sentence, Study, System
from listening.studies.demo import espeak_voice_ensure, tacotron2_default_voice_ensure
from synthesis.models import Voice
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, both_sizes, screenshot
from tests.factories import ResearcherFactory, StudyFactory, flac_bytes, ready_clip
from tests.listening.studies.test_sentences import EXCEL
from tests.synthesis.engine.conftest import Builders

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "pw-first-study-3141"


def log_in(page, base: str, next_url: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")


@pytest.fixture
def grace(transactional_db):
    return ResearcherFactory(username="grace", password=PASSWORD)


@pytest.fixture
def offline(tmp_path, monkeypatch, settings):
    """This machine: an empty torch hub cache and no fetching of torchaudio's weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    settings.TORCH_BUNDLES_FETCHABLE = False


def small_tacotron2_voice(tmp_path) -> Voice:
    build = Builders(tmp_path)
    return Voice.objects.create(
        name="Tacotron2 small (characters)",
        engine=Voice.Engine.TACOTRON2,
        acoustic_path=str(build.save(build.tacotron2().state_dict(), "taco.pt")),
        symbol_set=Voice.SymbolSet.TORCHAUDIO,
    )


def test_a_voice_without_weights_is_shown_unavailable_and_sentences_follow_the_systems(
    live_server, page_factory, grace, offline, tmp_path
):
    study = StudyFactory(owner=grace, slug="first", title="First study")
    default = tacotron2_default_voice_ensure()
    espeak_voice_ensure()
    small_tacotron2_voice(tmp_path)
    page = page_factory(DESKTOP)
    base = live_server.url

    # Sentences with characters Tacotron2 cannot read, in a study with no system yet: fine.
    log_in(page, base, f"/studies/{study.slug}/sentences/")
    page.get_by_label("Sentence file").set_input_files(
        {"name": "set.txt", "mimeType": "text/plain", "buffer": b"A plain one.\nFive * three.\n"}
    )
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("No problems found.")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("symbol set")
    page.get_by_role("button", name="Import 2 sentences").click()
    expect(page.get_by_text("2 sentences imported")).to_be_visible()

    # The systems page: the default Tacotron2 voice is listed as unavailable, with the fix.
    page.get_by_role("link", name="Systems", exact=True).click()
    voice = page.get_by_label("Voice", exact=True)
    option = voice.locator(f'option[value="{default.pk}"]')
    expect(option).to_be_disabled()
    expect(option).to_have_text(re.compile(r"\(unavailable\)$"))
    listed = page.locator(f'li[data-voice="{default.pk}"]')
    expect(listed).to_contain_text("unavailable")
    expect(listed).to_contain_text("tacotron2_english_characters_1500_epochs_ljspeech.pth")
    expect(listed).to_contain_text("TORCH_BUNDLES_FETCHABLE")
    both_sizes(page, "systems-voice-unavailable")

    # A Tacotron2 voice that can work is added, and the sentences it cannot read are named.
    page.get_by_label("Name (never shown to listeners)").fill("taco")
    page.get_by_role("combobox", name="Audio", exact=True).select_option("voice")
    voice.select_option(label="Tacotron2 small (characters)")
    page.get_by_role("button", name="Add system").click()
    expect(page.get_by_text("System 'taco' added.")).to_be_visible()
    warning = page.locator(".messages li.warning")
    expect(warning).to_contain_text("cannot read 1 of the study's sentences")
    expect(warning).to_contain_text("sentence 2 (s002)")
    both_sizes(page, "systems-sentence-warning")
    assert not System.objects.filter(voice=default).exists()


def test_an_excel_file_lists_every_bad_line_and_is_read_as_windows_1252(
    live_server, page_factory, grace
):
    study = StudyFactory(owner=grace, slug="excel", title="Excel file")
    page = page_factory(DESKTOP)
    log_in(page, live_server.url, f"/studies/{study.slug}/sentences/")
    page.get_by_label("Sentence file").set_input_files(
        {"name": "excel.csv", "mimeType": "text/csv", "buffer": EXCEL}
    )
    page.get_by_role("button", name="Check the file").click()
    expect(
        page.get_by_text(re.compile("3 lines of 'excel.csv' are not valid UTF-8"))
    ).to_be_visible()
    panel = page.locator("#read-as")
    expect(panel).to_contain_text("Don\u2019t stop.")
    expect(panel).to_contain_text("It costs \u20ac5.")
    both_sizes(page, "sentences-read-as")
    page.get_by_role("button", name="Read it as Windows-1252").click()
    expect(page.get_by_text("No problems found.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"4 sentences read \(csv, Windows-1252\)"))).to_be_visible()
    both_sizes(page, "sentences-read-as-preview")
    page.get_by_role("button", name="Import 4 sentences").click()
    expect(page.get_by_text("4 sentences imported")).to_be_visible()
    assert Sentence.objects.get(study=study, key="s3").text == "Don\u2019t stop."


def test_the_clip_preview_marks_the_playing_row_and_keeps_the_player_in_view(
    live_server, page_factory, grace
):
    study = StudyFactory(owner=grace, slug="clips", title="Clip preview", status="ready")
    system = System.objects.create(study=study, name="natural", kind=System.Kind.REFERENCE)
    short, long = flac_bytes(1.0), flac_bytes(30.0)  # the two rows played outlast the test
    for i in range(30):
        sentence = Sentence.objects.create(
            study=study, key=f"s{i:02d}", text=f"Line {i}.", position=i
        )
        seconds = 30.0 if i >= 28 else 1.0
        audio = long if i >= 28 else short
        ready_clip(system, sentence, audio, duration_s=seconds, name=f"s{i:02d}.flac")
    page = page_factory(DESKTOP)
    log_in(page, live_server.url, f"/studies/{study.slug}/clips/")

    last = page.get_by_role("button", name="Play natural s29")
    last.scroll_into_view_if_needed()
    last.click()
    row = page.locator("#clips-table tbody tr").nth(29)
    expect(row).to_have_attribute("aria-current", "true")
    expect(row).to_have_class(re.compile("is-playing"))
    expect(page.get_by_role("button", name="Pause natural s29")).to_be_visible()
    expect(page.locator("[data-player-status]")).to_have_text("Playing: natural / s29")
    # The player sticks to the top of the window: in view although the row is far down.
    player = page.locator("#clip-player")
    expect(player).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 500
    both_sizes(page, "clips-playing")
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        # What the window shows (not the whole page): the player above the playing row.
        page.set_viewport_size(size)
        row.scroll_into_view_if_needed()
        expect(player).to_be_in_viewport()
        page.screenshot(path=str(SCREENSHOTS / f"researcher-clips-playing-window-{name}.png"))

    # Pressing it again pauses; another row's Play moves the mark.
    page.get_by_role("button", name="Pause natural s29").click()
    expect(page.get_by_role("button", name="Play natural s29")).to_be_visible()
    page.get_by_role("button", name="Play natural s28").click()
    expect(page.locator("#clips-table tbody tr").nth(28)).to_have_attribute("aria-current", "true")
    expect(row).not_to_have_attribute("aria-current", "true")
    expect(page.locator("tr[aria-current]")).to_have_count(1)


def test_copy_buttons_have_their_own_names_and_a_missing_completion_url_is_warned(
    live_server, page_factory, grace
):
    study = StudyFactory(owner=grace, slug="links", title="Links", completion_code="GRACE-OK")
    page = page_factory(DESKTOP)
    log_in(page, live_server.url, f"/studies/{study.slug}/")
    for name in (
        "Direct link",
        "Prolific (study URL with URL parameters)",
        "MTurk (survey-link HIT)",
    ):
        expect(page.get_by_role("button", name=f"Copy {name}", exact=True)).to_have_count(1)
    expect(page.locator("#completion-warning")).to_contain_text(
        "The Prolific completion URL is empty."
    )
    expect(page.locator("[data-study-status]")).to_have_text("Draft")
    both_sizes(page, "overview-completion-warning")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.SYNTHESIZING)
    page.reload()
    expect(page.locator("[data-study-status]")).to_have_text("Synthesising")


def test_the_copy_and_player_words_are_the_templates(live_server, page_factory, grace):
    """What the scripts say comes from the page's translated attributes: replace one (as
    another language would) and the status line follows, the copied field's name in place."""
    study = StudyFactory(owner=grace, slug="words", title="Words")
    page = page_factory(DESKTOP)
    log_in(page, live_server.url, f"/studies/{study.slug}/")
    status = page.locator("[data-copy-status]")
    expect(status).to_have_attribute("data-msg-copied", "{label}: copied.")
    status.evaluate(
        "node => { node.dataset.msgCopied = node.dataset.msgSelected = '«{label}» ✓'; }"
    )
    page.get_by_role("button", name="Copy Direct link", exact=True).click()
    expect(status).to_have_text("«Direct link» ✓")


def test_a_database_outage_shows_the_friendly_503_page(live_server, page_factory, grace):
    StudyFactory(owner=grace, slug="outage", title="Outage", status="open")
    page = page_factory(PHONE)
    original = dict(connection.settings_dict)
    with connection.cursor() as cursor:
        # The live server's connection to this session's test database is cut, as a database
        # restart would; nothing else on the shared server is touched.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()
    # The settings dict is shared by every thread's connection: reconnecting finds no server.
    connection.settings_dict["PORT"] = "1"
    try:
        response = page.goto(f"{live_server.url}/t/outage/")
        assert response.status == 503 and response.headers["retry-after"] == "30"
        expect(page.get_by_role("heading", name="Back in a moment")).to_be_visible()
        expect(page.get_by_role("link", name="Reload the page")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("5432")
        screenshot(page, "listener-503-phone")
        page.set_viewport_size(DESKTOP)
        screenshot(page, "listener-503-desktop")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    page.get_by_role("link", name="Reload the page").click()
    expect(page.get_by_role("heading", name="Back in a moment")).to_have_count(0)
