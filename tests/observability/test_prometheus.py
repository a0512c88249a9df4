"""/metrics for Prometheus: who may read it, what real work moves, what it computes at scrape
time, how it behaves when the database or broker is away, and the monitoring deployment files.

Multi-process mode: prometheus_client chooses it when first imported, which in this pytest
process happened long before any test ran. Tests that scrape samples written by other processes
(a real Celery worker) therefore switch this process over with
``observability.metrics.multiprocess_dir`` (the ``multiproc`` fixture) and hand the same folder to
the worker subprocess in its environment, before it starts.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
import yaml
from django.db import connection
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from listening.analysis.reports import log_report_build
from listening.models import Clip, Listener, Rating
from listening.studies.launch import study_start_synthesis
from mos_site.celery import app
from observability import exposition, metrics
from observability import worker as worker_endpoint
from tests.conftest import ROOT, purge_broker, start_worker, wait_for
from tests.factories import (
    clips_of,
    espeak_study,
    join,
    open_study,
    rate_everything,
    rating_listener,
)

TOKEN = "test-metrics-token"


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def scrape(client: Client | None = None, **extra) -> dict[tuple[str, frozenset], float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    return parse(response.content.decode())


def value(samples: dict, name: str, **labels) -> float:
    """A sample's value; 0 when the series does not exist yet (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def families(samples: dict) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture
def multiproc(tmp_path):
    with metrics.multiprocess_dir(tmp_path / "prometheus") as folder:
        yield folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Who may read it ---------------------------------------------------------------------------


