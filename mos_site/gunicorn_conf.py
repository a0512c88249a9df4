"""gunicorn settings shared by `make run` and docker-compose.

Worker model, chosen with benchmarks/listeners.py on this 2-core machine: sync, gthread and
gevent workers, each with persistent connections or a psycopg pool (DATABASE_POOL); the table,
the machine's load beside each run and the reasons are in docs/operations.md ("Crowd
scale"). A request of the listener path is a few milliseconds of Python around a few short
queries: threads share one interpreter lock and greenlets one core, so neither overlaps
enough waiting to pay for itself, and both cost more CPU per rating than processes. So:
``sync`` workers, 2 x cores + 1 of them, each keeping its PostgreSQL connection
(CONN_MAX_AGE). Behind nginx (docker-compose) slow clients read from nginx's buffers, which
is what makes sync workers safe in production. GUNICORN_WORKER_CLASS, GUNICORN_THREADS,
GUNICORN_WORKER_CONNECTIONS (gevent) and WEB_CONCURRENCY (worker processes) change them;
bin/serve.py's command line wins. The database sees one connection per worker (per thread
with gthread; at most DATABASE_POOL per process with a pool, which gevent requires).
"""

import os

worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# gevent: requests one worker runs at once (each holds a database connection while it runs).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "100"))
workers = int(os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1) + 1)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# Uploads of recordings can be large; give slow clients time without tying up a worker forever.
keepalive = 5


def child_exit(server, worker):
    # Prometheus multi-process mode: a dead worker's live gauges must not linger.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
