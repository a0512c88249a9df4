"""The questionnaire and the headphone check (Woods et al. 2017) on the listener's path."""

from __future__ import annotations

import io
import re

import pytest
import soundfile

from listening.models import Listener, Playlist
from listening.participation import checks, refusals
from tests.factories import join, open_study

pytestmark = pytest.mark.django_db

ANSWERS = {"native_language": "Welsh", "age_band": "35-44", "device": "earbuds"}


@pytest.fixture
def study():
    return open_study(slug="checks")


@pytest.fixture
def client_at_questionnaire(client, study):
    client.post(f"/t/{study.slug}/", {"consent": "yes"})
    return client


def listener():
    return Listener.objects.get()


def test_questionnaire_saves_answers_and_moves_to_headphones(client_at_questionnaire, study):
    response = client_at_questionnaire.post(f"/t/{study.slug}/about-you/", ANSWERS)
    assert response.status_code == 302
    assert response["Location"] == f"/t/{study.slug}/headphones/"
    assert listener().questionnaire == ANSWERS
    assert listener().stage == Listener.Stage.HEADPHONES


@pytest.mark.parametrize("missing", ["native_language", "age_band", "device"])
def test_questionnaire_requires_every_answer(client_at_questionnaire, study, missing):
    answers = {k: v for k, v in ANSWERS.items() if k != missing}
    response = client_at_questionnaire.post(f"/t/{study.slug}/about-you/", answers)
    assert response.status_code == 400
    assert "Please answer every question" in response.content.decode()
    assert listener().questionnaire == {}
    assert listener().stage == Listener.Stage.QUESTIONNAIRE


def test_questionnaire_refuses_unknown_choices_in_the_service(study):
    person = checks.listener_consent(listener=join(study))
    with pytest.raises(refusals.QuestionnaireError, match="age group"):
        checks.listener_questionnaire_save(listener=person, answers={**ANSWERS, "age_band": "7"})


def test_questionnaire_is_skipped_when_the_study_switches_it_off(client, db):
    study = open_study(slug="noq", questionnaire=False)
    response = client.post(f"/t/{study.slug}/", {"consent": "yes"})
    assert response["Location"] == f"/t/{study.slug}/headphones/"


def test_without_any_check_consent_claims_a_playlist(client, db):
    study = open_study(slug="nochecks", questionnaire=False, headphone_check=False)
    response = client.post(f"/t/{study.slug}/", {"consent": "yes"})
    assert response["Location"] == f"/t/{study.slug}/rate/"
    assert Playlist.objects.get(listener=listener()).status == Playlist.Status.CLAIMED
    assert listener().stage == Listener.Stage.TRAINING


@pytest.fixture
def client_at_headphones(client_at_questionnaire, study):
    client_at_questionnaire.post(f"/t/{study.slug}/about-you/", ANSWERS)
    return client_at_questionnaire


def test_headphone_page_never_carries_the_answers(client_at_headphones, study):
    page = client_at_headphones.get(f"/t/{study.slug}/headphones/").content.decode()
    check = listener().headphone_check
    assert len(check["correct"]) == 6
    assert all(answer in (1, 2, 3) for answer in check["correct"])
    trial_urls = re.findall(r'src="(/t/[^"]+/headphones/sound/\d+/)"', page)
    assert len(trial_urls) == 6
    assert "correct" not in page
    # The sound URLs carry only the trial's number.
    assert trial_urls == [f"/t/{study.slug}/headphones/sound/{i}/" for i in range(6)]
    # Reloading keeps the same trials.
    client_at_headphones.get(f"/t/{study.slug}/headphones/")
    assert listener().headphone_check["seed"] == check["seed"]