def test_a_public_address_needs_the_token(db, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 403  # no scheme
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"# TYPE harken_request_seconds histogram" in response.content


def test_an_allowed_network_needs_no_token(db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="10.20.30.40").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    # An empty token never matches, whatever the header says.
    refused = Client(REMOTE_ADDR="192.0.2.1").get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert refused.status_code == 403


# --- Real work moves the counters --------------------------------------------------------------


def test_ratings_counter_moves_by_the_test_ratings_listeners_submit(transactional_db, multiproc):
    study = open_study(slug="prom-ratings", n_sentences=4, clips_per_listener=4)
    before = scrape()
    listener = rating_listener(study)
    rate_everything(listener)  # through listening.participation.ratings.rating_submit
    after = scrape()

    test_ratings = Rating.objects.filter(listener=listener, purpose="test").count()
    assert test_ratings == 4
    # Training and attention-check ratings are stored too, but are no test ratings.
    assert Rating.objects.filter(listener=listener).count() > test_ratings
    moved = value(after, "harken_ratings_submitted_total", study=study.slug) - value(
        before, "harken_ratings_submitted_total", study=study.slug
    )
    assert moved == test_ratings


@pytest.mark.worker
def test_a_real_worker_synthesis_moves_the_synthesis_counters(
    transactional_db, multiproc, tmp_path, monkeypatch, settings
):
    """A worker subprocess writes to the shared folder; /metrics here and the worker's own
    endpoint both show its samples; the study turning ready queues its objective metrics."""
    settings.OBJECTIVE_F0_METHOD = "dio"
    monkeypatch.setenv("OBJECTIVE_F0_METHOD", "dio")
    port = free_port()
    purge_broker()
    worker = start_worker(
        tmp_path / "worker.log",
        env={
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            "METRICS_PORT": str(port),
            "METRICS_TOKEN": TOKEN,
            # Loopback is not allowed: the worker endpoint must ask for the token.
            "METRICS_ALLOWED_IPS": "192.0.2.1",
        },
    )
    try:
        before = scrape()
        study = espeak_study(slug="prom-synth", n_sentences=3)
        assert study_start_synthesis(study=study) == 3

        wait_for(
            lambda: clips_of(study).filter(status=Clip.Status.READY).count() == 3,
            timeout=120,
            message="three eSpeak clips",
        )
        # Nothing here queues the metrics: the study turning ready must have done it.
        wait_for(
            lambda: all(c.objective.get("key") for c in clips_of(study)),
            timeout=120,
            message="the objective metrics the ready study queued",
        )
        after = scrape()
        worker_url = f"http://127.0.0.1:{port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(worker_url, timeout=10)
        request = urllib.request.Request(worker_url, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            from_worker = parse(response.read().decode())
    finally:
        worker.stop()
    assert refused.value.code == 403

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    espeak = {"voice": "espeak-test", "device": "cpu"}
    assert moved("harken_synthesis_seconds_count", **espeak) == 3
    assert moved("harken_synthesis_real_time_factor_count", **espeak) == 3
    assert moved("harken_worker_model_cache_total", result="miss") == 1  # one load per process
    assert moved("harken_worker_model_cache_total", result="hit") == 0
    assert moved("harken_objective_clips_total", result="computed") == 3
    assert moved("harken_objective_seconds_count", kind="without_reference") == 3
    assert moved("harken_clips", state="ready") == 3
    assert moved("harken_clips", state="pending") == 0
    assert value(after, "harken_queue_depth", queue="synthesis") == 0
    assert value(after, "harken_database_up") == 1 and value(after, "harken_broker_up") == 1
    # The worker's endpoint: the same process samples, no scrape-time site families.
    assert value(from_worker, "harken_synthesis_seconds_count", **espeak) == 3
    assert value(from_worker, "harken_objective_clips_total", result="computed") == 3
    assert "harken_clips" not in families(from_worker)
    # The worker logs through Django's LOGGING (text format here): the batch line keeps its
    # structured fields instead of Celery's format dropping them.
    batch = next(line for line in worker.log_text().splitlines() if "synthesis batch" in line)
    assert f"study_id={study.pk}" in batch and "device=cpu" in batch and "ready=3" in batch


# --- Computed at scrape time -------------------------------------------------------------------


def test_listeners_active_counts_those_seen_recently(db):
    study = open_study(slug="prom-listeners")
    before = value(scrape(), "harken_listeners_active")
    listeners = [join(study, external_id=f"P{i}") for i in range(3)]
    # One of them was last seen just outside the window.
    away = timedelta(minutes=exposition.ACTIVE_LISTENER_MINUTES, seconds=5)
    Listener.objects.filter(pk=listeners[0].pk).update(
        last_seen_at=listeners[0].last_seen_at - away
    )
    assert value(scrape(), "harken_listeners_active") - before == 2


def test_clips_by_state_are_counted_at_scrape_time(db):
    before = scrape()
    study = espeak_study(slug="prom-clips", n_sentences=4)  # four pending clips
    ids = list(clips_of(study).values_list("id", flat=True))
    Clip.objects.filter(pk=ids[0]).update(status=Clip.Status.RUNNING)
    Clip.objects.filter(pk=ids[1]).update(status=Clip.Status.FAILED)
    after = scrape()
    moved = {
        state: value(after, "harken_clips", state=state)
        - value(before, "harken_clips", state=state)
        for state in Clip.Status.values
    }
    assert moved == {"pending": 2, "running": 1, "ready": 0, "failed": 1}


def test_queue_depth_counts_messages_waiting_in_each_queue(db, settings):
    # A queue of our own, which no worker (of this or a parallel test session) consumes.
    queue = f"depth{uuid.uuid4().hex[:10]}"
    settings.CELERY_TASK_ROUTES = {**settings.CELERY_TASK_ROUTES, "x.never": {"queue": queue}}
    assert value(scrape(), "harken_queue_depth", queue=queue) == 0
    try:
        for _ in range(3):
            app.send_task("harken.test.never_runs", queue=queue)
        samples = scrape()
        assert value(samples, "harken_queue_depth", queue=queue) == 3
        for known in ("default", "synthesis", "metrics"):
            assert ("harken_queue_depth", frozenset({("queue", known)})) in samples
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)


def test_an_unreachable_database_turns_database_up_to_zero(transactional_db):
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-harken-dir/db.sqlite3"
    else:
        settings_dict["PORT"] = str(free_port())  # nothing listens there
    try:
        samples = scrape()
    finally:
        connection.close()
        settings_dict.clear()
        settings_dict.update(saved)
    assert value(samples, "harken_database_up") == 0
    assert "harken_clips" not in families(samples)
    assert "harken_listeners_active" not in families(samples)
    assert value(samples, "harken_broker_up") == 1  # the rest is still served
    assert Clip.objects.count() >= 0  # the connection works again for the teardown


def test_an_unreachable_broker_turns_broker_up_to_zero(db, settings):
    if settings.CELERY_BROKER_URL.startswith("redis"):
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    else:
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
            **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            "data_folder_in": "/nonexistent-harken-dir/out",
        }
    samples = scrape()
    assert value(samples, "harken_broker_up") == 0
    assert "harken_queue_depth" not in families(samples)
    assert value(samples, "harken_database_up") == 1


