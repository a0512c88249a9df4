"""The one task convention (mos_site/celery.py): every Harken task is a HarkenTask, acknowledged
late, retried by error kind on one fixed back-off, with time limits read from settings."""

from __future__ import annotations

from unittest import mock

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerError

from mos_site.celery import RETRY_BACKOFF_S, HarkenTask, app
from mos_site.errors import TemporaryFailure

RAISES = {
    "database": OperationalError("server closed the connection unexpectedly"),
    "broker": BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    "storage": OSError(5, "Input/output error"),
    "service": TemporaryFailure("the checkpoint server answered 503"),
    "bug": ValueError("nobody foresaw this"),
}


@app.task(base=HarkenTask, name="tests.task_base.fails")
def fails(kind: str) -> None:
    raise RAISES[kind]


def harken_tasks() -> dict[str, object]:
    """Every task a worker registers: autodiscovery imports each app's tasks module, as there."""
    app.loader.import_default_modules()
    return {
        name: task for name, task in app.tasks.items() if not name.startswith(("celery.", "tests."))
    }


@pytest.mark.parametrize("kind", ["database", "broker", "storage", "service"])
@pytest.mark.parametrize("retries", [0, 2, 9])
def test_temporary_errors_are_retried_on_the_fixed_back_off(kind, retries):
    with mock.patch.object(fails, "retry", side_effect=Retry()) as retry:
        result = fails.apply(args=[kind], retries=retries, throw=False)
    assert result.state == "RETRY"
    delay = RETRY_BACKOFF_S[min(retries, len(RETRY_BACKOFF_S) - 1)]
    assert retry.call_args.kwargs == {"exc": RAISES[kind], "countdown": delay}


def test_an_error_nobody_foresaw_is_not_retried():
    with mock.patch.object(fails, "retry") as retry, pytest.raises(ValueError, match="foresaw"):
        fails.apply(args=["bug"])
    assert not retry.called


def test_every_harken_task_is_built_on_the_base():
    tasks = harken_tasks()
    assert {
        "synthesis.tasks.synthesize_clips",
        "synthesis.tasks.derive_anchor_clips",
        "listening.tasks_reports.build_study_report",
        "listening.tasks_metrics.compute_study_objective",
        "listening.tasks_metrics.compute_clips_objective",
        "listening.tasks_metrics.compute_clip_objective",
    } <= set(tasks)
    for name, task in tasks.items():
        if name == "harken.ping":  # the health round trip writes a file and retries nothing
            continue
        assert isinstance(task, HarkenTask), name
        assert task.acks_late and task.reject_on_worker_lost, name
        assert task.max_retries == len(RETRY_BACKOFF_S), name


def test_time_limits_are_read_from_settings():
    annotations = settings.CELERY_TASK_ANNOTATIONS
    for name, task in harken_tasks().items():
        limits = annotations.get(name, {})
        soft = limits.get("soft_time_limit", settings.CELERY_TASK_SOFT_TIME_LIMIT)
        hard = limits.get("time_limit", settings.CELERY_TASK_TIME_LIMIT)
        assert (task.soft_time_limit, task.time_limit) == (soft, hard), name
        assert soft < hard, name
    assert (
        app.tasks["synthesis.tasks.synthesize_clips"].time_limit == settings.CELERY_TASK_TIME_LIMIT
    )
    assert set(annotations) <= set(harken_tasks())  # no limit set for a task that is gone
