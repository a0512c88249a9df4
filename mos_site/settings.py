"""Harken's one settings module: every knob comes from the environment.

With nothing set, Harken runs "embedded": SQLite under ``var/``, Celery's filesystem broker under
``var/celery``, media under ``var/media`` and ``DEBUG`` on, so a fresh checkout just works. In
production set ``DEBUG=false``, ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` (PostgreSQL)
and ``CELERY_BROKER_URL`` (Redis); the code path is the same. README.md lists every variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def _env_number(name: str, default, kind: type, what: str):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not {what}.") from None


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- Paths ---------------------------------------------------------------------------------
# pytest (8.2+) sets PYTEST_VERSION for the whole session. Each test session gets its own
# var/test/run-PID, so it shares no broker folder, media or SQLite file with `make run` or with
# another test session; the workers it starts are handed the same folder explicitly.
TESTING = "PYTEST_VERSION" in os.environ
_default_var = BASE_DIR / "var" / "test" / f"run-{os.getpid()}" if TESTING else BASE_DIR / "var"
VAR_DIR = Path(env_str("HARKEN_VAR_DIR", str(_default_var))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core ----------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=false) needs a long random SECRET_KEY; "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    # Development: keep one generated key under var/ so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        # Created 0600 from the start: written first and chmod-ed after, it would be readable
        # by every local user for a moment (and for good if the chmod failed).
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(handle, "w") as stream:
                stream.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "listening",
    "synthesis",
    "observability",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "observability.middleware.RequestMetricsMiddleware",
    "mos_site.security.SecurityHeadersMiddleware",
    # Innermost: a view that cannot reach the database answers 503 + Retry-After (503.html).
    "mos_site.outage.DatabaseOutageMiddleware",
]
# Only the site's own files (mos_site.security); data: images for the browsers' own icons.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'",
)

ROOT_URLCONF = "mos_site.urls"
WSGI_APPLICATION = "mos_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
# Embedded default: SQLite under var/. Production and CI: DATABASE_URL=postgres://...
_default_db = f"sqlite:///{VAR_DIR / 'harken.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", _default_db)
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL I understand: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is shared by gunicorn and the worker: wait for locks instead of failing at once,
    # and let the test database be a file so a worker process can open it too.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_harken.sqlite3")}
    # The embedded database holds sessions and API tokens: readable by its owner only. SQLite
    # gives its -wal and -shm files the database file's mode, so creating it 0600 is enough.
    _sqlite = Path(str(DATABASES["default"]["NAME"]))
    if str(_sqlite) not in ("", ":memory:") and _sqlite.parent.is_dir():
        os.close(os.open(_sqlite, os.O_WRONLY | os.O_CREAT, 0o600))
        if _sqlite.stat().st_mode & 0o077 and _sqlite.stat().st_uid == os.getuid():
            _sqlite.chmod(0o600)
else:
    # PostgreSQL connections are reused, one of two ways (docs/operations.md, "Crowd scale"):
    # by default each worker thread keeps its own for CONN_MAX_AGE seconds (health-checked
    # before reuse); DATABASE_POOL=N gives each process a psycopg pool of at most N
    # connections shared by its threads instead. Django refuses the two together.
    DATABASE_POOL = env_int("DATABASE_POOL", 0)
    if DATABASE_POOL < 0:
        raise ImproperlyConfigured(
            f"DATABASE_POOL={DATABASE_POOL}: give the most connections a process may hold "
            "(for example 4), or 0 for persistent connections without a pool."
        )
    if env_str("GUNICORN_WORKER_CLASS") == "gevent" and not DATABASE_POOL:
        # Django keeps a connection per greenlet: a gevent worker would open one per request
        # in flight (up to GUNICORN_WORKER_CONNECTIONS) and exhaust max_connections.
        raise ImproperlyConfigured(
            "GUNICORN_WORKER_CLASS=gevent needs DATABASE_POOL=N (for example 4): without a "
            "pool every request in flight holds a PostgreSQL connection of its own."
        )
    if DATABASE_POOL:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL,
            # A request that finds every connection busy waits this long, then fails (503).
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
        }
    else:
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if TESTING:
        # One test database per test session, so sessions run side by side.
        DATABASES["default"]["TEST"] = {
            "NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ---------------------------------------------------------------------------------
# Counters every web process must share (the log-in throttle). Embedded default: files under
# var/cache (shared by the processes of one host). Production: CACHE_URL=redis://host:6379/1.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
elif CACHE_URL in ("", "file"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
elif CACHE_URL == "locmem":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(
        f"CACHE_URL={CACHE_URL!r} is not understood: use redis://host:port/db, 'file' or 'locmem'."
    )
FORMS_URLFIELD_ASSUME_HTTPS = True

# --- Auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Failed log-ins (mos_site.login): per username and address, and per address, over a window.
LOGIN_THROTTLE_FAILURES = env_int("LOGIN_THROTTLE_FAILURES", 5)
LOGIN_THROTTLE_ADDRESS_FAILURES = env_int("LOGIN_THROTTLE_ADDRESS_FAILURES", 30)
LOGIN_THROTTLE_WINDOW_S = env_int("LOGIN_THROTTLE_WINDOW_S", 15 * 60)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files and media ----------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

# STORAGE_BACKEND=local (default) keeps media under MEDIA_ROOT; STORAGE_BACKEND=s3 uses any
# S3-compatible service (AWS, MinIO) through django-storages. Clips are always served through
# Harken's own views (token checks, Range support), never from a public bucket URL.
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local").lower()
if STORAGE_BACKEND == "local":
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
elif STORAGE_BACKEND == "s3":
    _bucket = env_str("S3_BUCKET")
    if not _bucket:
        raise ImproperlyConfigured(
            "STORAGE_BACKEND=s3 needs S3_BUCKET (and usually S3_ENDPOINT_URL)."
        )
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,
        },
    }
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND={STORAGE_BACKEND!r}: use 'local' or 's3'.")

# How a clip's bytes leave once the listener view has said yes (the check always stays in
# Django; docs/architecture.md, "Serving audio"):
#   django     (default) Django streams the file itself, with Range and ETag (mos_site.http).
#   nginx      Django answers with X-Accel-Redirect: AUDIO_ACCEL_PREFIX + the file's name, and
#              nginx sends the bytes from that internal location (deploy/nginx.conf), Range
#              and conditional requests included. Local storage only.
#   signed-url a redirect to a URL of the S3-compatible store signed for AUDIO_SIGNED_URL_S
#              seconds (STORAGE_BACKEND=s3). The page's CSP must then allow the store in
#              media-src (CONTENT_SECURITY_POLICY).
AUDIO_SENDFILE = env_str("AUDIO_SENDFILE", "django").lower()
AUDIO_ACCEL_PREFIX = "/" + env_str("AUDIO_ACCEL_PREFIX", "/protected-media/").strip("/") + "/"
AUDIO_SIGNED_URL_S = env_int("AUDIO_SIGNED_URL_S", 300)
if AUDIO_SENDFILE not in ("django", "nginx", "signed-url"):
    raise ImproperlyConfigured(
        f"AUDIO_SENDFILE={AUDIO_SENDFILE!r}: use 'django' (default), 'nginx' (X-Accel-Redirect "
        "behind nginx) or 'signed-url' (S3)."
    )
if AUDIO_SENDFILE == "nginx" and STORAGE_BACKEND != "local":
    raise ImproperlyConfigured(
        "AUDIO_SENDFILE=nginx serves files from MEDIA_ROOT and needs STORAGE_BACKEND=local; "
        "with S3 use AUDIO_SENDFILE=signed-url."
    )
if AUDIO_SENDFILE == "signed-url" and STORAGE_BACKEND != "s3":
    raise ImproperlyConfigured(
        "AUDIO_SENDFILE=signed-url needs STORAGE_BACKEND=s3 (a store that signs URLs); with "
        "local files use 'django' or 'nginx'."
    )

STORAGES = {
    "default": _media_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "mos_site.static_storage.StaticStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Uploads -------------------------------------------------------------------------------
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 200)
MAX_SENTENCE_FILE_KB = env_int("MAX_SENTENCE_FILE_KB", 2048)
# Sentences in one study (pages and API alike); the preview shows them a page at a time.
MAX_SENTENCES = env_int("MAX_SENTENCES", 20000)
# ZIP uploads are checked before extraction (a "zip bomb" is refused, not unpacked).
MAX_ZIP_MEMBERS = env_int("MAX_ZIP_MEMBERS", 5000)
MAX_UNZIPPED_MB = env_int("MAX_UNZIPPED_MB", 2 * MAX_UPLOAD_MB)
MAX_CLIP_SECONDS = env_int("MAX_CLIP_SECONDS", 60)
# One recording, checked from its header before decoding: 60 s of 8 channels at 192 kHz is
# already 370 MB of float samples, so the header's frames, rate and channels are each capped.
MAX_AUDIO_FILE_MB = env_int("MAX_AUDIO_FILE_MB", 100)
MAX_UPLOAD_SAMPLE_RATE = env_int("MAX_UPLOAD_SAMPLE_RATE", 192000)
MAX_UPLOAD_CHANNELS = env_int("MAX_UPLOAD_CHANNELS", 8)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Listener joins --------------------------------------------------------------------------
# Joins (a consent that creates a listener) allowed per client address and study, and per
# study, as "count/seconds"; "0" turns a limit off. Counted in Django's cache: with several web
# processes configure a shared cache (Redis), or each process counts alone. Off by default in
# the test suite (tests that check the limits turn them on).
LISTENER_JOINS_PER_ADDRESS = env_str("HARKEN_JOINS_PER_ADDRESS", "0" if TESTING else "10/600")
# Behind the front server (deploy/nginx), the header nginx sets to the client's address, as
# Django names it: "HTTP_X_REAL_IP". Empty (the default): the connecting address counts.
# Only set it behind a proxy that overwrites the header, or clients choose their address.
REAL_IP_HEADER = env_str("HARKEN_REAL_IP_HEADER", "")
LISTENER_JOINS_PER_STUDY = env_str("HARKEN_JOINS_PER_STUDY", "0" if TESTING else "120/60")

# --- Celery --------------------------------------------------------------------------------
# Embedded default: the filesystem broker under var/celery needs no server. Production and CI:
# CELERY_BROKER_URL=redis://...
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost//")
CELERY_FILESYSTEM_DIR = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("out", "processed", "control"):
        (CELERY_FILESYSTEM_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "out"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "out"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "store_processed": False,
        # Broadcast/remote-control state; kombu's default is ./control in the working directory.
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
    }
else:
    # A task whose worker died is delivered again after this long (acks_late tasks).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    }
    if TESTING:
        # Test sessions sharing one Redis must not take each other's tasks; the workers a
        # session starts are handed the same prefix.
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env_str(
            "HARKEN_BROKER_PREFIX", f"test-{os.getpid()}:"
        )
# Task state lives in the database rows the tasks update, not in a result backend.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False  # per task: only idempotent tasks set acks_late=True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# synthesis: GPU workers. metrics: CPU workers (objective metrics, reports). Everything else
# (bookkeeping) goes to the default queue, also served by the CPU workers. Task names are the
# wire contract between the web and the workers, which may run different releases during a
# deploy: they keep the names they had before the code moved into its rooms (each task says
# its name where it is defined; docs/architecture.md lists them).
CELERY_TASK_ROUTES = {
    "synthesis.tasks.*": {"queue": "synthesis"},
    "listening.tasks_metrics.*": {"queue": "metrics"},
    "listening.tasks_reports.*": {"queue": "metrics"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# Time limits of every task, read here only. Soft: the task is told (SoftTimeLimitExceeded) and
# fails its unfinished work with a message; hard: the pool process is killed. The defaults are
# the synthesis batch's (the longest task); tasks that never need that long are named below.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1800)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1900)
CELERY_TASK_ANNOTATIONS = {
    # MNRU of a batch takes milliseconds per clip.
    "synthesis.tasks.derive_anchor_clips": {"soft_time_limit": 600, "time_limit": 660},
    # A few queries.
    "harken.sweep_clips": {"soft_time_limit": 60, "time_limit": 90},
    # 1M ratings take about 10 s (benchmarks/report.py); reading them from the database more.
    "listening.tasks_reports.build_study_report": {"soft_time_limit": 900, "time_limit": 960},
    # 8 clips with WORLD's Harvest: about 10 s.
    "listening.tasks_metrics.compute_clips_objective": {"soft_time_limit": 600, "time_limit": 660},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Keep Django's logging (JSON lines in production) in the workers too; Celery would otherwise
# replace the root handler and drop the structured fields passed with extra=.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Synthesis -----------------------------------------------------------------------------
# Where workers cache checkpoints fetched by URL (verified by sha256).
CHECKPOINT_CACHE_DIR = Path(env_str("CHECKPOINT_CACHE_DIR", str(VAR_DIR / "checkpoints")))
SYNTHESIS_DEVICE = env_str("SYNTHESIS_DEVICE", "auto")  # auto | cpu | cuda
SYNTHESIS_THREADS = env_int("SYNTHESIS_THREADS", 0)  # 0: torch's default
# Self-healing (synthesis/clips.py, docs/architecture.md "Leases and the sweep"). A worker that
# claims clips holds a lease of SYNTHESIS_LEASE_S seconds, renewed every third of it while it
# works; the sweep runs every SYNTHESIS_SWEEP_S seconds (Celery beat) and queues again the
# clips whose lease ran out, so a clip stays "running" at most LEASE + SWEEP seconds after its
# worker dies. A pending clip whose task was sent more than SYNTHESIS_RESEND_AFTER_S ago and
# that no worker took (a broker that lost the message) is sent again. A clip whose worker died
# SYNTHESIS_MAX_LEASE_EXPIRIES times fails instead of looping. The researcher's page calls
# synthesis stalled when pending clips have waited SYNTHESIS_STALLED_AFTER_S with nothing
# running.
SYNTHESIS_LEASE_S = env_int("SYNTHESIS_LEASE_S", 60)
SYNTHESIS_SWEEP_S = env_int("SYNTHESIS_SWEEP_S", 30)
SYNTHESIS_RESEND_AFTER_S = env_int("SYNTHESIS_RESEND_AFTER_S", 300)
SYNTHESIS_MAX_LEASE_EXPIRIES = env_int("SYNTHESIS_MAX_LEASE_EXPIRIES", 3)
SYNTHESIS_STALLED_AFTER_S = env_int("SYNTHESIS_STALLED_AFTER_S", 120)
# Beat runs embedded in the `make run` worker (-B) and as its own service in docker-compose.
CELERY_BEAT_SCHEDULE = {
    "synthesis-sweep": {
        # Named outside "synthesis.": bookkeeping on the default queue, so it never waits
        # behind a synthesis batch, and runs while the GPU worker is the one that died.
        "task": "harken.sweep_clips",
        "schedule": float(SYNTHESIS_SWEEP_S),
        # A sweep not run within its interval is replaced by the next one, not piled up.
        "options": {"expires": float(SYNTHESIS_SWEEP_S)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A voice is checked when a researcher chooses it (synthesis.availability): its worker paths on
# this machine's file system (false where workers keep files the web cannot see), and whether
# torchaudio may fetch a bundle's weights when they are not in torch's hub cache.
VOICE_PATHS_ON_WEB = env_bool("VOICE_PATHS_ON_WEB", True)
TORCH_BUNDLES_FETCHABLE = env_bool("TORCH_BUNDLES_FETCHABLE", False)
LOUDNESS_TARGET_LUFS = env_float("LOUDNESS_TARGET_LUFS", -26.0)

# --- Objective metrics and reports ---------------------------------------------------------
# F0 tracker for the objective metrics: WORLD's harvest (accurate, ~0.5 s per clip) or dio.
OBJECTIVE_F0_METHOD = env_str("OBJECTIVE_F0_METHOD", "harvest")
# Reports with up to this many counted ratings are built inside the request; larger ones run
# as a Celery task whose progress the page shows.
REPORT_INLINE_MAX_RATINGS = env_int("REPORT_INLINE_MAX_RATINGS", 20000)

# --- Metrics -------------------------------------------------------------------------------
# /metrics is open to requests from METRICS_ALLOWED_IPS, or to any request carrying
# "Authorization: Bearer $METRICS_TOKEN". In production (DEBUG=false) no address is trusted
# unless METRICS_ALLOWED_IPS says so: a reverse proxy on the same host makes every visitor
# come from 127.0.0.1, so a loopback default would publish the metrics.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"] if DEBUG else [])
# Each Celery worker serves its own /metrics on this port (same guard); empty: 9101 when
# PROMETHEUS_MULTIPROC_DIR is set, else off; 0: off.
METRICS_PORT = env_str("METRICS_PORT", "")

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["listening.api.permissions.IsResearcher"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Harken API",
    "DESCRIPTION": "Create MOS listening studies, synthesise, open tests and fetch reports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Security ------------------------------------------------------------------------------
# Production defaults follow `manage.py check --deploy`; behind a TLS-terminating proxy set
# SECURE_PROXY_SSL_HEADER=true.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600)

# --- Logging -------------------------------------------------------------------------------
# LOG_FORMAT=json writes one JSON object per line (production default); LOG_FORMAT=text writes
# readable lines (development default).
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json").lower()
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use 'json' or 'text'.")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "mos_site.logs.JsonFormatter"},
        "text": {"()": "mos_site.logs.TextFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}
