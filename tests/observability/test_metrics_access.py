"""Who may read /metrics in production: with DEBUG=false no address is trusted by default, so
a reverse proxy on the same host (every visitor from 127.0.0.1) does not publish the metrics;
the token opens it, and an explicit METRICS_ALLOWED_IPS still works."""

from pathlib import Path

import pytest

from tests.conftest import site_probe

TOKEN = "s3cret-metrics-token"

PROBE = """
import django, json
django.setup()
from django.test import Client
client = Client(REMOTE_ADDR="127.0.0.1")
plain = client.get("/metrics", secure=True)
token = client.get("/metrics", secure=True, HTTP_AUTHORIZATION="Bearer %s")
print(json.dumps({"plain": plain.status_code, "token": token.status_code}))
"""


def probe(env: dict[str, str], tmp_path: Path) -> dict:
    production = {"SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "testserver", "METRICS_TOKEN": TOKEN}
    return site_probe(PROBE % TOKEN, tmp_path, {**production, **env}, timeout=120)[0]


@pytest.mark.parametrize(
    ("env", "plain"),
    [
        ({"DEBUG": "false"}, 403),  # production: loopback is not trusted by default
        ({"DEBUG": "false", "METRICS_ALLOWED_IPS": "127.0.0.1"}, 200),  # unless said so
        ({"DEBUG": "true"}, 200),  # development: the local Prometheus needs no token
    ],
    ids=["production", "production-allow-list", "development"],
)
def test_loopback_needs_the_token_in_production_unless_allowed(tmp_path, env, plain):
    got = probe(env, tmp_path)
    assert got == {"plain": plain, "token": 200}
