"""docs/api.md's example of each test type runs as written against the API (real routing,
token authentication, serializers, services and PostgreSQL) and prints what the doc says it
prints; the refusals the doc quotes are the API's own."""

import contextlib
import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from listening.analysis.selectors import TEST_COLUMNS
from listening.models import Study
from tests.factories import ResearcherFactory

DOC = Path(settings.BASE_DIR) / "docs" / "api.md"
EXAMPLE = re.compile(r"<!-- api-example: (\w+) -->\n```python\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(DOC.read_text()))


def test_the_doc_has_an_example_of_every_test_type():
    assert sorted(examples()) == sorted(Study.TestType.values)


@pytest.fixture
def api(db):
    user = ResearcherFactory(username="doc-reader")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _call(api: APIClient):
    """The doc's ``call``: one API call, stopping with Harken's message on a refusal."""

    def call(method: str, path: str, json=None):
        response = getattr(api, method.lower())(f"/api/v1{path}", data=json, format="json")
        assert response.status_code < 400, f"{method} {path}: {response.content.decode()}"
        return response.json() if response.content else {}

    return call


@pytest.mark.parametrize("test_type", Study.TestType.values)
def test_example_runs_and_prints_what_the_doc_says(api, test_type):
    code = examples()[test_type]
    promised = code.rstrip().splitlines()[-1].removeprefix("# ")
    out = io.StringIO()
    namespace = {"call": _call(api)}
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"docs/api.md ({test_type})", "exec"), namespace)  # noqa: S102
    assert out.getvalue().strip() == promised

    study = Study.objects.get(slug=namespace["slug"])
    assert study.test_type == test_type
    # The study's download already has its type's columns first.
    response = api.get(f"/api/v1/studies/{study.slug}/ratings.csv")
    header = next(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    if test_type in TEST_COLUMNS:
        assert header[: len(TEST_COLUMNS[test_type])] == TEST_COLUMNS[test_type]
    elif test_type == "transcription":
        # A transcription's answer is what was typed, not a score.
        assert header[:4] == ["listener", "sentence", "system", "text"]
    else:
        assert header[0] == "listener" and "score" in header


def test_the_refusals_the_doc_quotes(api):
    exec(examples()["ccr"], {"call": _call(api), "print": lambda *a: None})  # noqa: S102
    text = " ".join(DOC.read_text().split())
    wrong = api.patch(
        "/api/v1/studies/cmos-vits-fastpitch/", {"reference_system": "nobody"}, format="json"
    )
    assert wrong.status_code == 400
    message = wrong.json()["reference_system"][0]
    assert message == (
        "nobody is not a system of this study; choose one of its systems "
        "(natural, vits, fastpitch)."
    )
    assert message in text
    labels = api.patch(
        "/api/v1/studies/cmos-vits-fastpitch/",
        {"test_type": "ccr", "scale_labels": ["Better", "Worse"]},
        format="json",
    )
    assert labels.status_code == 400
    assert labels.json()["scale_labels"][0] in text
    assert Study.objects.get(slug="cmos-vits-fastpitch").scale_labels == []
