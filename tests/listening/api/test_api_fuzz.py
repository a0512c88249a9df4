"""Schema-driven fuzzing of the API: schemathesis reads the OpenAPI document a live server
serves at /api/schema/ and sends generated requests to every operation, both ones that fit the
schema and ones that break it. None may end in a server error (5xx).

Bounded so it runs in seconds: a few examples per operation and mode, one database for the
whole run. The path parameters point at a real study, system and clip (random slugs would only
ever meet 404s), so the generated bodies reach the services behind each endpoint.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from listening.models import Clip, Study
from listening.studies.recordings import system_audio_import
from listening.studies.systems import system_add
from tests.factories import (
    EspeakVoiceFactory,
    ResearcherFactory,
    SentenceFactory,
    StudyFactory,
    wav,
)

EXAMPLES_PER_OPERATION_AND_MODE = 5


@pytest.fixture
def fuzz_target(live_server):
    """A researcher with a token and a study holding sentences, systems and a ready clip."""
    user = ResearcherFactory(username="fuzzer")
    token = Token.objects.create(user=user).key
    study = StudyFactory(owner=user, slug="fuzzed", title="Fuzzed")
    SentenceFactory(study=study, key="s1", text="The birch canoe slid.", position=1)
    voice = EspeakVoiceFactory(name="espeak")
    system_add(study=study, name="espeak", kind="voice", voice=voice)
    reference = system_add(study=study, name="natural", kind="reference")
    system_audio_import(system=reference, files=[SimpleUploadedFile("s1.wav", wav(0.5))])
    clip = Clip.objects.get(system=reference)
    return {
        "token": token,
        "study": study.pk,
        "path": {"slug": study.slug, "system_id": reference.id, "token": clip.token},
    }


def destructive_last(operation) -> int:
    """Fuzz what reads and adds first; opening the test and deleting come last, so the other
    operations meet a study that still has its systems and an unfrozen design."""
    if operation.method.upper() == "DELETE":
        return 2
    if operation.path.rstrip("/").rsplit("/", 1)[-1] in {"open", "pause", "resume", "close"}:
        return 1
    return 0


def test_no_generated_request_is_a_server_error(live_server, fuzz_target):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {fuzz_target['token']}"
    server_errors: list[str] = []
    sent = dict.fromkeys(GenerationMode, 0)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=destructive_last
    )
    assert len(operations) >= 20, "the served schema lost operations"

    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in fuzz_target["path"].items() if k in names}
        # Only inputs that are not fixed can be broken: a body or query parameters.
        breakable = bool(list(operation.body) or list(operation.query))
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if breakable else [])
        for mode in modes:

            @given(case=operation.as_strategy(mode, path_parameters=fixed or None))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def send(case):
                if "slug" in (case.path_parameters or {}):
                    # A generated PATCH may have renamed the study: follow it.
                    case.path_parameters["slug"] = Study.objects.get(pk=fuzz_target["study"]).slug
                response = case.call(base_url=live_server.url, session=session, timeout=30)
                if response.status_code >= 500:
                    server_errors.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{case.as_curl_command()}"
                    )

            try:
                send()
            except Unsatisfiable:
                # Nothing to break: an operation whose only inputs are the fixed path
                # parameters has no invalid request to generate.
                assert mode == GenerationMode.NEGATIVE, operation.label
                continue
            sent[mode] += 1
    assert server_errors == []
    assert sent[GenerationMode.POSITIVE] == len(operations)
    assert sent[GenerationMode.NEGATIVE] > 0
