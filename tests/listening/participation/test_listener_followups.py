"""Follow-up questions on every listener page: shown when the study has them, checked by the
server (every question, yes or no), stored with each type's answer, and a page sent with a
question open comes back with everything the listener entered."""

from __future__ import annotations

import re

import pytest

from listening.models import ConditionScore, Playlist, Rating
from listening.participation import selectors
from listening.participation.followups import FollowupsMissingError, followups_check
from tests.factories import (
    consented_client,
    hidden_fields,
    open_study,
    rate,
    rating_listener,
    served_earlier,
)
from tests.mushra_factories import mushra_study, transcription_study
from tests.trial_factories import open_trial_study

pytestmark = pytest.mark.django_db

QUESTIONS = [
    {"key": "mispronounced", "text": "Did you hear any mispronounced word?"},
    {"key": "noise", "text": "Was there background noise?"},
]


def page(client, study) -> str:
    response = client.get(f"/t/{study.slug}/rate/")
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def acr_form(html: str, score: str = "4") -> dict:
    fields = {k: v for k, v in hidden_fields(html).items() if k.startswith(("item_", "clip_"))}
    fields |= {"page": hidden_fields(html)["page"], "score_0": score}
    fields |= {"plays_0": "1", "played_0": "0.6", "ended_0": "900"}
    return fields


def checked(html: str, name: str) -> str | None:
    """The value of the checked radio ``name`` on a page (None: none checked)."""
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and " checked" in tag:
            return re.search(r'value="([^"]*)"', tag).group(1)
    return None


def test_the_acr_page_asks_each_question_as_a_labelled_yes_no_pair():
    study = open_study(slug="fu-page", followup_questions=QUESTIONS)
    client, _ = consented_client(study)
    html = page(client, study)
    assert '<fieldset class="followups"' in html and "<legend>About this clip</legend>" in html
    for q in QUESTIONS:
        assert q["text"] in html
        for value in ("yes", "no"):
            assert (
                f'id="fu-0-{q["key"]}-{value}" name="followup_0_{q["key"]}" value="{value}"' in html
            )
            assert f'for="fu-0-{q["key"]}-{value}"' in html


def test_a_study_without_questions_shows_none_and_stores_none():
    study = open_study(slug="fu-none")
    client, listener = consented_client(study)
    html = page(client, study)
    assert "followups" not in html.split("<form", 1)[1].split("</form>")[0].replace(
        "data-msg-followups", ""
    )
    served_earlier(listener)
    assert client.post(f"/t/{study.slug}/rate/", acr_form(html)).status_code == 302
    assert Rating.objects.get(listener=listener).followups == {}


def test_an_acr_page_with_a_question_open_comes_back_with_what_was_entered():
    study = open_study(slug="fu-acr", followup_questions=QUESTIONS)
    client, listener = consented_client(study)
    html = page(client, study)
    served_earlier(listener)
    form = acr_form(html, score="2") | {"followup_0_mispronounced": "yes"}
    response = client.post(f"/t/{study.slug}/rate/", form)
    assert response.status_code == 400 and not Rating.objects.exists()
    again = response.content.decode()
    assert "still open: Was there background noise?" in again
    assert "Did you hear any mispronounced word?" not in again.split("still open:")[1].split("<")[0]
    assert checked(again, "score_0") == "2"
    assert checked(again, "followup_0_mispronounced") == "yes"
    assert checked(again, "followup_0_noise") is None
    # The page token was not used: the same page goes on once the question is answered.
    assert hidden_fields(again)["page"] == form["page"]
    answered = form | {"followup_0_noise": "no"}
    assert client.post(f"/t/{study.slug}/rate/", answered).status_code == 302
    rating = Rating.objects.get(listener=listener)
    assert rating.score == 2 and rating.followups == {"mispronounced": "yes", "noise": "no"}
    # Sent again (a double click, the Back button): refused, the first answer kept.
    assert client.post(f"/t/{study.slug}/rate/", answered).status_code == 409
    assert Rating.objects.filter(listener=listener).count() == 1


@pytest.mark.parametrize(
    "answers",
    [{"mispronounced": "yes", "noise": "maybe"}, {"mispronounced": "yes"}],
    ids=["not yes or no", "one missing"],
)
def test_an_acr_page_with_a_wrong_answer_saves_nothing(answers):
    study = open_study(slug="fu-wrong", followup_questions=QUESTIONS)
    client, listener = consented_client(study)
    html = page(client, study)
    served_earlier(listener)
    form = acr_form(html) | {f"followup_0_{k}": v for k, v in answers.items()}
    response = client.post(f"/t/{study.slug}/rate/", form)
    assert response.status_code == 400 and "Yes or No" in response.content.decode()
    assert not Rating.objects.exists()


def test_the_service_refuses_unknown_keys_and_missing_answers():
    study = open_study(slug="fu-service", followup_questions=QUESTIONS, open_study=False)
    with pytest.raises(FollowupsMissingError, match="asks no question extra"):
        followups_check(study, {"mispronounced": "no", "noise": "no", "extra": "yes"})
    with pytest.raises(FollowupsMissingError, match="still open: Was there background noise"):
        followups_check(study, {"mispronounced": "no"})
    assert followups_check(study, {"mispronounced": "No ", "noise": "yes"}) == {
        "mispronounced": "no",
        "noise": "yes",
    }


