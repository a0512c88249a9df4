"""docker-compose.yml agrees with the settings: no Docker engine runs here, so we read it."""

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_variables() -> set[str]:
    source = (ROOT / "mos_site" / "settings.py").read_text()
    return set(re.findall(r'env_(?:str|bool|int|float|list)\(\s*"([A-Z0-9_]+)"', source))


def test_the_production_services_exist(compose):
    assert {"postgres", "redis", "web", "worker", "worker-cpu"} <= set(compose["services"])


def test_every_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        assert "healthcheck" in service, f"{name} has no healthcheck"


def test_database_and_media_live_in_named_volumes(compose):
    assert {"pgdata", "media"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert any(v.startswith("media:") for v in compose["services"]["web"]["volumes"])


def test_app_environment_uses_only_variables_the_settings_read(compose):
    env = compose["services"]["web"]["environment"]
    known = settings_variables() | {"PROMETHEUS_MULTIPROC_DIR"}
    unknown = set(env) - known
    assert not unknown, f"compose sets variables settings.py never reads: {sorted(unknown)}"
    # What production needs is set.
    for required in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"):
        assert required in env
    assert env["DEBUG"] == "false"
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    assert env["LOG_FORMAT"] == "json"


def test_workers_and_web_share_one_environment(compose):
    services = compose["services"]
    assert services["worker"]["environment"] == services["web"]["environment"]
    assert services["worker-cpu"]["environment"] == services["web"]["environment"]


def test_web_migrates_then_serves_with_gunicorn(compose):
    command = " ".join(compose["services"]["web"]["command"].split())
    assert command.index("migrate --noinput") < command.index("gunicorn mos_site.wsgi")
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


def test_gpu_worker_takes_the_synthesis_queue_alone(compose):
    worker = compose["services"]["worker"]
    command = " ".join(worker["command"].split())
    assert "--queues synthesis " in command and "--concurrency 1" in command
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    routed = {
        route["queue"]
        for pattern, route in settings.CELERY_TASK_ROUTES.items()
        if pattern.startswith("synthesis.")
    }
    assert routed == {"synthesis"}


def test_cpu_worker_takes_the_default_queue(compose):
    command = " ".join(compose["services"]["worker-cpu"]["command"].split())
    queues = command.split("--queues ")[1].split()[0].split(",")
    assert settings.CELERY_TASK_DEFAULT_QUEUE in queues
    cpu_routed = {
        route["queue"]
        for pattern, route in settings.CELERY_TASK_ROUTES.items()
        if not pattern.startswith("synthesis.")
    }
    assert cpu_routed <= set(queues)
    assert "deploy" not in compose["services"]["worker-cpu"]


def test_env_example_defines_every_variable_compose_interpolates(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert interpolated <= example, f"missing from .env.example: {interpolated - example}"


def test_nginx_fronts_the_site_with_static_files_and_protected_audio(compose):
    services = compose["services"]
    nginx = services["nginx"]
    assert (
        "./deploy/nginx/harken.conf.template:/etc/nginx/templates/default.conf.template:ro"
        in nginx["volumes"]
    )
    assert "media:/data:ro" in nginx["volumes"]
    assert nginx["environment"]["HARKEN_UPSTREAM"] == "web:8000"
    assert nginx["environment"]["MEDIA_ROOT"] == services["web"]["environment"]["MEDIA_ROOT"]
    assert nginx["environment"]["STATIC_ROOT"] == services["web"]["environment"]["STATIC_ROOT"]
    # Only nginx is published; the site hands it the audio and names the client's address.
    assert "ports" not in services["web"] and nginx["ports"]
    assert services["web"]["environment"]["AUDIO_SENDFILE"].endswith("nginx}")
    assert services["web"]["environment"]["HARKEN_REAL_IP_HEADER"] == "HTTP_X_REAL_IP"
    assert "collectstatic" in services["web"]["command"]
