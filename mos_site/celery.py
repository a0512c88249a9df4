"""The Celery application shared by the web process (which enqueues) and the workers.

Settings come from Django's settings module under the ``CELERY_`` prefix, so the embedded
filesystem broker and Redis in production are one configuration path.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mos_site.settings")

app = Celery("harken")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="harken.ping")
def ping(path: str) -> None:
    """Round-trip check: the worker writes which database it talks to into ``path`` (under
    ``var/``). The health tests use it to prove a real worker consumes from the broker and is
    configured like the web process."""
    import json
    from pathlib import Path

    from django.conf import settings
    from django.db import connection

    target = Path(path).resolve()
    if settings.VAR_DIR not in target.parents:
        raise ValueError(f"ping only writes under {settings.VAR_DIR}, not {target}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"vendor": connection.vendor, "pid": os.getpid()}))
    tmp.replace(target)
