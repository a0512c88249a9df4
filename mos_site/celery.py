"""The Celery application shared by the web process (which enqueues) and the workers, and the one
base every Harken task is built on.

Settings come from Django's settings module under the ``CELERY_`` prefix, so the embedded
filesystem broker and Redis in production are one configuration path.

The task convention (docs/architecture.md says why): a task is an adapter that takes ids, loads
rows and calls one service; it is safe to run twice, so it is ``acks_late`` and a message whose
worker died is delivered again. :class:`HarkenTask` sorts errors by kind, pretix's practice:

- temporary (the database, the broker or storage briefly away, or a service's
  ``TemporaryFailure``): retried after the fixed back-off :data:`RETRY_BACKOFF_S`, at most
  that many times;
- permanent (a checkpoint that does not load, audio that cannot be measured): the service has
  already marked its rows failed with a message for the researcher and returns normally; an
  error nobody foresaw is a bug, and Celery logs it with its traceback.

Time limits are read from settings in one place: ``CELERY_TASK_SOFT_TIME_LIMIT`` and
``CELERY_TASK_TIME_LIMIT`` for every task, ``CELERY_TASK_ANNOTATIONS`` for the tasks that need
less.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from celery import Celery, Task
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from kombu.exceptions import OperationalError as BrokerError

from mos_site.errors import TemporaryFailure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mos_site.settings")

log = logging.getLogger(__name__)

app = Celery("harken")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

#: Seconds before retry 1, 2, 3…: a few quick tries (a database restart is over in well under a
#: minute), then slow ones; after the last, the error stands.
RETRY_BACKOFF_S = (5, 15, 60, 180, 600)

#: Errors that say "not now" rather than "never": the database or the broker away, storage
#: that cannot be read or written right now (OSError; a file missing for good is the service's
#: to handle, as the objective metrics do), or a service's own TemporaryFailure.
TEMPORARY_ERRORS = (OperationalError, InterfaceError, BrokerError, OSError, TemporaryFailure)


def retry_delay(retries: int) -> int:
    """Seconds to wait before the retry that follows ``retries`` earlier ones."""
    return RETRY_BACKOFF_S[min(retries, len(RETRY_BACKOFF_S) - 1)]


class HarkenTask(Task):
    """The base of every Harken task: idempotent, acknowledged late, temporary errors retried."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = len(RETRY_BACKOFF_S)

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except TEMPORARY_ERRORS as exc:
            delay = retry_delay(self.request.retries)
            log.warning(
                "task will retry",
                extra={"task": self.name, "retry_in_s": delay, "error": str(exc)[:300]},
            )
            raise self.retry(exc=exc, countdown=delay) from exc


@app.task(name="harken.ping")
def ping(path: str) -> None:
    """Round-trip check: the worker writes which database it talks to into ``path`` (under
    ``var/``). The health tests use it to prove a real worker consumes from the broker and is
    configured like the web process."""
    target = Path(path).resolve()
    if settings.VAR_DIR not in target.parents:
        raise ValueError(f"ping only writes under {settings.VAR_DIR}, not {target}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"vendor": connection.vendor, "pid": os.getpid()}))
    tmp.replace(target)
