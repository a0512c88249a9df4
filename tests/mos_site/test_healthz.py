"""/healthz: 200 when the database, the broker and the storage answer, 503 naming the one that
does not, and never how (no host, port, user or path: those go to the log)."""

import json
from pathlib import Path

import pytest

from tests.conftest import site_probe


@pytest.mark.django_db
def test_healthy_site_answers_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "storage": "ok", "status": "ok"}
    assert "no-cache" in response["Cache-Control"]


HEALTH_PROBE = """
import django, json
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(json.dumps({"code": response.status_code, "body": response.json()}))
"""


def probe(env: dict[str, str], tmp_path: Path) -> dict:
    got, out = site_probe(HEALTH_PROBE, tmp_path, env, timeout=60)
    got["log"] = out.stderr + out.stdout
    return got


@pytest.mark.parametrize(
    ("env", "down", "secrets"),
    [
        # Nothing listens on port 1: a real refused connection, not a mock.
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}, "broker", ["127.0.0.1", ":1", "redis"]),
        (
            {"DATABASE_URL": "postgres://harkenuser@127.0.0.1:1/harken"},
            "database",
            ["127.0.0.1", "harkenuser", "port 1", "Operational"],
        ),
        # A media folder that cannot be made: below a regular file.
        ({"MEDIA_ROOT": "{tmp}/not-a-folder/media"}, "storage", ["not-a-folder", "{tmp}"]),
    ],
    ids=["broker", "database", "storage"],
)
def test_an_unreachable_service_gives_503_naming_it_but_not_how(tmp_path, env, down, secrets):
    (tmp_path / "not-a-folder").write_text("a file, not a folder")
    env = {k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}
    got = probe(env, tmp_path)
    assert got["code"] == 503
    assert got["body"]["status"] == f"unavailable: {down}"
    assert got["body"][down] == "unavailable"
    assert [name for name in ("database", "broker", "storage") if got["body"][name] == "ok"] == [
        name for name in ("database", "broker", "storage") if name != down
    ]
    text = json.dumps(got["body"])
    for secret in secrets:
        assert secret.replace("{tmp}", str(tmp_path)) not in text
    # The cause is in the log for whoever runs the site.
    assert "health check failed" in got["log"]