# --- Structured lines and the worker endpoint's settings ---------------------------------------


def test_report_build_is_logged_with_its_fields_and_timed(caplog):
    labels = {"result": "ready"}
    before = REGISTRY.get_sample_value("harken_report_build_seconds_count", labels) or 0
    with caplog.at_level(logging.INFO, logger="harken.reports"):
        log_report_build("demo", 1.2345, 40, n_listeners=5, n_systems=3, report_id=7)
    record = next(r for r in caplog.records if r.getMessage().startswith("report build:"))
    assert record.getMessage() == "report build: study demo, 40 ratings, 1.234 s, ready"
    assert (record.study, record.ratings, record.listeners, record.systems) == ("demo", 40, 5, 3)
    assert (record.report, record.seconds, record.device) == (7, 1.234, "cpu")
    assert REGISTRY.get_sample_value("harken_report_build_seconds_count", labels) == before + 1


def test_worker_metrics_port_follows_the_setting(monkeypatch, settings):
    settings.METRICS_PORT = ""
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    assert worker_endpoint.worker_metrics_port() == 0  # no shared folder: nothing worth serving
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "/tmp/anywhere")
    assert worker_endpoint.worker_metrics_port() == worker_endpoint.DEFAULT_WORKER_METRICS_PORT
    settings.METRICS_PORT = "0"
    assert worker_endpoint.worker_metrics_port() == 0
    settings.METRICS_PORT = "nine"
    with pytest.raises(ValueError, match="METRICS_PORT='nine' is not a port number"):
        worker_endpoint.worker_metrics_port()


# --- Deployment: compose's Prometheus, its configuration, the dashboard -----------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def prometheus_config() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())


def test_prometheus_is_an_optional_service(compose):
    services = compose["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "healthcheck" in prometheus
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "metrics_token" in prometheus["secrets"]
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    # Everything else starts without the profile, as before.
    assert [name for name, s in services.items() if "profiles" in s] == ["prometheus"]


def test_prometheus_scrapes_the_web_and_every_worker(compose, prometheus_config):
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    web = jobs["harken-web"]
    assert web["metrics_path"] == "/metrics"
    assert web["static_configs"][0]["targets"] == ["web:8000"]
    workers = jobs["harken-workers"]
    discovery = workers["dns_sd_configs"][0]
    assert set(discovery["names"]) == {"worker", "worker-cpu"} <= set(compose["services"])
    assert discovery["port"] == worker_endpoint.DEFAULT_WORKER_METRICS_PORT
    for job in (web, workers):
        assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    # The workers serve on the default port because compose gives them the shared folder.
    for name in ("worker", "worker-cpu"):
        environment = compose["services"][name]["environment"]
        assert environment.get("PROMETHEUS_MULTIPROC_DIR") and "METRICS_PORT" not in environment


def test_the_dashboard_has_a_panel_for_every_harken_metric(db):
    response = Client().get("/metrics")
    exposed = {
        line.split()[2]
        for line in response.content.decode().splitlines()
        # _created: the creation-time gauges a single process adds; not a metric of ours.
        if line.startswith("# TYPE harken_") and not line.split()[2].endswith("_created")
    }
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    assert {"harken_listeners_active", "harken_clips", "harken_queue_depth"} <= exposed
    assert {"harken_synthesis_seconds", "harken_gpu_memory_bytes"} <= exposed
    missing = sorted(name for name in exposed if name not in exprs)
    assert not missing, f"no dashboard panel shows {missing}"
