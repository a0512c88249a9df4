"""Who may read /metrics in production: with DEBUG=false no address is trusted by default, so
a reverse proxy on the same host (every visitor from 127.0.0.1) does not publish the metrics;
the token opens it, and an explicit METRICS_ALLOWED_IPS still works."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "mos_site.settings",
            "HARKEN_VAR_DIR": str(tmp_path),
            "SECRET_KEY": "x" * 60,
            "ALLOWED_HOSTS": "testserver",
            "METRICS_TOKEN": TOKEN,
        }
    )
    clean.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE % TOKEN],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


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
