"""A real Celery worker consumes from the real broker and talks to the same database."""

import uuid

import pytest
from django.conf import settings
from django.db import connection

from mos_site.celery import ping
from tests.conftest import CI, read_json, wait_for


@pytest.mark.worker
def test_worker_runs_a_task_end_to_end(celery_worker):
    target = settings.VAR_DIR / f"ping-{uuid.uuid4().hex}.json"
    ping.delay(str(target))
    wait_for(target.exists, timeout=60, message="the worker to run the ping task")
    answer = read_json(target)
    # The worker opened the same kind of database as this test process.
    assert answer["vendor"] == connection.vendor
    target.unlink()


def test_ci_uses_postgresql_and_redis_for_real(db):
    if not CI:
        pytest.skip("only asserted when CI=true")
    assert connection.vendor == "postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]
    import redis

    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).ping() is True
