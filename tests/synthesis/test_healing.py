"""Synthesis heals itself (synthesis/clips.py leases and sweep, synthesis/tasks.py): every clip
ends ready or failed on its own after a worker dies or the broker loses a task, within
SYNTHESIS_LEASE_S + SYNTHESIS_SWEEP_S; a clip claimed a moment ago is never taken for an
orphan; a clip whose worker keeps dying fails instead of looping.

The fault tests run real Celery workers (with beat embedded, as `make run` does) against
PostgreSQL and, for the broker fault, a private `redis-server` this file starts on its own
port: the shared Redis is never stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from listening.models import Clip, Study, System
from listening.studies.launch import study_start_synthesis
from listening.studies.lifecycle import clip_counts, study_clips_ensure
from synthesis import clips as clip_service
from synthesis import tasks
from tests.conftest import (
    ROOT,
    WorkerProcess,
    _worker_database_url,
    finish_on_a_new_worker,
    purge_broker,
    require,
    start_worker,
    synthesise_first_clips,
    wait_for,
    wait_until_synthesised,
)
from tests.factories import VoiceSystemFactory, clips_of, espeak_study

LEASE_S, SWEEP_S, RESEND_S = 4, 1, 6
#: Short bounds for the workers these tests start.
FAST = {
    "SYNTHESIS_LEASE_S": str(LEASE_S),
    "SYNTHESIS_SWEEP_S": str(SWEEP_S),
    "SYNTHESIS_RESEND_AFTER_S": str(RESEND_S),
    # As in production: Redis would redeliver an unacknowledged task only after an hour, so
    # what heals here is the lease and the sweep, not the visibility timeout.
    "CELERY_VISIBILITY_TIMEOUT": "3600",
}


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- The claim, the lease and the sweep, on the database -----------------------------------------


def test_a_clip_claimed_now_is_not_an_orphan(db):
    study = espeak_study(n_sentences=2)
    system = study.systems.get()
    ids = list(system.clips.values_list("id", flat=True))
    # Rows made long ago (a study launched an hour before a worker got to it).
    Clip.objects.filter(id__in=ids).update(updated_at=_ago(3600))
    claimed = clip_service._claim(ids, system.pk)
    assert [c.id for c in claimed] == sorted(ids)
    for clip in Clip.objects.filter(id__in=ids):
        assert clip.status == Clip.Status.RUNNING
        assert clip.updated_at > _ago(60)  # the claim touched it (QuerySet.update does not)
        assert clip.worker == clip_service.worker_id()
        assert clip.lease_until > timezone.now()
    sweep = clip_service.clips_sweep()
    assert sweep.requeue == [] and sweep.expired == 0
    clip_service.leases_release_dead_local()  # this process is alive: its claim stands
    assert set(Clip.objects.filter(id__in=ids).values_list("status", flat=True)) == {"running"}


def test_a_second_delivery_leaves_clips_another_live_worker_holds(db):
    study = espeak_study(n_sentences=2)
    system = study.systems.get()
    held, free = sorted(system.clips.values_list("id", flat=True))
    Clip.objects.filter(pk=held).update(
        status=Clip.Status.RUNNING,
        worker="elsewhere/1",
        lease_until=timezone.now() + timedelta(seconds=60),
    )
    assert [c.id for c in clip_service._claim([held, free], system.pk)] == [free]
    assert Clip.objects.get(pk=held).worker == "elsewhere/1"


def test_an_expired_lease_is_queued_again_then_fails_after_n_deaths(db, settings):
    settings.SYNTHESIS_MAX_LEASE_EXPIRIES = 2
    study = espeak_study(n_sentences=2)
    system = study.systems.get()
    dead, alive = sorted(system.clips.values_list("id", flat=True))
    Clip.objects.filter(pk=dead).update(
        status=Clip.Status.RUNNING, worker="gpu-1/42", lease_until=_ago(1)
    )
    Clip.objects.filter(pk=alive).update(
        status=Clip.Status.RUNNING,
        worker="gpu-2/7",
        lease_until=timezone.now() + timedelta(seconds=60),
    )
    sweep = clip_service.clips_sweep()
    assert (sweep.expired, sweep.failed) == (1, 0)
    assert [(s.pk, ids) for s, ids in sweep.requeue] == [(system.pk, [dead])]
    clip = Clip.objects.get(pk=dead)
    assert (clip.status, clip.lease_expiries, clip.worker) == ("pending", 1, "gpu-1/42")
    assert Clip.objects.get(pk=alive).status == Clip.Status.RUNNING

    # Claimed again, and that worker dies too: the second death is the last.
    Clip.objects.filter(pk=dead).update(
        status=Clip.Status.RUNNING, worker="gpu-3/9", lease_until=_ago(1)
    )
    sweep = clip_service.clips_sweep()
    assert (sweep.expired, sweep.failed, sweep.requeue) == (0, 1, [])
    clip = Clip.objects.get(pk=dead)
    assert clip.status == Clip.Status.FAILED
    assert "worker died 2 times while synthesising" in clip.error
    assert "gpu-3/9" in clip.error and "worker logs" in clip.error

    # A researcher's retry starts the count afresh.
    Study.objects.filter(pk=study.pk).update(status=Study.Status.READY)
    Clip.objects.filter(pk=alive).update(status=Clip.Status.FAILED)
    with transaction.atomic():
        study_start_synthesis(study=study, only_failed=True)
    assert Clip.objects.get(pk=dead).lease_expiries == 0


def test_a_pending_clip_whose_task_was_lost_is_sent_again(db):
    study = espeak_study(n_sentences=3)
    voice = study.systems.get()
    lost, queued, never = sorted(voice.clips.values_list("id", flat=True))
    uploaded = System.objects.create(study=study, name="rec", kind=System.Kind.UPLOADED)
    Clip.objects.filter(pk=lost).update(enqueued_at=_ago(settings.SYNTHESIS_RESEND_AFTER_S + 5))
    Clip.objects.filter(pk=queued).update(enqueued_at=timezone.now())
    # An uploaded system's pending clip waits for a file, not for a worker.
    study_clips_ensure(study=study)
    uploaded.clips.update(enqueued_at=_ago(3600))
    sweep = clip_service.clips_sweep()
    assert sweep.resent == 1
    assert [(s.pk, ids) for s, ids in sweep.requeue] == [(voice.pk, [lost])]
    assert never not in sweep.requeue[0][1]


def test_the_sweep_task_sends_what_it_requeues_after_the_commit(
    db, django_capture_on_commit_callbacks, monkeypatch
):
    study = espeak_study(n_sentences=1)
    clip = clips_of(study).get()
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.RUNNING, worker="gone/1", lease_until=_ago(1)
    )
    sent = []
    monkeypatch.setattr(tasks.synthesize_clips, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_clips() == {"expired": 1, "failed": 0, "resent": 0}
    assert sent == [(clip.system_id, [clip.pk])]
    clip.refresh_from_db()
    assert clip.status == Clip.Status.PENDING and clip.enqueued_at > _ago(60)


def test_a_worker_starting_releases_the_clips_of_a_dead_process_of_its_host(db):
    study = espeak_study(n_sentences=1)
    clip = clips_of(study).get()
    holder = f"{socket.gethostname()}/{_dead_pid()}"
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.RUNNING,
        worker=holder,
        lease_until=timezone.now() + timedelta(seconds=60),
    )
    assert clip_service.leases_release_dead_local() == 1
    sweep = clip_service.clips_sweep()
    assert sweep.expired == 1 and Clip.objects.get(pk=clip.pk).status == Clip.Status.PENDING


def test_a_long_batch_keeps_its_lease(transactional_db, settings):
    """The renewing thread writes through its own connection: committed rows, a real thread."""
    settings.SYNTHESIS_LEASE_S = 1
    study = espeak_study(n_sentences=1)
    clip = clips_of(study).get()
    clip_service._claim([clip.pk], clip.system_id)
    with clip_service.lease_kept([clip.pk]):
        time.sleep(2.5)  # an engine call longer than two leases
        clip.refresh_from_db()
        assert clip.lease_until > timezone.now()
        assert clip_service.clips_sweep().expired == 0
    assert Clip.objects.get(pk=clip.pk).status == Clip.Status.RUNNING


# --- Faults, with real workers ------------------------------------------------------------------


def _running_of(worker: str) -> int:
    return Clip.objects.filter(status=Clip.Status.RUNNING, worker__startswith=worker).count()


@pytest.mark.worker
def test_sigkill_of_the_whole_worker_heals_within_lease_plus_sweep(transactional_db, tmp_path):
    """SIGKILL the synthesis worker (master and pool, as an OOM kill of the container would)
    while a CPU worker with beat stays up: its clips leave "running" within LEASE + SWEEP, and
    a new synthesis worker makes every clip ready exactly once."""
    purge_broker()
    n = 200
    study = espeak_study(n_sentences=n)
    bookkeeper = start_worker(tmp_path / "cpu.log", queues="default", env=FAST, beat=True)
    gpu = start_worker(tmp_path / "gpu.log", queues="synthesis", env=FAST)
    try:
        synthesise_first_clips(study, 10)
        holder = list(
            Clip.objects.filter(system__study=study, status=Clip.Status.RUNNING).values_list(
                "worker", flat=True
            )[:1]
        )
        gpu.kill()
        killed_at = time.monotonic()
        assert holder, "the worker finished before it could be killed"
        holder = holder[0]
        assert 0 < clip_counts(study=study)["ready"] < n
        wait_for(
            lambda: _running_of(holder) == 0,
            timeout=LEASE_S + SWEEP_S + 20,
            interval=0.2,
            message="the dead worker's clips to leave 'running'",
        )
        healed_s = time.monotonic() - killed_at
        # The bound the README states, with a little for the sweep task's own round trip.
        assert healed_s <= LEASE_S + SWEEP_S + 5, f"{healed_s:.1f} s"
        print(
            f"\nclips left 'running' {healed_s:.1f} s after SIGKILL (bound {LEASE_S + SWEEP_S} s)"
        )
        assert clip_counts(study=study)["running"] == 0
        finish_on_a_new_worker(
            tmp_path / "gpu2.log",
            study,
            n,
            timeout=240,
            queues="synthesis",
            env=FAST,
        )
    finally:
        gpu.stop()
        bookkeeper.stop()
    assert clip_counts(study=study)["failed"] == 0
    lost = Clip.objects.filter(system__study=study, lease_expiries__gt=0).count()
    assert lost > 0  # the clips the dead worker held went through the sweep
    # The new worker told the study before it was stopped (finish_on_a_new_worker waits).
    assert Study.objects.get(pk=study.pk).status == Study.Status.READY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A `redis-server` of this test's own, without persistence: a restart loses every key."""

    def __init__(self, tmp_path):
        self.port = _free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)

        def up() -> bool:
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(up, timeout=20, message="the private redis-server")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis(tmp_path):
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def _queued_messages(client: redis.Redis, queue: str) -> int:
    return sum(
        client.llen(key)
        for key in client.keys(f"*{queue}*")
        if client.type(key) == b"list" and key.decode().rsplit(":", 1)[-1] == queue
    )


