"""benchmarks/listeners.py's plumbing at a tiny level: its own database and stack, three
simulated listeners through the whole protocol, and its integrity check. No timing is judged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

from benchmarks.stack import nginx_binary
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("front", ["none", "nginx"])
def test_three_listeners_go_through_the_protocol_and_every_rating_is_in_the_database(
    tmp_path, front
):
    require(connection.vendor == "postgresql", "the benchmark runs on PostgreSQL")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    require(broker.startswith("redis://"), "the benchmark runs on Redis (CELERY_BROKER_URL)")
    parts = urlsplit(os.environ["DATABASE_URL"])
    if front == "nginx":
        require(nginx_binary() is not None, "nginx is not installed (apt-get install nginx-light)")
    name = f"harken_bench_plumbing_{os.getpid()}"
    database_url = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "benchmarks/listeners.py",
                "--levels",
                "3:1",
                "--playlists",
                "12",
                "--sentences",
                "12",
                "--systems",
                "2",
                "--clips-per-listener",
                "3",
                "--clip-seconds",
                "0.5",
                "--workers",
                "1",
                "--threads",
                "2",
                "--database-url",
                database_url,
                "--broker-url",
                broker,
                "--cache-url",
                broker,
                "--var-dir",
                str(tmp_path / "var"),
                "--front",
                front,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    level = out[out.index("Level 3 listeners") : out.index("Summary")]
    rows = dict(re.findall(r"^(rating POST|clip audio|welcome)\s+(\d+)", level, re.M))
    # Three listeners, each: the welcome page once, then three clips plus practice and checks.
    assert rows["welcome"] == "3"
    assert int(rows["rating POST"]) >= 3 * 3 and rows["rating POST"] == rows["clip audio"]
    for check, expected in [
        ("lost \\(accepted, no row\\)", "0"),
        ("unseen rows \\(row, never accepted\\)", "0"),
        ("doubled \\(listener, item\\)", "0"),
        ("playlists rated by two listeners", "0"),
        ("listeners completed", "3"),
    ]:
        assert re.search(rf"^{check}\s+{expected}\s*$", out, re.M), out[-2000:]
    assert re.search(r"^rating POST\s+\d+(\.\d)?\s*$", out, re.M)  # SQL per request type
    # Every clip's bytes arrived: the client refuses anything that is not audio, so "listeners
    # completed 3" above holds only if nginx sent the files the site's X-Accel-Redirect named.
    assert ("front: nginx" in out) == (front == "nginx")
    summary = out[out.index("Summary") :].splitlines()
    header = re.split(r"\s{2,}", summary[1].strip())
    row = re.split(r"\s{2,}", next(line for line in summary if line.startswith("3 over")).strip())
    nginx_cpu = dict(zip(header, row, strict=True))["nginx CPU"]
    assert (nginx_cpu == "-") == (front == "none"), nginx_cpu
