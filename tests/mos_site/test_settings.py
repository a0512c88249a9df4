"""One settings module, every knob from the environment; embedded default with nothing set."""

from pathlib import Path

from tests.conftest import site_probe, site_process

PROBE = """
import json
from django.conf import settings
import django
django.setup()
from mos_site.celery import app
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "broker": app.conf.broker_url,
    "media": str(settings.MEDIA_ROOT),
    "var": str(settings.VAR_DIR),
    "debug": settings.DEBUG,
    "log_format": settings.LOG_FORMAT,
    "storage": settings.STORAGES["default"]["BACKEND"],
}))
"""


def probe(env: dict[str, str], tmp_path: Path) -> dict:
    return site_probe(PROBE, tmp_path, env)[0]


def test_nothing_set_means_sqlite_filesystem_broker_and_local_media(tmp_path):
    got = probe({}, tmp_path)
    assert got["engine"] == "django.db.backends.sqlite3"
    assert got["db_name"] == str(tmp_path / "harken.sqlite3")
    assert got["broker"].startswith("filesystem://")
    assert got["media"] == str(tmp_path / "media")
    assert got["debug"] is True
    assert got["log_format"] == "text"
    assert got["storage"] == "django.core.files.storage.FileSystemStorage"


def test_postgres_and_redis_urls_switch_the_backends(tmp_path):
    got = probe(
        {
            "DATABASE_URL": "postgres://u:p@db.example:5432/harken",
            "CELERY_BROKER_URL": "redis://cache.example:6379/0",
        },
        tmp_path,
    )
    assert got["engine"] == "django.db.backends.postgresql"
    assert got["db_name"] == "harken"
    assert got["broker"] == "redis://cache.example:6379/0"


def test_s3_storage_and_json_logs_in_production(tmp_path):
    got = probe(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 60,
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "harken-media",
            "S3_ENDPOINT_URL": "http://minio:9000",
        },
        tmp_path,
    )
    assert got["storage"] == "storages.backends.s3.S3Storage"
    assert got["log_format"] == "json"
    assert got["debug"] is False


def run_manage(args: list[str], env: dict[str, str], tmp_path: Path):
    return site_process(["manage.py", *args], tmp_path, env)


def test_production_without_secret_key_names_the_fix(tmp_path):
    out = run_manage(["check"], {"DEBUG": "false"}, tmp_path)
    assert out.returncode != 0
    assert "SECRET_KEY is not set" in out.stderr
    assert "secrets.token_urlsafe" in out.stderr


def test_bad_boolean_is_refused_by_name(tmp_path):
    out = run_manage(["check"], {"DEBUG": "maybe"}, tmp_path)
    assert out.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in out.stderr


def test_check_deploy_passes_with_production_variables(tmp_path):
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
        "ALLOWED_HOSTS": "harken.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    }
    out = run_manage(["check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_migrations_match_the_models(tmp_path):
    out = run_manage(["makemigrations", "--check", "--dry-run"], {}, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No changes detected" in out.stdout
