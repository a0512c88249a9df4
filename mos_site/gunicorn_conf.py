"""gunicorn settings shared by `make run` and docker-compose.

Worker model (README, "Serving at crowd scale"; chosen with benchmarks/listeners.py on a 2-core
machine): ``gthread`` workers, each with a few threads. A listener request spends most of its
time waiting on PostgreSQL, and a thread waiting on the socket lets the worker's other threads
run; with sync workers every wait idles a whole process. GUNICORN_WORKER_CLASS,
GUNICORN_THREADS and WEB_CONCURRENCY (the number of worker processes; the command line's
``--workers`` wins) change them. Each thread keeps its own PostgreSQL connection
(CONN_MAX_AGE), so the database sees workers x threads connections.
"""

import os

worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# Uploads of recordings can be large; give slow clients time without tying up a worker forever.
keepalive = 5


def child_exit(server, worker):
    # Prometheus multi-process mode: a dead worker's live gauges must not linger.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