def test_the_acr_service_stores_the_answers_as_checked_not_as_handed_in():
    study = open_study(slug="fu-clean", followup_questions=QUESTIONS)
    listener = rating_listener(study)
    item = selectors.listener_next_item(listener=listener)
    rate(listener, item, 4, followups={"mispronounced": "No ", "noise": "YES"})
    assert Rating.objects.get(listener=listener).followups == {
        "mispronounced": "no",
        "noise": "yes",
    }


@pytest.mark.parametrize("kind", ["acr", "ab", "mushra"])
def test_a_page_sent_back_after_the_place_went_to_another_listener_says_so(kind):
    """A question left open, and meanwhile the listener's playlist was released (idle too
    long): the page cannot come back, and the rating page says what happened (no error)."""
    questions = {"followup_questions": QUESTIONS}
    study = {
        "acr": lambda: open_study(slug="fu-gone-acr", **questions),
        "ab": lambda: open_trial_study("ab", slug="fu-gone-ab", **questions),
        "mushra": lambda: mushra_study(slug="fu-gone-mushra", **questions),
    }[kind]()
    client, listener = consented_client(study)
    fields = hidden_fields(page(client, study))
    served_earlier(listener)
    Playlist.objects.filter(listener=listener).update(
        listener=None, status=Playlist.Status.FREE, claimed_at=None
    )
    response = client.post(f"/t/{study.slug}/rate/", fields)
    assert response.status_code == 302 and response["Location"] == f"/t/{study.slug}/rate/"
    assert not Rating.objects.exists()


def test_a_comparison_trial_stores_its_answers_once_per_trial():
    study = open_trial_study("ab", slug="fu-ab", followup_questions=QUESTIONS)
    client, listener = consented_client(study)
    html = page(client, study)
    assert "<legend>About these sounds</legend>" in html
    fields = hidden_fields(html)
    data = {"page": fields["page"], "item_0": fields["item_0"], "ended_0": "900", "answer_0": "a"}
    for k in range(sum(1 for key in fields if key.startswith("plays_0_"))):
        data |= {f"plays_0_{k}": "1", f"played_0_{k}": "0.4"}
    served_earlier(listener)
    refused = client.post(f"/t/{study.slug}/rate/", data | {"followup_0_noise": "yes"})
    assert refused.status_code == 400 and not Rating.objects.exists()
    assert checked(refused.content.decode(), "answer_0") == "a"
    assert checked(refused.content.decode(), "followup_0_noise") == "yes"
    data |= {"followup_0_noise": "yes", "followup_0_mispronounced": "no"}
    assert client.post(f"/t/{study.slug}/rate/", data).status_code == 302
    rating = Rating.objects.get(listener=listener)
    assert rating.choice == "a" and rating.followups == {"mispronounced": "no", "noise": "yes"}


def test_a_mushra_page_asks_about_each_condition_and_stores_each_answer():
    study = mushra_study(slug="fu-mushra", followup_questions=QUESTIONS[:1])
    client, listener = consented_client(study)
    html = page(client, study)
    fields = hidden_fields(html)
    positions = sorted(int(k[6:]) for k in fields if k.startswith("score_"))
    assert html.count('<fieldset class="followups"') == len(positions)
    data = dict(fields)
    for name in fields:
        prefix, _, rest = name.partition("_")
        if prefix == "score":
            data[name] = str(10 * int(rest))
        elif prefix in ("plays", "played"):
            data[name] = "1" if prefix == "plays" else "0.6"
    answers = {p: "yes" if i % 2 else "no" for i, p in enumerate(positions)}
    data |= {f"followup_{p}_mispronounced": a for p, a in answers.items()}
    first = positions[0]
    served_earlier(listener)
    partial = {k: v for k, v in data.items() if k != f"followup_{first}_mispronounced"}
    refused = client.post(f"/t/{study.slug}/rate/", partial)
    assert refused.status_code == 400 and not Rating.objects.exists()
    again = refused.content.decode()
    assert hidden_fields(again)[f"score_{positions[1]}"] == str(10 * positions[1])
    assert checked(again, f"followup_{positions[1]}_mispronounced") == answers[positions[1]]
    assert client.post(f"/t/{study.slug}/rate/", data).status_code == 302
    stored = {
        s.trial_clip.position: s.followups
        for s in ConditionScore.objects.select_related("trial_clip")
    }
    assert stored == {p: {"mispronounced": a} for p, a in answers.items()}


def test_a_transcription_stores_its_answers_and_keeps_the_text_when_refused():
    study = transcription_study(slug="fu-words", followup_questions=QUESTIONS[:1])
    client, listener = consented_client(study)
    html = page(client, study)
    play = re.search(r'data-play-url="([^"]+)"', html).group(1)
    assert client.post(play).status_code == 200
    fields = {**hidden_fields(html), "played_0": "0.6", "text": "the birch canoe"}
    served_earlier(listener)
    refused = client.post(f"/t/{study.slug}/rate/", fields)
    assert refused.status_code == 400 and not Rating.objects.exists()
    assert 'value="the birch canoe"' in refused.content.decode()
    fields["followup_0_mispronounced"] = "yes"
    assert client.post(f"/t/{study.slug}/rate/", fields).status_code == 302
    assert Rating.objects.get(listener=listener).followups == {"mispronounced": "yes"}
