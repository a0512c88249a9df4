"""Choosing a voice for a system: one that cannot work here (the default Tacotron2 voice on a
machine without its weights) is shown as unavailable with what is missing, cannot be picked on
the systems page and is refused by the service and the API."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.authtoken.models import Token

from listening.errors import ServiceError
from listening.studies.demo import espeak_voice_ensure, tacotron2_default_voice_ensure
from listening.studies.launch import study_start_synthesis
from listening.studies.systems import system_add
from synthesis.models import Voice
from tests.factories import SentenceFactory, StudyFactory
from tests.synthesis.engine.conftest import Builders


@pytest.fixture
def offline(tmp_path, monkeypatch, settings):
    """A machine with an empty torch hub cache that may not fetch torchaudio's weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    settings.TORCH_BUNDLES_FETCHABLE = False


@pytest.fixture
def study(ada):
    return StudyFactory(owner=ada, slug="voices", title="Voices")


def test_the_service_refuses_a_voice_without_weights(offline, study):
    with pytest.raises(ValidationError) as refused:
        system_add(study=study, name="t", kind="voice", voice=tacotron2_default_voice_ensure())
    message = refused.value.message_dict["voice"][0]
    assert "cannot synthesise on this machine" in message
    assert "tacotron2_english_characters_1500_epochs_ljspeech.pth" in message
    assert not study.systems.exists()


def test_the_systems_page_lists_the_voice_as_unavailable_and_not_selectable(
    offline, study, client_ada
):
    taco = tacotron2_default_voice_ensure()
    espeak = espeak_voice_ensure()
    page = client_ada.get(reverse("researcher:systems", kwargs={"slug": study.slug}))
    html = page.content.decode()
    option = re.search(rf'<option value="{taco.pk}"[^>]*>[^<]*</option>', html).group(0)
    assert "disabled" in option and "(unavailable)" in option
    espeak_option = re.search(rf'<option value="{espeak.pk}"[^>]*>', html).group(0)
    assert "disabled" not in espeak_option
    listed = re.search(rf'<li data-voice="{taco.pk}">.*?</li>\s*</ul>', html, re.S).group(0)
    assert "unavailable" in listed and "TORCH_BUNDLES_FETCHABLE" in listed


def test_posting_the_unavailable_voice_anyway_is_refused_on_the_form(offline, study, client_ada):
    taco = tacotron2_default_voice_ensure()
    url = reverse("researcher:systems", kwargs={"slug": study.slug})
    page = client_ada.post(
        url,
        {"form": "system", "system-name": "t", "system-kind": "voice", "system-voice": taco.pk},
    )
    assert page.status_code == 200 and not study.systems.exists()
    assert "cannot synthesise on this machine" in page.content.decode()


def test_the_api_says_which_voices_are_available(offline, ada, client):
    taco = tacotron2_default_voice_ensure()
    espeak = espeak_voice_ensure()
    token = Token.objects.create(user=ada)
    listed = client.get("/api/v1/voices/", HTTP_AUTHORIZATION=f"Token {token.key}").json()
    by_id = {v["id"]: v for v in listed}
    assert by_id[espeak.pk]["available"] is True and by_id[espeak.pk]["problems"] == []
    assert by_id[taco.pk]["available"] is False
    assert "TORCH_BUNDLES_FETCHABLE" in by_id[taco.pk]["problems"][0]


def test_launching_refuses_a_voice_whose_weights_went_missing(study, tmp_path):
    build = Builders(tmp_path)
    checkpoint = build.save(build.tacotron2().state_dict(), "taco.pt")
    voice = Voice.objects.create(name="taco", engine="tacotron2", acoustic_path=str(checkpoint))
    SentenceFactory(study=study, key="s1", text="A plain sentence.", position=1)
    system_add(study=study, name="taco", kind="voice", voice=voice)
    checkpoint.unlink()  # an admin cleared the disk after the system was added
    with pytest.raises(ServiceError) as refused:
        study_start_synthesis(study=study)
    assert "System 'taco' (voice 'taco')" in str(refused.value)
    assert "taco.pt does not exist on this machine" in str(refused.value)
    study.refresh_from_db()
    assert study.status == "draft"
