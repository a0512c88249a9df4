"""gunicorn settings shared by `make run` and docker-compose.

Worker model, chosen with benchmarks/listeners.py on this 2-core machine (200 listeners over
10 s, 8 clips each; the machine shared with other work, load 5-9 beside each run):

    sync x 5          19 rating POSTs/s, POST p50/p99 1.8 / 3.7 s, page p99 4.1 s, CPU 127 %
    gthread x 5 x 2   18 rating POSTs/s, POST p50/p99 1.4 / 4.0 s, page p99 12 s,  CPU 94 %
    gthread x 3 x 4   10 rating POSTs/s, POST p50/p99 4.5 / 10.6 s, page p99 22 s, CPU 58 %

After the listener path went down to a handful of queries per request, a request spends its
time in Python, not waiting on PostgreSQL: threads share one interpreter lock and gain nothing,
processes do. So: ``sync`` workers, 2 x cores + 1 of them. An async worker (gevent) was not
measured: psycopg 3 would need gevent's monkey-patching, and the path has little waiting left
to overlap. Behind nginx (docker-compose) slow clients read from nginx's buffers, which is
what makes sync workers safe in production. GUNICORN_WORKER_CLASS, GUNICORN_THREADS and
WEB_CONCURRENCY (worker processes; the command line's ``--workers`` wins) change them. Each
worker keeps its PostgreSQL connection (CONN_MAX_AGE) and the database sees one per worker
(per thread with gthread).
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
