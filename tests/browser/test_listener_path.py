"""The listener path in real Chromium: practice spans the scale and never comes back as a test clip, the
counts agree, every rating page names the question, Next stays where it is when a clip ends,
phones get tap wording, the headphone check resumes after a reload, and no page logs a console
error. Screenshots of each page at 360x740 and 1280x800 go to var/screenshots/."""

from __future__ import annotations

import re

from listening.models import Listener, PlaylistItem, System
from tests.browser.conftest import (
    DESKTOP,
    LIVE_SERVER_MARKS,
    PHONE,
    consent,
    console_errors,
    current_item,
    shoot,
    wait_until_rateable,
)
from tests.factories import join, open_study, pass_checks

pytestmark = LIVE_SERVER_MARKS

QUESTION = "How natural does the speech sound?"


def next_box(page) -> dict:
    return page.get_by_role("button", name="Next").bounding_box()


def test_practice_spans_the_scale_counts_agree_question_shown_and_next_stays(
    live_server, page_factory
):
    study = open_study(
        slug="browser-practice",
        n_sentences=6,
        clips_per_listener=3,
        training_clips=2,
        anchors=(5.0, 15.0),
        questionnaire=False,
        headphone_check=False,
        question=QUESTION,
        seconds=0.8,
    )
    page = page_factory(PHONE, has_touch=True, is_mobile=True)
    errors = console_errors(page)
    page.goto(f"{live_server.url}/t/{study.slug}/?PROLIFIC_PID=P1&SESSION_ID=S1")
    welcome = page.locator("main").inner_text()
    match = re.search(r"You will rate (\d+) short clips", welcome)
    assert match, welcome
    n_rated = int(match.group(1))
    assert "Before them come 2 practice clips" in welcome
    assert re.search(r"It takes about \d+ minutes? in all", welcome)
    assert QUESTION in welcome
    shoot(page, "welcome")
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"/rate/$"))

    seen: list[PlaylistItem] = []
    while "/rate/" in page.url:
        item = current_item(page)
        practice = item.purpose == PlaylistItem.Purpose.TRAINING
        label = page.locator(".progress-row label").inner_text()
        if practice:
            assert (
                label
                == f"Practice clip {len([s for s in seen if s.purpose == 'training']) + 1} of 2"
            )
        else:
            done = len([s for s in seen if s.purpose != "training"])
            assert label == f"Clip {done + 1} of {n_rated}"
        assert page.locator("#question").inner_text() == QUESTION
        # A phone: no talk of Space, keys or the mouse.
        assert page.get_by_text("Tap Play and listen to the end").is_visible()
        assert not page.get_by_text("Press Play (or Space)").is_visible()
        before = next_box(page)
        page.get_by_role("button", name="Play").first.click()
        wait_until_rateable(page)
        page.wait_for_timeout(300)  # the status line's change has been laid out
        after = next_box(page)
        assert after["y"] == before["y"], (before, after)  # Next does not move
        last_option = page.locator("label.acr-option").last.bounding_box()
        assert after["y"] - (last_option["y"] + last_option["height"]) >= 16  # a gap
        if practice and not seen:
            shoot(page, "rate-practice")
            # Practice: Next within the first screen of a 360x740 phone.
            page.evaluate("window.scrollTo(0, 0)")
            assert after["y"] + after["height"] <= PHONE["height"], after
        if not practice and all(s.purpose == "training" for s in seen):
            shoot(page, "rate")
        score = item.expected_score or 3
        page.locator(f"label.acr-option:has(input[value='{score}'])").click()
        page.get_by_role("button", name="Next").click()
        page.wait_for_load_state()
        seen.append(item)
    page.wait_for_url(re.compile(r"/done/$"))
    shoot(page, "done")

    practice = [s for s in seen if s.purpose == "training"]
    later = {s.clip_id for s in seen if s.purpose != "training"}
    assert len(practice) == 2 and len(seen) - 2 == n_rated
    kinds = [(p.clip.system.kind, p.clip.system.anchor_q_db) for p in practice]
    assert kinds == [(System.Kind.REFERENCE, None), (System.Kind.ANCHOR, 5.0)]
    assert not {p.clip_id for p in practice} & later  # never again as a test clip
    assert errors == []


