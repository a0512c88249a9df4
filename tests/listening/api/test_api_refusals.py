"""Every refusal of the API: no token, another researcher's study, bad input and bad files,
a frozen study. The messages are the services' (the same the pages show)."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from listening.models import Clip, Sentence, Study, System
from listening.studies.recordings import system_audio_import
from listening.studies.systems import system_add
from tests.factories import (
    EspeakVoiceFactory,
    ResearcherFactory,
    SentenceFactory,
    StudyFactory,
    wav,
)

User = get_user_model()
API = "/api/v1"


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api(ada):
    return api_for(ada)


@pytest.fixture
def study(ada):
    study = StudyFactory(owner=ada, slug="ada-api", title="Ada API")
    SentenceFactory(study=study, key="s1", text="The birch canoe slid.", position=1)
    return study


@pytest.fixture
def reference(study):
    system = system_add(study=study, name="natural", kind="reference")
    system_audio_import(system=system, files=[SimpleUploadedFile("s1.wav", wav())])
    return system


# --- Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Token not-a-real-token", "Bearer abc"])
def test_missing_or_wrong_token_is_refused(study, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    for method, url in [
        ("get", f"{API}/studies/"),
        ("post", f"{API}/studies/"),
        ("get", f"{API}/studies/{study.slug}/status/"),
        ("post", f"{API}/studies/{study.slug}/open/"),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 401, (method, url)
    assert Study.objects.get(pk=study.pk).status == Study.Status.DRAFT


def test_schema_and_docs_are_public(client, db):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/studies/{slug}/sentences/" in paths
    assert "tokenAuth" in schema.json()["components"]["securitySchemes"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "/api/v1/studies/{slug}/open/" in page
    assert "import requests" in page  # the guide's Python example
    assert "cdn" not in page.lower() and "<script" not in page


# --- Another researcher's study ----------------------------------------------------------------


def test_another_researchers_study_is_a_404_on_every_endpoint(study, reference):
    bob = api_for(ResearcherFactory(username="bob"))
    clip = Clip.objects.get(system=reference)
    base = f"{API}/studies/{study.slug}"
    calls = [
        ("get", f"{base}/", None),
        ("patch", f"{base}/", {"title": "Mine now"}),
        ("get", f"{base}/sentences/", None),
        ("post", f"{base}/sentences/", {"sentences": [{"text": "Hello."}]}),
        ("delete", f"{base}/sentences/", None),
        ("get", f"{base}/systems/", None),
        ("post", f"{base}/systems/", {"name": "x", "kind": "reference"}),
        ("get", f"{base}/systems/{reference.id}/", None),
        ("patch", f"{base}/systems/{reference.id}/", {"name": "y"}),
        ("delete", f"{base}/systems/{reference.id}/", None),
        ("post", f"{base}/synthesis/", {}),
        ("get", f"{base}/status/", None),
        ("post", f"{base}/open/", None),
        ("post", f"{base}/close/", None),
        ("get", f"{base}/clips/", None),
        ("get", f"{base}/clips/{clip.token}/audio/", None),
        ("post", f"{base}/clips/{clip.token}/retry/", None),
        ("get", f"{base}/report/", None),
        ("get", f"{base}/ratings.csv", None),
    ]
    for method, url, body in calls:
        response = getattr(bob, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    upload = bob.post(
        f"{base}/systems/{reference.id}/audio/",
        {"files": [SimpleUploadedFile("s1.wav", wav())]},
        format="multipart",
    )
    assert upload.status_code == 404
    assert bob.get(f"{API}/studies/").json() == []
    assert Study.objects.get(pk=study.pk).title == "Ada API"
    assert System.objects.filter(pk=reference.pk, name="natural").exists()


def test_admin_token_reaches_every_study(study):
    root = api_for(ResearcherFactory(username="root", is_superuser=True))
    assert root.get(f"{API}/studies/{study.slug}/").status_code == 200
    assert [s["slug"] for s in root.get(f"{API}/studies/").json()] == [study.slug]


# --- Bad input ---------------------------------------------------------------------------------


def test_invalid_study_settings_are_400_with_the_field(api, study):
    response = api.post(
        f"{API}/studies/",
        {"slug": study.slug, "title": "Again", "screening": {"min_correlation": "high"}},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert "screening" in body or "slug" in body
    taken = api.post(f"{API}/studies/", {"slug": study.slug, "title": "Again"}, format="json")
    assert taken.status_code == 400 and "is taken" in taken.json()["slug"][0]
    rate = api.post(
        f"{API}/studies/", {"slug": "n", "title": "N", "attention_check_rate": 2}, format="json"
    )
    assert rate.status_code == 400 and "attention_check_rate" in rate.json()


def test_sentences_with_problems_are_listed_and_nothing_imported(api, study):
    response = api.post(
        f"{API}/studies/{study.slug}/sentences/",
        {"sentences": [{"key": "s2", "text": "word " * 70}, {"key": "s2", "text": "Fine."}]},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False and body["imported"] == 0
    # The study has no voice, so only the length is checked (no Tacotron2 symbol set).
    assert "the limit is 300" in body["rows"][0]["problems"][0]
    assert "Duplicate key 's2'" in body["rows"][1]["problems"][0]
    assert study.sentences.count() == 1


def test_undecodable_sentence_file_is_400_naming_the_line(api, study):
    upload = SimpleUploadedFile("set.txt", "Okay.\nCrème brûlée.\n".encode("latin-1"))
    response = api.post(
        f"{API}/studies/{study.slug}/sentences/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 400
    assert "Line 2 of 'set.txt' is not valid UTF-8" in response.json()["detail"]


def test_wrong_sentence_file_type_is_400(api, study):
    upload = SimpleUploadedFile("set.xlsx", b"PK\x03\x04")
    response = api.post(
        f"{API}/studies/{study.slug}/sentences/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 400 and "upload a .txt" in response.json()["detail"]


def test_bad_audio_files_are_400_or_listed(api, study):
    system = system_add(study=study, name="natural", kind="reference")
    url = f"{API}/studies/{study.slug}/systems/{system.id}/audio/"
    not_zip = api.post(
        url, {"files": [SimpleUploadedFile("refs.zip", b"nope")]}, format="multipart"
    )
    assert not_zip.status_code == 400 and "not a readable ZIP" in not_zip.json()["detail"]
    nothing = api.post(url, {}, format="multipart")
    assert nothing.status_code == 400 and "'files'" in nothing.json()["detail"]
    garbage = api.post(
        url, {"files": [SimpleUploadedFile("s1.wav", b"RIFF garbage")]}, format="multipart"
    )
    assert garbage.status_code == 201
    assert garbage.json()["unreadable"][0]["key"] == "s1"
    assert garbage.json()["missing"] == ["s1"]


@override_settings(MAX_UPLOAD_MB=1)
def test_upload_over_the_limit_is_413(api, study):
    system = system_add(study=study, name="natural", kind="reference")
    response = api.post(
        f"{API}/studies/{study.slug}/systems/{system.id}/audio/",
        {"files": [SimpleUploadedFile("big.zip", bytes(3 * 1024 * 1024))]},
        format="multipart",
    )
    assert response.status_code == 413 and "MAX_UPLOAD_MB" in response.json()["detail"]


@override_settings(MAX_SENTENCE_FILE_KB=1)
def test_sentence_file_over_the_limit_is_413_or_400(api, study):
    url = f"{API}/studies/{study.slug}/sentences/"
    huge = SimpleUploadedFile("set.txt", b"A line.\n" * 20_000)
    response = api.post(url, {"file": huge}, format="multipart")
    assert response.status_code == 413 and "MAX_SENTENCE_FILE_KB" in response.json()["detail"]
    small_but_over = SimpleUploadedFile("set.txt", b"A line.\n" * 300)
    response = api.post(url, {"file": small_but_over}, format="multipart")
    assert response.status_code == 400 and "limited to 1 KB" in response.json()["detail"]


def test_audio_for_a_voice_system_is_409(api, study):

    voice = EspeakVoiceFactory(name="espeak")
    system = system_add(study=study, name="e", kind="voice", voice=voice)
    response = api.post(
        f"{API}/studies/{study.slug}/systems/{system.id}/audio/",
        {"files": [SimpleUploadedFile("s1.wav", wav())]},
        format="multipart",
    )
    assert response.status_code == 409


def test_system_refusals_name_the_field(api, study):
    url = f"{API}/studies/{study.slug}/systems/"
    assert api.post(url, {"name": "v", "kind": "voice"}, format="json").json()["voice"]
    assert api.post(url, {"name": "v", "kind": "voice", "voice": 999}, format="json").json()[
        "voice"
    ]
    assert api.post(url, {"kind": "anchor", "anchor_q_db": 5}, format="json").json()[
        "anchor_source"
    ]
    assert api.post(url, {"kind": "robot", "name": "r"}, format="json").status_code == 400


def test_report_and_ratings_csv_once_listeners_have_rated(api, study, reference):
    from listening.models import Listener, Rating

    for i, key in enumerate(["s2", "s3"], start=2):
        Sentence.objects.create(study=study, key=key, text=f"Sentence {i}.", position=i)
    system_audio_import(
        system=reference,
        files=[
            SimpleUploadedFile(f"{k}.wav", wav(0.5 + i / 10)) for i, k in enumerate(["s2", "s3"])
        ],
    )
    clips = list(Clip.objects.filter(system=reference))
    rng = np.random.default_rng(3)
    for n in range(5):
        listener = Listener.objects.create(study=study, external_id=f"P{n}", platform="prolific")
        for clip in clips:
            Rating.objects.create(listener=listener, clip=clip, score=int(rng.integers(3, 6)))
    report = api.get(f"{API}/studies/{study.slug}/report/")
    assert report.status_code == 200
    (system,) = report.json()["systems"]
    assert system["system"] == "natural" and system["n"] == 15
    ratings = api.get(f"{API}/studies/{study.slug}/ratings.csv")
    assert ratings.status_code == 200
    lines = b"".join(ratings.streaming_content).decode().splitlines()
    assert {"listener", "sentence", "system", "score"} <= set(lines[0].split(","))
    assert len(lines) == 1 + 15


def test_report_without_ratings_is_409(api, study):
    response = api.get(f"{API}/studies/{study.slug}/report/")
    assert response.status_code == 409 and "no test ratings" in response.json()["detail"]


# --- A frozen study ----------------------------------------------------------------------------


def test_frozen_study_refuses_design_changes_with_409(api, study, reference):
    assert api.post(f"{API}/studies/{study.slug}/open/").status_code == 200
    base = f"{API}/studies/{study.slug}"
    refused = [
        api.post(f"{base}/sentences/", {"sentences": [{"text": "More."}]}, format="json"),
        api.delete(f"{base}/sentences/"),
        api.post(f"{base}/systems/", {"name": "x", "kind": "reference"}, format="json"),
        api.patch(f"{base}/systems/{reference.id}/", {"name": "y"}, format="json"),
        api.delete(f"{base}/systems/{reference.id}/"),
        api.post(f"{base}/synthesis/", {}, format="json"),
        api.post(
            f"{base}/systems/{reference.id}/audio/",
            {"files": [SimpleUploadedFile("s1.wav", wav())]},
            format="multipart",
        ),
        api.patch(f"{base}/", {"ratings_per_clip": 3}, format="json"),
        api.post(f"{base}/clips/{Clip.objects.get(system=reference).token}/retry/"),
        api.post(f"{base}/open/"),
    ]
    for response in refused:
        assert response.status_code == 409, response.content
        assert response.json()["detail"]
    assert study.sentences.count() == 1 and study.systems.count() == 1
    # Settings that do not shape the design may still change.
    assert api.patch(f"{base}/", {"completion_code": "DONE-1"}, format="json").status_code == 200
