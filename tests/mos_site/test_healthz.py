"""/healthz: 200 when the database and the broker answer, 503 naming the one that does not."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthy_site_answers_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}
    assert "no-cache" in response["Cache-Control"]


HEALTH_PROBE = """
import django, json
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(json.dumps({"code": response.status_code, "body": response.json()}))
"""


def probe(env: dict[str, str], tmp_path: Path) -> dict:
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    clean.update({"DJANGO_SETTINGS_MODULE": "mos_site.settings", "HARKEN_VAR_DIR": str(tmp_path)})
    clean.update(env)
    out = subprocess.run(
        [sys.executable, "-c", HEALTH_PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("env", "down", "up", "error"),
    [
        # Nothing listens on port 1: a real refused connection, not a mock.
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}, "broker", "database", "Error"),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/harken"},
            "database",
            "broker",
            "OperationalError",
        ),
    ],
    ids=["broker", "database"],
)
def test_an_unreachable_service_gives_503_naming_it(tmp_path, env, down, up, error):
    got = probe(env, tmp_path)
    assert got["code"] == 503
    assert got["body"]["status"] == f"unavailable: {down}"
    assert got["body"][up] == "ok"
    assert error in got["body"][down]