@pytest.mark.worker
@pytest.mark.postgres
def test_a_redis_restart_losing_a_queued_task_heals(transactional_db, tmp_path, private_redis):
    """Two systems queued; while the worker makes the first, the non-persistent Redis restarts
    and loses the second's message. The sweep sends it again: every clip becomes ready."""
    n = 80
    study = espeak_study(slug="two-systems", n_sentences=n)
    VoiceSystemFactory(study=study, name="espeak-b", position=1)
    study_clips_ensure(study=study)
    first, second = study.systems.order_by("position")
    env = {**FAST, "CELERY_BROKER_URL": private_redis.url}
    worker = WorkerProcess(tmp_path / "worker.log", env=env, beat=True)
    worker.start()
    worker.wait_ready()
    try:
        # Launched by a process that sends to the private Redis, as the site would.
        launch_env = dict(os.environ)
        launch_env.update(env)
        launch_env["DATABASE_URL"] = _worker_database_url()
        launch_env["HARKEN_VAR_DIR"] = str(settings.VAR_DIR)
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix")
        if prefix:
            launch_env["HARKEN_BROKER_PREFIX"] = prefix
        subprocess.run(
            [sys.executable, "manage.py", "synthesize", study.slug],
            cwd=ROOT,
            env=launch_env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        client = private_redis.client()
        wait_for(
            lambda: (
                Clip.objects.filter(system=first, status=Clip.Status.READY).exists()
                and _queued_messages(client, "synthesis") == 1
            ),
            timeout=120,
            interval=0.05,
            message="the first system running and the second's task queued",
        )
        private_redis.kill()
        private_redis.start()
        restarted_at = time.monotonic()
        assert _queued_messages(private_redis.client(), "synthesis") == 0  # the message is gone
        assert second.clips.filter(status=Clip.Status.PENDING).count() == n
        wait_until_synthesised(
            study,
            2 * n,
            timeout=240,
            message="every clip of both systems after the restart:\n" + worker.log_text()[-2000:],
        )
        print(f"\nevery clip ready {time.monotonic() - restarted_at:.1f} s after the restart")
    finally:
        worker.stop()
    assert clip_counts(study=study)["failed"] == 0
    assert Study.objects.get(pk=study.pk).status == Study.Status.READY


def test_enqueue_stamps_the_clips_in_the_transaction_and_sends_after_the_commit(
    transactional_db, monkeypatch
):
    study = espeak_study(n_sentences=2)
    system = study.systems.get()
    ids = sorted(system.clips.values_list("id", flat=True))
    sent = []

    class Sent:
        id = "task-1"

    def delay(system_id, clip_ids):
        # What a worker would find: the stamp is committed before the message exists.
        stamped = Clip.objects.filter(id__in=clip_ids, enqueued_at__isnull=False).count()
        sent.append((system_id, clip_ids, stamped))
        return Sent()

    monkeypatch.setattr(tasks.synthesize_clips, "delay", delay)
    with transaction.atomic():
        tasks.clips_enqueue(system=system, clip_ids=ids)
        assert sent == []
        assert system.clips.filter(enqueued_at__isnull=False).count() == 2
    assert sent == [(system.pk, ids, 2)]
    assert set(system.clips.values_list("task_id", flat=True)) == {"task-1"}


def test_a_broker_down_at_send_time_leaves_the_stamp_for_the_sweep(db, monkeypatch, settings):
    study = espeak_study(n_sentences=1)
    clip = clips_of(study).get()

    def down(*_args):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(tasks.synthesize_clips, "delay", down)
    tasks.clips_enqueue(system=clip.system, clip_ids=[clip.pk])  # logged, not raised
    Clip.objects.filter(pk=clip.pk).update(enqueued_at=_ago(settings.SYNTHESIS_RESEND_AFTER_S + 1))
    assert [ids for _, ids in clip_service.clips_sweep().requeue] == [[clip.pk]]
