"""The clips endpoint carries each clip's provenance (synthesis.provenance), read-only; the
clip counts of a system and of a study name every clip state."""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from listening.models import Clip, System
from synthesis.clips import voice_clips_synthesize
from synthesis.provenance import SCHEMA
from tests.factories import clips_of, espeak_study

API = "/api/v1"


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def test_clip_list_shows_each_clips_provenance_and_empty_until_ready(db):
    study = espeak_study(slug="prov-api", n_sentences=2)
    espeak = study.systems.get(kind=System.Kind.VOICE)
    first, second = clips_of(study).order_by("sentence__position")
    voice_clips_synthesize(system_id=espeak.id, clip_ids=[first.id])
    first.refresh_from_db()

    answer = api_for(study.owner).get(f"{API}/studies/{study.slug}/clips/")

    assert answer.status_code == 200
    by_token = {row["token"]: row for row in answer.json()}
    record = by_token[first.token]["provenance"]
    assert record == first.provenance
    assert record["schema"] == SCHEMA
    assert record["seed"] == first.seed and record["engine"] == "espeak"
    assert by_token[second.token]["status"] == Clip.Status.PENDING
    assert by_token[second.token]["provenance"] == {}


def test_provenance_is_read_only_in_the_schema(client, db):
    schema = client.get("/api/schema/?format=json").json()
    clip = schema["components"]["schemas"]["Clip"]
    assert "provenance" in clip["properties"]
    assert clip["properties"]["provenance"].get("readOnly") is True


def test_clip_counts_name_every_clip_state_per_system_and_per_study(client, db):
    study = espeak_study(slug="counts-api", n_sentences=3)
    espeak = study.systems.get(kind=System.Kind.VOICE)
    first, second, third = clips_of(study).filter(system=espeak).order_by("sentence__position")
    voice_clips_synthesize(system_id=espeak.id, clip_ids=[first.id])
    Clip.objects.filter(pk=second.pk).update(status=Clip.Status.FAILED, error="no voice")
    api = api_for(study.owner)

    systems = {row["name"]: row for row in api.get(f"{API}/studies/{study.slug}/systems/").json()}
    status = api.get(f"{API}/studies/{study.slug}/status/").json()

    assert systems[espeak.name]["clips"] == {
        "pending": 1,
        "running": 0,
        "ready": 1,
        "failed": 1,
        "total": 3,
    }
    assert status["clips"] == {
        state: clips_of(study).filter(status=state).count() for state in Clip.Status.values
    } | {"total": clips_of(study).count()}
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert set(schema["ClipCounts"]["properties"]) == {*Clip.Status.values, "total"}
    assert set(schema["ClipCounts"]["required"]) == {*Clip.Status.values, "total"}
