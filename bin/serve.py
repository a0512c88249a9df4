#!/usr/bin/env python
"""Run gunicorn and a Celery worker (with beat) together for `make run`; Ctrl-C stops both.

The embedded default needs no servers: SQLite and Celery's filesystem broker under var/. When
either child exits, the other is stopped too, so a crash never leaves half a site running.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument(
        "--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2))
    )
    # The worker model chosen by measurement (docs/operations.md, "Crowd scale"): sync
    # processes with persistent connections. A request of the listener path is a few ms of
    # Python and a few short queries, so threads (one interpreter lock) and gevent (one core
    # per process) gain nothing over processes, and cost CPU per request.
    parser.add_argument(
        "--worker-class",
        choices=("sync", "gthread", "gevent"),
        default=os.environ.get("GUNICORN_WORKER_CLASS", "sync"),
    )
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 1)))
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "mos_site.settings")
    # The settings check that a gevent worker has a connection pool.
    env["GUNICORN_WORKER_CLASS"] = args.worker_class
    # Metrics from gunicorn's and Celery's processes are aggregated through this folder.
    metrics_dir = ROOT / "var" / "prometheus"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    # One machine: the site's /metrics already aggregates the worker's samples from that folder.
    env.setdefault("METRICS_PORT", "0")

    web = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "mos_site.wsgi",
            "--bind",
            f"{args.host}:{args.port}",
            "--workers",
            str(args.web_workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            # gunicorn quietly runs a sync worker with threads > 1 as gthread.
            str(args.threads if args.worker_class == "gthread" else 1),
            "--config",
            str(ROOT / "mos_site" / "gunicorn_conf.py"),
            "--access-logfile",
            "-",
        ],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "mos_site",
            "worker",
            "--queues",
            "default,synthesis,metrics",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--hostname",
            "harken@%h",
            # Beat inside the worker: the periodic sweep that queues again the clips of a
            # worker that died (its schedule file: CELERY_BEAT_SCHEDULE_FILENAME under var/).
            "--beat",
        ],
        cwd=ROOT,
        env=env,
    )
    children = {"gunicorn": web, "celery worker": worker}

    def stop() -> None:
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def on_signal(signum, _frame) -> None:
        raise KeyboardInterrupt

    # A shell may start us with SIGINT ignored (background jobs); Ctrl-C and SIGTERM both stop.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status = 0
    try:
        while True:
            for name, proc in children.items():
                code = proc.poll()
                if code is not None:
                    print(f"\n{name} exited with code {code}; stopping the rest.", file=sys.stderr)
                    status = code or 1
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping Harken (gunicorn and the Celery worker)…", file=sys.stderr)
        stop()
    finally:
        deadline = time.monotonic() + 20
        for proc in children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    return status


if __name__ == "__main__":
    sys.exit(main())
