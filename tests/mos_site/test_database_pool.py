"""PostgreSQL connections: persistent per worker by default, or a psycopg pool per process
(DATABASE_POOL), never both; a gevent worker must have the pool."""

from pathlib import Path

import pytest

from tests.conftest import _worker_database_url, site_probe, site_process

PROBE = """
import json
from django.conf import settings
import django
django.setup()
db = settings.DATABASES["default"]
answer = {
    "conn_max_age": db["CONN_MAX_AGE"],
    "health_checks": db.get("CONN_HEALTH_CHECKS", False),
    "pool": db.get("OPTIONS", {}).get("pool"),
}
if RUN_QUERY:
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        answer["query"] = cursor.fetchone()[0]
    answer["pooled"] = connection.pool is not None
    connection.close()
print(json.dumps(answer))
"""

REMOTE = "postgres://u:p@db.example:5432/harken"


def probe(env: dict[str, str], tmp_path: Path, run_query: bool = False) -> dict:
    return site_probe(PROBE.replace("RUN_QUERY", str(run_query)), tmp_path, env)[0]


def test_without_a_pool_connections_persist_and_are_checked(tmp_path):
    got = probe({"DATABASE_URL": REMOTE}, tmp_path)
    assert got == {"conn_max_age": 60, "health_checks": True, "pool": None}


def test_database_pool_gives_each_process_a_pool_and_no_persistent_connection(tmp_path):
    got = probe({"DATABASE_URL": REMOTE, "DATABASE_POOL": "4"}, tmp_path)
    assert got["conn_max_age"] == 0  # Django refuses a pool with CONN_MAX_AGE > 0
    assert got["pool"] == {"min_size": 1, "max_size": 4, "timeout": 10.0}


def test_a_negative_pool_size_is_refused_with_the_fix(tmp_path):
    out = site_process(
        ["manage.py", "check"], tmp_path, {"DATABASE_URL": REMOTE, "DATABASE_POOL": "-1"}
    )
    assert out.returncode != 0
    assert "DATABASE_POOL=-1: give the most connections a process may hold" in out.stderr


def test_gevent_workers_without_a_pool_are_refused(tmp_path):
    env = {"DATABASE_URL": REMOTE, "GUNICORN_WORKER_CLASS": "gevent"}
    out = site_process(["manage.py", "check"], tmp_path, env)
    assert out.returncode != 0
    assert "GUNICORN_WORKER_CLASS=gevent needs DATABASE_POOL" in out.stderr
    assert probe({**env, "DATABASE_POOL": "4"}, tmp_path)["pool"]["max_size"] == 4


@pytest.mark.postgres
def test_queries_run_through_the_pool_on_postgresql(tmp_path):
    # The test database's own URL (password included): the probe only runs SELECT 42.
    url = _worker_database_url()
    got = probe({"DATABASE_URL": url, "DATABASE_POOL": "2"}, tmp_path, run_query=True)
    assert got["query"] == 42 and got["pooled"] is True