def test_headphone_sounds_are_real_stereo_wav_of_equal_size(client_at_headphones, study):
    client_at_headphones.get(f"/t/{study.slug}/headphones/")
    sizes = set()
    for i in range(6):
        response = client_at_headphones.get(f"/t/{study.slug}/headphones/sound/{i}/")
        assert response.status_code == 200
        assert response["Content-Type"] == "audio/wav"
        body = b"".join(response.streaming_content)
        data, rate = soundfile.read(io.BytesIO(body))
        assert data.shape[1] == 2 and rate == 44100
        sizes.add(len(body))
    assert len(sizes) == 1  # nothing in the size gives the answer away
    volume = client_at_headphones.get(f"/t/{study.slug}/headphones/volume/")
    assert volume.status_code == 200 and volume["Accept-Ranges"] == "bytes"
    assert client_at_headphones.get(f"/t/{study.slug}/headphones/sound/6/").status_code == 404


def play_all(client, study, n=6):
    for i in range(n):
        assert client.get(f"/t/{study.slug}/headphones/sound/{i}/").status_code == 200


def post_answers(client, study, answers, *, play=True):
    if play:
        play_all(client, study, len(answers))
    return client.post(
        f"/t/{study.slug}/headphones/",
        {f"trial_{i}": str(answer) for i, answer in enumerate(answers)},
    )


def test_passing_the_check_claims_a_playlist(client_at_headphones, study):
    client_at_headphones.get(f"/t/{study.slug}/headphones/")
    correct = listener().headphone_check["correct"]
    answers = list(correct)
    answers[0] = answers[0] % 3 + 1  # one wrong of six still passes (5 of 6)
    response = post_answers(client_at_headphones, study, answers)
    assert response["Location"] == f"/t/{study.slug}/rate/"
    check = listener().headphone_check
    assert (check["n_correct"], check["passed"], check["answers"]) == (5, True, answers)
    assert Playlist.objects.filter(listener=listener(), status="claimed").count() == 1


def test_failing_the_check_ends_politely_and_consumes_no_playlist(client_at_headphones, study):
    client_at_headphones.get(f"/t/{study.slug}/headphones/")
    correct = listener().headphone_check["correct"]
    wrong = [c % 3 + 1 for c in correct]
    response = post_answers(client_at_headphones, study, wrong)
    assert response["Location"] == f"/t/{study.slug}/ended/"
    assert listener().stage == Listener.Stage.FAILED_CHECK
    assert listener().headphone_check["passed"] is False
    assert listener().headphone_check["n_correct"] == 0
    assert not Playlist.objects.filter(listener__isnull=False).exists()
    page = client_at_headphones.get(response["Location"]).content.decode()
    assert "does not suit this test" in page
    assert "return your submission on Prolific" not in page  # anonymous: no platform advice
    # No second attempt: every page leads back to the end.
    assert client_at_headphones.get(f"/t/{study.slug}/headphones/").status_code == 302
    with pytest.raises(refusals.ListenerStageError):
        checks.headphone_check_answer(listener=listener(), answers=correct)


def test_incomplete_answers_are_asked_again_without_scoring(client_at_headphones, study):
    client_at_headphones.get(f"/t/{study.slug}/headphones/")
    response = client_at_headphones.post(f"/t/{study.slug}/headphones/", {"trial_0": "1"})
    assert response.status_code == 400
    assert "answer every sound" in response.content.decode()
    assert "answers" not in listener().headphone_check
    assert listener().stage == Listener.Stage.HEADPHONES


def test_pages_of_later_steps_send_the_listener_back_to_their_step(client_at_headphones, study):
    for url in ("rate/", "done/", "about-you/", "full/", "ended/"):
        response = client_at_headphones.get(f"/t/{study.slug}/{url}")
        assert response.status_code == 302
        assert response["Location"] == f"/t/{study.slug}/headphones/"


def test_no_cookie_means_back_to_the_start(client, study):
    response = client.get(f"/t/{study.slug}/rate/")
    assert response["Location"] == f"/t/{study.slug}/"


