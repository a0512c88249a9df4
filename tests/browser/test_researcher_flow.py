"""A researcher in real Chromium, from logging in to an open test: a sentence file with
problems, its preview, the fixed file, a ZIP of reference recordings, synthesis with a
Tacotron2 voice (test-built weights, Griffin-Lim) on a real Celery worker, every clip ready,
the test opened and the listener link copied. Screenshots of each page go to
var/test/screenshots/researcher-*.png."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
import soundfile
import torch
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from listening.models import Clip, Study
from synthesis.engine.tacotron2 import build_tacotron2
from synthesis.models import Voice
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.factories import ResearcherFactory
from tests.synthesis.engine.conftest import SMALL_TACOTRON2

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PASSWORD = "pw-researcher-2718"

# A small torchaudio Tacotron2 (38 characters, LJSpeech mel settings) with random weights: the
# engine tests' small shapes.
SMALL = SMALL_TACOTRON2


def random_tacotron2_with_a_stop_clock(path, frames: int = 58) -> None:
    """Save a random small Tacotron2 whose stop token fires after about ``frames`` frames.

    Random weights never learned to stop. One decoder LSTM unit is set up as a clock (input,
    forget and output gates open, a constant small cell input, so its cell grows by the same
    amount each step) and the stop token reads only that unit, so every sentence ends after the
    same number of frames, whatever the random rest of the network does.
    """
    torch.manual_seed(0)
    model = build_tacotron2(SMALL)
    hidden, unit = SMALL.decoder_rnn_dim, 0
    step = float(np.arctanh(0.7)) / frames  # the stop logit 10*h - 7 crosses 0 at h = 0.7
    with torch.no_grad():
        rnn = model.decoder.decoder_rnn
        for gate, bias in ((0, 10.0), (1, 10.0), (2, step), (3, 10.0)):  # i, f, g, o
            row = gate * hidden + unit
            rnn.weight_ih[row].zero_()
            rnn.weight_hh[row].zero_()
            rnn.bias_ih[row] = bias
            rnn.bias_hh[row] = 0.0
        model.decoder.gate_layer.weight.zero_()
        model.decoder.gate_layer.weight[0, unit] = 10.0
        model.decoder.gate_layer.bias.fill_(-7.0)
    torch.save(model.state_dict(), path)


def recording(seconds: float, rate: int = 48000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 * (1 - np.cos(2 * np.pi * t / seconds))
    samples = (0.3 * envelope * np.sin(2 * np.pi * 140 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([samples, samples], axis=1), rate, format="FLAC")
    return buffer.getvalue()


def file_payload(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def log_in(page, base: str, next_url: str = "/studies/") -> None:
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # The next page's scripts (modules, deferred) must have run before a test clicks.
    page.wait_for_load_state("load")


BAD_SENTENCES = (
    "key,text\n"
    "s01,The birch canoe slid on the smooth planks.\n"
    "s02,Glue the sheet to the dark blue background.\n"
    "\n"
    "s02,It is easy to tell the depth of a well.\n"
    "s04,Five * three | two ~ one.\n"
)
GOOD_SENTENCES = (
    "key,text\n"
    "s01,The birch canoe slid on the smooth planks.\n"
    "s02,Glue the sheet to the dark blue background.\n"
    "s03,It is easy to tell the depth of a well.\n"
)


def test_researcher_goes_from_login_to_an_open_test(
    live_server, celery_worker, page_factory, tmp_path
):
    ResearcherFactory(username="grace", password=PASSWORD)
    checkpoint = tmp_path / "tacotron2_small.pt"
    random_tacotron2_with_a_stop_clock(checkpoint)
    Voice.objects.create(
        name="Tacotron2 small (Griffin-Lim)",
        engine=Voice.Engine.TACOTRON2,
        acoustic_path=str(checkpoint),
        symbol_set=Voice.SymbolSet.TORCHAUDIO,
        vocoder=Voice.Vocoder.GRIFFINLIM,
    )
    base = live_server.url
    page = page_factory(DESKTOP, permissions=["clipboard-read", "clipboard-write"])

    # Log in and create the study.
    log_in(page, base)
    expect(page.get_by_role("heading", name="Your studies")).to_be_visible()
    page.get_by_role("link", name="New study", exact=True).click()
    page.get_by_label("Title").fill("Small Tacotron2 against natural speech")
    page.get_by_label("Slug").fill("small-taco")
    page.get_by_label("Instructions").fill("Wear headphones and rate how natural it sounds.")
    page.get_by_label("Ratings per clip").fill("3")
    page.get_by_label("Clips per listener").fill("3")
    page.get_by_label("Completion code").fill("GRACE-DONE")
    screenshot(page, "researcher-study-form")
    page.get_by_role("button", name="Create study").click()
    expect(
        page.get_by_text("Study 'Small Tacotron2 against natural speech' created")
    ).to_be_visible()

    # A sentence file with problems: previewed, nothing saved, import disabled.
    page.get_by_label("Sentence file").set_input_files(
        file_payload("sentences.csv", BAD_SENTENCES.encode("utf-8-sig"), "text/csv")
    )
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("1 sentence has problems.")).to_be_visible()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("Duplicate key 's02' (first on line 3)")
    # No system yet, so no voice's symbol set: '*', '|' and '~' are not (yet) a problem.
    expect(problems).not_to_contain_text("symbol set")
    expect(page.get_by_text("Blank line (skipped): 4")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Import"))).to_be_disabled()
    screenshot(page, "researcher-sentences-preview-problems")
    assert not Study.objects.get(slug="small-taco").sentences.exists()

    # The fixed file (UTF-16 this time) is imported on confirmation.
    page.get_by_role("link", name="Upload another file").click()
    page.get_by_label("Sentence file").set_input_files(
        file_payload("sentences.csv", GOOD_SENTENCES.encode("utf-16"), "text/csv")
    )
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("No problems found.")).to_be_visible()
    screenshot(page, "researcher-sentences-preview-ok")
    page.get_by_role("button", name="Import 3 sentences").click()
    expect(page.get_by_text("3 sentences imported from sentences.csv")).to_be_visible()
    screenshot(page, "researcher-sentences")

    # Systems: the Tacotron2 voice, natural recordings from a ZIP, an MNRU anchor.
    page.get_by_role("link", name="Systems", exact=True).click()
    page.get_by_label("Name (never shown to listeners)").fill("tacotron2-small")
    page.get_by_role("combobox", name="Audio", exact=True).select_option("voice")
    page.get_by_label("Voice", exact=True).select_option(label="Tacotron2 small (Griffin-Lim)")
    page.get_by_role("button", name="Add system").click()
    expect(page.get_by_text("System 'tacotron2-small' added.")).to_be_visible()
    page.get_by_label("Name (never shown to listeners)").fill("natural")
    page.get_by_role("combobox", name="Audio", exact=True).select_option("reference")
    page.get_by_role("button", name="Add system").click()
    expect(page.get_by_text("System 'natural' added.")).to_be_visible()

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for i, key in enumerate(["s01", "s02", "s03"]):
            zipped.writestr(f"recordings/{key}.flac", recording(0.9 + 0.3 * i))
        zipped.writestr("recordings/s99.flac", recording(0.5))
    page.get_by_label("Recordings for natural").set_input_files(
        file_payload("recordings.zip", archive.getvalue(), "application/zip")
    )
    page.get_by_role("button", name="Upload").click()
    report = page.locator("#upload-report")
    expect(report).to_contain_text("3 recordings stored.")
    expect(report).to_contain_text("Files that match no sentence")
    expect(report).to_contain_text("recordings/s99.flac")

    page.get_by_role("region", name="Add an MNRU anchor").get_by_label(
        "Derived from"
    ).select_option(label="tacotron2-small")
    page.get_by_label("Q (dB)").fill("5")
    page.get_by_role("button", name="Add anchor").click()
    expect(page.get_by_text("Anchor 'mnru-q5-tacotron2-small' added.")).to_be_visible()
    screenshot(page, "researcher-systems")

    # Launch synthesis on the real worker and watch the clips page poll until all are ready.
    page.get_by_role("link", name="Overview", exact=True).click()
    page.get_by_role("button", name="Launch synthesis").click()
    expect(page.get_by_text("clips queued for synthesis")).to_be_visible()
    ready = page.locator('[data-count="ready"]')
    try:
        expect(ready).to_have_text("9", timeout=60_000)
    except AssertionError:
        print(celery_worker.log_text()[-4000:])
        raise
    # The page reloads itself when the last clip is done; the table then shows every clip.
    expect(page.locator("#clips-table tbody tr")).to_have_count(9)
    expect(page.locator("#clips-table .status-ready")).to_have_count(9)
    expect(page.locator("#clips-table")).to_contain_text("LUFS")
    assert set(
        Clip.objects.filter(system__study__slug="small-taco").values_list("status", flat=True)
    ) == {"ready"}
    first_play = page.get_by_role("button", name=re.compile("^Play tacotron2-small")).first
    first_play.click()
    player = page.locator("#clip-player")
    expect(player).to_be_visible()
    page.wait_for_function(
        "() => { const a = document.querySelector('#clip-player');"
        " return a.readyState >= 2 && a.duration > 0.3 && !a.error; }"
    )
    screenshot(page, "researcher-clips")

    # Open the test: the design freezes and the listener link can be copied.
    page.get_by_role("link", name="Overview", exact=True).click()
    page.get_by_role("button", name="Open the test").click()
    expect(page.get_by_text("The test is open")).to_be_visible()
    expect(page.locator("[data-study-status]")).to_have_text("Open")
    assert Study.objects.get(slug="small-taco").status == Study.Status.OPEN
    expect(page.get_by_role("button", name="Launch synthesis")).to_have_count(0)

    prolific = page.get_by_label("Prolific (study URL with URL parameters)")
    expected = (
        f"{base}/t/small-taco/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
        "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    expect(prolific).to_have_value(expected)
    page.locator('button[data-copy="link-prolific"]').click()
    expect(page.locator("[data-copy-status]")).to_have_text(
        "Prolific (study URL with URL parameters): copied."
    )
    assert page.evaluate("navigator.clipboard.readText()") == expected
    screenshot(page, "researcher-overview")

    page.get_by_role("link", name="Your studies").click()
    expect(page.get_by_role("link", name="Small Tacotron2 against natural speech")).to_be_visible()
    screenshot(page, "researcher-dashboard")
    page.get_by_role("link", name="API token").click()
    token = Token.objects.get(user__username="grace").key
    expect(page.get_by_label("Your token")).to_have_value(token)
    screenshot(page, "researcher-api-token")
    page.get_by_role("link", name="API documentation and a Python example").click()
    expect(page.get_by_role("heading", name="A complete example in Python")).to_be_visible()
    screenshot(page, "researcher-api-docs")

    # The same pages on a phone.
    phone = page_factory(PHONE)
    log_in(phone, base, "/studies/small-taco/")
    expect(
        phone.get_by_role("heading", name="Small Tacotron2 against natural speech")
    ).to_be_visible()
    screenshot(phone, "researcher-overview-phone")
    phone.get_by_role("link", name="Clips", exact=True).click()
    expect(phone.locator("#clips-table tbody tr")).to_have_count(9)
    screenshot(phone, "researcher-clips-phone")


def test_copy_falls_back_when_the_clipboard_api_is_missing(
    live_server, page_factory, transactional_db
):
    user = ResearcherFactory(username="grace", password=PASSWORD)
    Study.objects.create(owner=user, slug="fallback", title="Fallback")
    page = page_factory(DESKTOP)
    # An insecure origin or an old browser: no navigator.clipboard at all.
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    log_in(page, live_server.url, "/studies/fallback/")
    page.get_by_role("button", name="Copy").first.click()
    status = page.locator("[data-copy-status]")
    expect(status).to_have_text(re.compile(r"^Direct link: (copied\.|selected; press Ctrl\+C)"))
    selected = page.evaluate(
        "() => { const i = document.activeElement; return i.value.slice(i.selectionStart, i.selectionEnd); }"
    )
    assert selected == f"{live_server.url}/t/fallback/"
