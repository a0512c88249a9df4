"""Shared fixtures: the real services (PostgreSQL, Redis, a Celery worker, Chromium).

Locally, with nothing set, tests run on SQLite and the filesystem broker, and tests that need
PostgreSQL, Redis or Chromium skip with the reason. With CI=true (``.ci/run``) every one of those
services is required: a missing one fails the run, it never turns into a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from listening.models import Study
from listening.studies.launch import study_start_synthesis
from listening.studies.lifecycle import clip_counts
from tests.factories import ResearcherFactory

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping a real service."""
    if condition:
        return
    if CI:
        pytest.fail(f"CI=true requires this service: {reason}", pytrace=False)
    pytest.skip(reason)


def site_process(
    args: list[str], var_dir: Path, env: dict[str, str] | None = None, *, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python *args`` from the project root, as a fresh deployment would start it: only PATH,
    HOME and LANG from this environment, the project's settings, ``var_dir`` as HARKEN_VAR_DIR,
    then ``env`` on top. Returns the finished process (output as text); the caller judges it."""
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    clean.update({"DJANGO_SETTINGS_MODULE": "mos_site.settings", "HARKEN_VAR_DIR": str(var_dir)})
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def site_probe(
    code: str, var_dir: Path, env: dict[str, str] | None = None, *, timeout: float = 300
) -> tuple[dict, subprocess.CompletedProcess]:
    """Run ``code`` with :func:`site_process`; it must succeed and print a JSON object as its
    last line. Returns that object and the process (for its log)."""
    out = site_process(["-c", code], var_dir, env, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out


def db_vendor() -> str:
    from django.db import connection

    return connection.vendor


def broker_url() -> str:
    return settings.CELERY_BROKER_URL


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        require(
            db_vendor() == "postgresql",
            "PostgreSQL is not configured "
            "(set DATABASE_URL=postgres://postgres@127.0.0.1:5432/harken)",
        )
    if item.get_closest_marker("redis"):
        require(
            broker_url().startswith("redis://"),
            "Redis is not configured (set CELERY_BROKER_URL=redis://127.0.0.1:6379/15)",
        )
    if item.get_closest_marker("browser"):
        require(
            Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session", autouse=True)
def _session_var_dir():
    """Each session writes under its own var/test/run-PID (see settings); remove it afterwards,
    and the folders of earlier sessions that died without cleaning up."""
    run_dir = Path(settings.VAR_DIR)
    parent = ROOT / "var" / "test"
    if parent.exists():
        for stale in parent.glob("run-*"):
            pid = stale.name.removeprefix("run-")
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
    Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    yield
    if parent in run_dir.parents:
        shutil.rmtree(run_dir, ignore_errors=True)


def _worker_database_url() -> str:
    """The URL of the *test* database, for a worker process to open the same rows."""
    from django.db import connection

    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{params['PORT']}" if params.get("PORT") else ""
    return f"postgres://{auth}{params.get('HOST') or '127.0.0.1'}{port}/{params['NAME']}"


class WorkerProcess:
    """A real `celery worker` subprocess sharing the test database and broker."""

    def __init__(
        self,
        log_path: Path,
        queues: str = "default,synthesis,metrics",
        env: dict | None = None,
        beat: bool = False,
    ):
        self.log_path = log_path
        self.queues = queues
        self.extra_env = env or {}
        # Beat embedded (-B), as `make run` does: the periodic synthesis sweep.
        self.beat = beat
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env["DATABASE_URL"] = _worker_database_url()
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env["HARKEN_VAR_DIR"] = str(settings.VAR_DIR)
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix")
        if prefix:
            env["HARKEN_BROKER_PREFIX"] = prefix
        env.setdefault("SYNTHESIS_THREADS", "1")
        env.update(self.extra_env)
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the worker
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mos_site",
                "worker",
                "--queues",
                self.queues,
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "--hostname",
                f"test-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *(
                    ["--beat", "--schedule", str(self.log_path.with_suffix(".beat"))]
                    if self.beat
                    else []
                ),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Kill the worker and its pool children at once, as a crash or OOM would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait for the worker's own "ready" line (for a worker on a broker this process does
        not use, which cannot answer a ping sent here)."""
        try:
            wait_for(lambda: " ready." in self.log_text(), timeout=timeout, message="the worker")
        except AssertionError:
            self.stop()
            raise AssertionError(
                "Celery worker did not start:\n" + self.log_text()[-4000:]
            ) from None


def wait_for(predicate, *, timeout: float, interval: float = 0.25, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message or predicate}")


def purge_broker() -> None:
    from mos_site.celery import app

    for queue in ("default", "synthesis", "metrics"):
        # A queue not declared yet has nothing to purge.
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge(queue)


def start_worker(log_path: Path, **kwargs) -> WorkerProcess:
    """Start a worker and wait until it has answered a ping through the broker."""
    worker = WorkerProcess(log_path, **kwargs)
    worker.start()
    ping = settings.VAR_DIR / f"ping-{uuid.uuid4().hex}.json"
    from mos_site.celery import ping as ping_task

    ping_task.delay(str(ping))
    try:
        wait_for(ping.exists, timeout=90, message="the worker to answer a ping")
    except AssertionError:
        worker.stop()
        raise AssertionError("Celery worker did not start:\n" + worker.log_text()[-4000:]) from None
    ping.unlink()
    return worker


def synthesise_first_clips(study, k: int) -> None:
    """Start ``study``'s synthesis and wait (two minutes at most) until ``k`` clips are ready."""
    study_start_synthesis(study=study)
    wait_for(
        lambda: clip_counts(study=study)["ready"] >= k,
        timeout=120,
        interval=0.02,
        message="the first clips",
    )


def wait_until_synthesised(study, n: int, *, timeout: float, message: str) -> None:
    """Wait until all ``n`` clips of ``study`` are ready *and* the worker has told the study
    (it leaves "synthesizing"), within one ``timeout``.

    A worker announces a batch just after storing its last clip; ``WorkerProcess.stop`` sends
    SIGTERM to the whole process group, which kills the pool child in that gap (Celery resets
    SIGTERM to its default in pool children). Stopping on the clip count alone therefore left,
    on a loaded machine, a study that nothing would ever move to ready."""
    wait_for(
        lambda: (
            clip_counts(study=study)["ready"] == n
            and Study.objects.get(pk=study.pk).status != Study.Status.SYNTHESIZING
        ),
        timeout=timeout,
        message=message,
    )


def finish_on_a_new_worker(log_path: Path, study, n: int, *, timeout: float, **kwargs) -> None:
    """Start a fresh worker (``start_worker`` arguments) and wait until all ``n`` clips of
    ``study`` are ready and the study knows it; the worker is stopped either way."""
    worker = start_worker(log_path, **kwargs)
    try:
        wait_until_synthesised(study, n, timeout=timeout, message="every clip after the restart")
    finally:
        worker.stop()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real Celery worker for one test. Needs committed rows, hence transactional_db."""
    purge_broker()
    worker = start_worker(tmp_path / "worker.log")
    yield worker
    worker.stop()


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def ada(db):
    """Ada, a researcher (a staff account): most tests act as her."""
    return ResearcherFactory(username="ada")


@pytest.fixture
def client_ada(client, ada):
    """The test client, logged in as Ada."""
    client.force_login(ada)
    return client