def test_desktop_wording_and_no_console_error(live_server, page_factory):
    study = open_study(slug="browser-desk", questionnaire=False, headphone_check=False)
    page = page_factory(DESKTOP)
    errors = console_errors(page)
    consent(page, f"{live_server.url}/t/{study.slug}/")
    page.wait_for_url(re.compile(r"/rate/$"))
    assert page.get_by_text("Press Play (or Space)").is_visible()
    assert not page.get_by_text("Tap Play").is_visible()
    # A locked option does not react to the pointer.
    option = page.locator("label.acr-option").first
    border = option.evaluate("e => getComputedStyle(e).borderColor")
    option.hover()
    assert option.evaluate("e => getComputedStyle(e).borderColor") == border
    assert errors == []


def test_headphone_check_shows_the_tone_and_resumes_after_a_reload(live_server, page_factory):
    study = open_study(slug="browser-hc", questionnaire=False)
    page = page_factory(PHONE)
    errors = console_errors(page)
    consent(page, f"{live_server.url}/t/{study.slug}/?PROLIFIC_PID=P2&SESSION_ID=S2")
    page.wait_for_url(re.compile(r"/headphones/$"))
    assert page.get_by_text("You have one attempt").is_visible()
    assert "the test ends after this check" in page.locator("#one-attempt").inner_text()
    shoot(page, "headphones-volume")
    page.get_by_role("button", name="Play the tone").click()
    page.get_by_role("button", name="My volume is set: continue").click()
    # Answers of a sound not yet played are locked.
    assert page.locator("input[name=trial_0]").first.is_disabled()
    trial = page.locator("fieldset.trial").first
    trial.get_by_role("button", name="Play").click()
    page.wait_for_selector("fieldset.trial[data-trial='0'] .tones li.now", timeout=5_000)
    now = trial.locator(".tones li.now").inner_text()
    assert now.startswith("Tone 1")
    shoot(page, "headphones-trials")
    page.wait_for_function("() => !document.querySelector('input[name=trial_0]').disabled")
    trial.get_by_label("Tone 2").check()
    page.wait_for_function(
        "() => fetch(location.href).then(r => r.text()).then(t => "
        't.includes(\'name="trial_0" value="2" required checked\'))'
    )
    page.reload()
    assert page.locator("#check-form").is_visible()  # the same step, not the volume step
    assert page.locator("fieldset.trial").first.get_by_label("Tone 2").is_checked()
    assert page.locator("input[name=trial_1]").first.is_disabled()
    listener = Listener.objects.get(external_id="P2")
    assert listener.headphone_check["chosen"] == {"0": 2}
    assert errors == []


def test_already_taking_part_and_screen_out_pages(live_server, page_factory):
    study = open_study(
        slug="browser-polite",
        questionnaire=False,
        screenout_code="SCREEN-7",
        screenout_url="https://app.prolific.com/submissions/complete?cc=SCREEN-7",
    )
    pass_checks(join(study, "VICTIM", attempt_id="real-session"))
    base = f"{live_server.url}/t/{study.slug}/"
    page = page_factory(PHONE)
    errors = console_errors(page)
    response = page.goto(base + "?PROLIFIC_PID=VICTIM&SESSION_ID=guess")
    assert response.status == 409
    assert page.get_by_role("heading", name="You are already taking part").is_visible()
    shoot(page, "already-taking-part")

    consent(page, base + "?PROLIFIC_PID=P7&SESSION_ID=S7")
    page.wait_for_url(re.compile(r"/headphones/$"))
    Listener.objects.filter(external_id="P7").update(stage=Listener.Stage.FAILED_CHECK)
    page.goto(base)
    page.wait_for_url(re.compile(r"/ended/$"))
    assert page.locator("#screenout-code").inner_text() == "SCREEN-7"
    assert page.get_by_role("link", name="Back to Prolific").is_visible()
    shoot(page, "failed-check-screen-out")
    assert [e for e in errors if "status of 409" not in e] == []