def test_headphone_sound_etags_are_opaque(client_at_headphones, study):
    """Today's ETag was "hc-<seed>-<i>": the seed gives every answer (the algorithm is open)."""
    client_at_headphones.get(f"/t/{study.slug}/headphones/")
    seed = str(listener().headphone_check["seed"])
    tags = [
        client_at_headphones.get(f"/t/{study.slug}/headphones/sound/{i}/")["ETag"] for i in range(6)
    ]
    assert all(seed not in tag for tag in tags)
    assert len(set(tags)) == 6
    assert all(re.fullmatch(r'"hc-[0-9a-f]{24}-[0-9]+"', tag) for tag in tags)  # hash, size


# --- The check says what is at stake, answers only what was played, resumes -------------------


def test_headphone_page_says_one_attempt_and_that_failing_ends_the_test(
    client_at_headphones, study
):
    page = client_at_headphones.get(f"/t/{study.slug}/headphones/").content.decode()
    assert "You have one attempt" in page
    assert "the test ends after this check" in page
    assert 'data-step="volume"' in page


def test_an_answer_for_a_sound_never_played_is_refused(client_at_headphones, study):
    """Today's code scored answers for sounds that were never fetched."""
    client_at_headphones.get(f"/t/{study.slug}/headphones/")
    correct = listener().headphone_check["correct"]
    response = post_answers(client_at_headphones, study, correct, play=False)
    assert response.status_code == 400
    assert "Please play sound 1 before you answer it" in response.content.decode()
    assert listener().stage == Listener.Stage.HEADPHONES
    progress = client_at_headphones.post(
        f"/t/{study.slug}/headphones/progress/", {"trial": "2", "answer": "1"}
    )
    assert progress.status_code == 409
    assert "chosen" not in listener().headphone_check


def test_a_reload_resumes_at_the_same_step_with_the_answers_kept(client_at_headphones, study):
    """Today's code started again from step 1 with every answer lost."""
    url = f"/t/{study.slug}/headphones/"
    client_at_headphones.get(url)
    assert client_at_headphones.post(url + "progress/", {"volume_done": "1"}).status_code == 200
    client_at_headphones.get(url + "sound/0/")
    client_at_headphones.get(url + "sound/1/")
    for trial, answer in ((0, "3"), (1, "2")):
        response = client_at_headphones.post(
            url + "progress/", {"trial": str(trial), "answer": answer}
        )
        assert response.status_code == 200
    page = client_at_headphones.get(url).content.decode()
    assert 'data-step="trials"' in page
    assert re.search(r'name="trial_0" value="3" required checked', page)
    assert re.search(r'name="trial_1" value="2" required checked', page)
    assert re.search(r'name="trial_2" value="1" required disabled', page)  # not played yet
    # The saved answers count when the form is sent without them.
    play_all(client_at_headphones, study)
    correct = listener().headphone_check["correct"]
    rest = {f"trial_{i}": str(correct[i]) for i in range(2, 6)}
    response = client_at_headphones.post(url, rest)
    assert response.status_code == 302
    assert listener().headphone_check["answers"][:2] == [3, 2]


def test_a_failed_prolific_listener_gets_the_studys_screen_out_code(client, db):
    study = open_study(
        slug="screenout",
        screenout_code="SCREEN-7",
        screenout_url="https://app.prolific.com/submissions/complete?cc=SCREEN-7",
    )
    client.post(f"/t/{study.slug}/?PROLIFIC_PID=P9&SESSION_ID=S9", {"consent": "yes"})
    client.post(f"/t/{study.slug}/about-you/", ANSWERS)
    client.get(f"/t/{study.slug}/headphones/")
    wrong = [c % 3 + 1 for c in Listener.objects.get().headphone_check["correct"]]
    response = post_answers(client, study, wrong)
    page = client.get(response["Location"]).content.decode()
    assert "SCREEN-7" in page and "Back to Prolific" in page
    assert "Please return your submission" not in page
