"""Arriving at /t/<slug>/: platforms, consent, resuming by cookie and by external id."""

from __future__ import annotations

import pytest

from listening.models import Listener, Playlist, Study
from listening.participation import checks, refusals, selectors
from tests.factories import fail_headphone_check, join, open_study, pass_checks, rate_everything

pytestmark = pytest.mark.django_db

PROLIFIC = "?PROLIFIC_PID=5f1a2b3c4d&STUDY_ID=st1&SESSION_ID=se1"


@pytest.fixture
def study():
    return open_study(slug="join")


def consent(client, study, query=""):
    return client.post(f"/t/{study.slug}/{query}", {"consent": "yes"})


def test_welcome_page_shows_sanitised_instructions_and_creates_nobody(client, study):
    response = client.get(f"/t/{study.slug}/{PROLIFIC}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>wear headphones</strong>" in page
    assert "<script>alert" not in page
    assert "javascript:" not in page
    assert study.title not in page  # the title may name systems; listeners see a generic one
    assert "<title>Listening test</title>" in page
    assert not Listener.objects.exists()


def test_prolific_consent_creates_listener_with_params_and_sets_cookie(client, study):
    response = consent(client, study, PROLIFIC)
    listener = Listener.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/t/{study.slug}/about-you/"
    assert listener.platform == "prolific"
    assert listener.external_id == "5f1a2b3c4d"
    assert listener.platform_params == {"STUDY_ID": "st1", "SESSION_ID": "se1"}
    assert listener.stage == Listener.Stage.QUESTIONNAIRE
    assert listener.consented_at is not None
    assert f"harken_listener_{study.slug}" in response.cookies
    assert response.cookies[f"harken_listener_{study.slug}"]["path"] == f"/t/{study.slug}/"


def test_consent_without_the_box_ticked_is_refused(client, study):
    response = client.post(f"/t/{study.slug}/{PROLIFIC}", {})
    assert response.status_code == 400
    assert "tick the box" in response.content.decode()
    assert not Listener.objects.exists()


def test_returning_listener_resumes_by_cookie(client, study):
    consent(client, study)
    response = client.get(f"/t/{study.slug}/")
    assert response.status_code == 302
    assert response["Location"] == f"/t/{study.slug}/about-you/"
    assert Listener.objects.count() == 1


def test_same_prolific_id_and_session_in_another_browser_resumes_the_same_listener(client, study):
    from django.test import Client

    consent(client, study, PROLIFIC)
    other_browser = Client()
    response = other_browser.get(f"/t/{study.slug}/{PROLIFIC}")
    assert response.status_code == 302
    assert response["Location"] == f"/t/{study.slug}/about-you/"
    # ... and consenting again there gives no second listener.
    consent(other_browser, study, PROLIFIC)
    assert Listener.objects.count() == 1
    assert other_browser.get(f"/t/{study.slug}/about-you/").status_code == 200


def test_same_external_id_and_attempt_never_gets_a_second_listener(study):
    first = join(study, "PID-1")
    second = join(study, "PID-1")
    assert first.pk == second.pk
    listener = checks.listener_consent(listener=first)
    assert Listener.objects.filter(external_id="PID-1").count() == 1
    assert listener.stage == Listener.Stage.QUESTIONNAIRE


def test_join_race_on_one_attempt_returns_the_winners_row(study, monkeypatch):
    """Two requests pass the lookup at once; the second insert hits the unique constraint."""
    winner = Listener.objects.create(
        study=study, platform="prolific", external_id="RACE", attempt_id="RACE-session"
    )
    real_find = selectors.external_id_attempts
    calls = []

    def find_nothing_first(**kwargs):
        calls.append(kwargs)
        return [] if len(calls) == 1 else real_find(**kwargs)

    monkeypatch.setattr(checks, "external_id_attempts", find_nothing_first)
    listener = join(study, "RACE")
    assert listener.pk == winner.pk
    assert Listener.objects.filter(external_id="RACE").count() == 1


# --- Nobody takes over a listener or uses up a participant in advance -------------------------

VICTIM = "?PROLIFIC_PID=victim123&STUDY_ID=st1&SESSION_ID=real-session"


def test_external_id_alone_never_hands_over_the_listener(client, study):
    """Today's code returned the victim's cookie to anyone who typed the victim's PID."""
    from django.test import Client

    consent(client, study, VICTIM)
    victim = Listener.objects.get()
    cookie = f"harken_listener_{study.slug}"
    attacker = Client()
    for query in ("?PROLIFIC_PID=victim123", "?PROLIFIC_PID=victim123&SESSION_ID=guess"):
        response = attacker.get(f"/t/{study.slug}/{query}")
        assert cookie not in response.cookies
        assert response.status_code == 200  # the welcome page: a new attempt, not the state
        assert attacker.get(f"/t/{study.slug}/about-you/").status_code == 302
    # Once the victim holds a place, another attempt with the id is politely refused.
    victim = pass_checks(victim)
    response = attacker.get(f"/t/{study.slug}/?PROLIFIC_PID=victim123&SESSION_ID=guess")
    assert response.status_code == 409
    assert "already taking part" in response.content.decode()
    assert cookie not in response.cookies
    response = attacker.post(
        f"/t/{study.slug}/?PROLIFIC_PID=victim123&SESSION_ID=guess", {"consent": "yes"}
    )
    assert response.status_code == 409
    assert Listener.objects.filter(external_id="victim123").count() == 1
    # The victim, with their own session, carries on.
    response = Client().get(f"/t/{study.slug}/{VICTIM}")
    assert response.status_code == 302 and cookie in response.cookies


def test_mturk_worker_id_alone_is_not_enough_either(client, study):
    from django.test import Client

    consent(client, study, "?workerId=W1&assignmentId=A-real&hitId=H1")
    response = Client().get(f"/t/{study.slug}/?workerId=W1&assignmentId=A-other&hitId=H1")
    assert f"harken_listener_{study.slug}" not in response.cookies
    response = Client().get(f"/t/{study.slug}/?workerId=W1&assignmentId=A-real&hitId=H1")
    assert f"harken_listener_{study.slug}" in response.cookies


def test_a_failed_check_under_a_victims_id_does_not_lock_the_victim_out(study):
    """Today's code: registering the id first and failing the check showed the real
    participant the 'thank you' page."""
    from django.test import Client

    attacker = Client()
    attacker.post(f"/t/{study.slug}/?PROLIFIC_PID=victim123&SESSION_ID=fake", {"consent": "yes"})
    fake = Listener.objects.get(attempt_id="fake")
    assert fail_headphone_check(fake)[1] is False

    real = Client()
    response = real.post(f"/t/{study.slug}/{VICTIM}", {"consent": "yes"})
    assert response.status_code == 302
    assert response["Location"] == f"/t/{study.slug}/about-you/"
    listener = Listener.objects.get(attempt_id="real-session")
    assert pass_checks(listener).stage == Listener.Stage.TRAINING


def test_two_attempts_of_one_id_never_get_two_playlists(study):
    first = pass_checks(join(study, "PID-2", attempt_id="s1"))
    assert first.stage == Listener.Stage.TRAINING
    with pytest.raises(refusals.AlreadyTakingPartError):
        join(study, "PID-2", attempt_id="s2")
    assert Playlist.objects.filter(listener__external_id="PID-2").count() == 1


def test_a_second_attempt_that_reaches_the_claim_first_wins_and_the_other_is_refused(study):
    early = join(study, "PID-3", attempt_id="s1")
    late = join(study, "PID-3", attempt_id="s2")  # neither holds a place yet: both may start
    late = pass_checks(late)
    assert late.stage == Listener.Stage.TRAINING
    with pytest.raises(refusals.AlreadyTakingPartError):
        pass_checks(early)
    assert Playlist.objects.filter(listener__external_id="PID-3").count() == 1


def test_anonymous_listeners_are_separate(client, study):
    from django.test import Client

    consent(client, study)
    consent(Client(), study)
    assert Listener.objects.filter(platform="none").count() == 2


def test_mturk_preview_describes_the_task_without_creating_a_listener(client, study):
    url = f"/t/{study.slug}/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1"
    response = client.get(url)
    assert response.status_code == 200
    assert "This is a preview" in response.content.decode()
    assert 'type="checkbox"' not in response.content.decode()
    assert not Listener.objects.exists()


def test_mturk_worker_joins_with_worker_id(client, study):
    consent(client, study, "?workerId=A1B2C3&assignmentId=AS1&hitId=H1")
    listener = Listener.objects.get()
    assert (listener.platform, listener.external_id) == ("mturk", "A1B2C3")
    assert listener.platform_params == {"assignmentId": "AS1", "hitId": "H1"}


def test_malformed_external_id_is_refused_politely(client, study):
    response = client.get(f"/t/{study.slug}/?PROLIFIC_PID=%3Cscript%3E")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


@pytest.mark.parametrize(
    "status, words",
    [
        (Study.Status.PAUSED, "paused"),
        (Study.Status.CLOSED, "has ended"),
        (Study.Status.READY, "not open yet"),
        (Study.Status.DRAFT, "not open yet"),
    ],
)
def test_study_that_is_not_open_gets_a_polite_page(client, study, status, words):
    Study.objects.filter(pk=study.pk).update(status=status)
    response = client.get(f"/t/{study.slug}/")
    assert words in response.content.decode()
    consent(client, study)
    assert not Listener.objects.exists()
    with pytest.raises(refusals.StudyNotOpenError):
        join(Study.objects.get(pk=study.pk))


def test_listener_mid_session_sees_the_paused_page(client, study):
    consent(client, study)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    response = client.get(f"/t/{study.slug}/about-you/")
    assert response.status_code == 503
    assert "paused" in response.content.decode()


def test_full_study_says_so_before_anyone_starts(client, study):
    Playlist.objects.filter(study=study).update(status=Playlist.Status.COMPLETED)
    response = client.get(f"/t/{study.slug}/")
    assert "The study is full" in response.content.decode()
    assert not Listener.objects.exists()


def test_unknown_study_is_404(client, db):
    assert client.get("/t/no-such-study/").status_code == 404


def test_completed_listener_returning_by_link_sees_the_completion_page(client, study):
    consent(client, study, PROLIFIC)
    listener = Listener.objects.get()
    listener = pass_checks(listener)
    rate_everything(listener)
    response = client.get(f"/t/{study.slug}/{PROLIFIC}")
    assert response["Location"] == f"/t/{study.slug}/done/"
    assert "HARKEN-42" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("status", [Study.Status.DRAFT, Study.Status.READY, Study.Status.CLOSED])
def test_mturk_preview_of_a_study_that_is_not_open_shows_nothing_of_it(client, study, status):
    """Today's code showed a draft study's instructions and consent to anyone with the slug."""
    Study.objects.filter(pk=study.pk).update(status=status)
    response = client.get(f"/t/{study.slug}/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1")
    page = response.content.decode()
    assert "wear headphones" not in page and "You agree to take part" not in page
    assert "This is a preview" not in page
