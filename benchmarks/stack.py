"""The stack benchmarks/listeners.py starts and measures: its own database, the site as
``make run`` starts it (``bin/serve.py``), optionally the front server of deploy/nginx in front
of it, and the CPU its processes use (from /proc)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "harken.conf.template"


def stack_env(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    """The environment ``make run`` would get for production-like servers."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mos_site.settings",
            "HARKEN_VAR_DIR": str(var_dir),
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "CACHE_URL": args.cache_url,
            "DEBUG": "false",
            "SECRET_KEY": "benchmark-only-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
            # Every simulated listener comes from this one address: the limits would refuse
            # them (they exist for real crowds, README "Listener joins").
            "HARKEN_JOINS_PER_ADDRESS": "0",
            "HARKEN_JOINS_PER_STUDY": "0",
            "WEB_CONCURRENCY": str(args.workers),
            "GUNICORN_WORKER_CLASS": args.worker_class,
            # gunicorn turns a sync worker with more than one thread into gthread: threads
            # only where the worker class asks for them.
            "GUNICORN_THREADS": str(args.threads if args.worker_class == "gthread" else 1),
            "DATABASE_POOL": str(getattr(args, "db_pool", 0)),
        }
    )
    return env


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in ("postgres", "harken"):
        raise SystemExit(f"--database-url names {name!r}: use a database of its own.")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stack(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "bin/serve.py",
            "--port",
            str(port),
            "--web-workers",
            env["WEB_CONCURRENCY"],
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("bin/serve.py exited before listening") from None
            time.sleep(0.2)
    stop_stack(proc)
    raise SystemExit("the site did not start within 60 s")


def stop_stack(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            children += [child, *descendants(child)]
    return children


def process_cpu(pid: int) -> float | None:
    """utime + stime of one process (seconds), from /proc; None once it has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (seconds), from /proc."""
    return sum(cpu for cpu in map(process_cpu, pids) if cpu is not None)


class BackendCpu:
    """The CPU of one database's PostgreSQL backends over a span, sampled every ``every_s``
    seconds, so that a backend which starts or ends inside the span counts too (a persistent
    connection older than ``CONN_MAX_AGE`` is replaced while the crowd runs: its backend leaves
    with the CPU it used). A backend's CPU after its last sample is not seen."""

    def __init__(self, database_url: str, every_s: float = 0.5):
        self.database_url = database_url
        self.every_s = every_s
        self.name = urlsplit(database_url).path.lstrip("/")
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()

    def _sample(self, conn: psycopg.Connection) -> dict[int, float]:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.name],
        ).fetchall()
        return {pid: cpu for (pid,) in rows if (cpu := process_cpu(pid)) is not None}

    def _run(self, conn: psycopg.Connection) -> None:
        while not self._stop.wait(self.every_s):
            self._last.update(self._sample(conn))
        self._last.update(self._sample(conn))
        conn.close()

    def __enter__(self) -> BackendCpu:
        conn = psycopg.connect(self.database_url, autocommit=True)
        self._start = self._sample(conn)
        self._last = dict(self._start)
        self._thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())


def gunicorn_pids(stack: subprocess.Popen) -> list[int]:
    pids = []
    for pid in descendants(stack.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"gunicorn" in cmdline:
            pids.append(pid)
    return pids


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if Path(found).exists() else None


def nginx_conf(
    folder: Path,
    *,
    upstream: str,
    port: int,
    static_root: Path,
    media_root: Path,
    max_upload_mb: int = 10,
    worker_connections: int = 4096,
) -> Path:
    """Write ``folder/nginx.conf``: deploy/nginx's server block filled in as docker-compose's
    nginx image fills it (envsubst of the ``${NAME}`` forms only), inside a main configuration
    that keeps every file of this nginx in ``folder``. Returns the configuration's path."""
    values = {
        "HARKEN_UPSTREAM": upstream,
        "NGINX_PORT": f"127.0.0.1:{port}",
        "STATIC_ROOT": str(static_root),
        "MEDIA_ROOT": str(media_root),
        "MAX_UPLOAD_MB": str(max_upload_mb),
    }
    server = re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], NGINX_TEMPLATE.read_text())
    (folder / "harken.conf").write_text(server)
    # As root, nginx's workers would run as "nobody", who may not read this media folder.
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
{user}
events {{ worker_connections {worker_connections}; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
{temp}
    include {folder}/harken.conf;
}}
"""
    )
    return conf


def start_nginx(conf: Path, port: int, timeout_s: float = 10.0) -> subprocess.Popen:
    """Start nginx on ``conf`` and wait until it accepts connections on ``port``. nginx runs in
    a session of its own (master and workers stop together, see :func:`stop_nginx`) and writes
    what it prints to ``nginx.out`` beside ``conf``; a start that fails stops it and raises
    with that output."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    out = conf.parent / "nginx.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [binary, "-p", str(conf.parent), "-c", str(conf)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_nginx(proc)
                errors = conf.parent / "error.log"
                said = out.read_text() + (errors.read_text() if errors.exists() else "")
                raise RuntimeError(f"nginx did not start on port {port}: {said}") from None
            time.sleep(0.1)


def stop_nginx(proc: subprocess.Popen) -> None:
    """Stop nginx's master and its workers (its whole session), a worker left behind by a
    master that died included."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
