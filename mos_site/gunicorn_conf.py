"""gunicorn settings shared by `make run` and docker-compose."""

import os

timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# Uploads of recordings can be large; give slow clients time without tying up a worker forever.
keepalive = 5


def child_exit(server, worker):
    # Prometheus multi-process mode: a dead worker's live gauges must not linger.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
