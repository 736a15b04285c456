"""evalsite settings: everything comes from environment variables with safe defaults.

The embedded default is SQLite (WAL) plus django-q2's ORM broker, so one command runs the
whole product on a laptop. Production sets DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from evalsite.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("EVALSITE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
DATABASE_URL = env_str("DATABASE_URL", "")
USING_EMBEDDED_DB = DATABASE_URL == ""


def _secret_key() -> str:
    key = env_str("SECRET_KEY", "")
    if key:
        return key
    if not (DEBUG or USING_EMBEDDED_DB):
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off and DATABASE_URL points at a shared "
            "database. (Only the embedded local set-up generates one into var/.)"
        )
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL", False) else None
)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SESSION_COOKIE_SECURE)
# Behind TLS: redirect plain HTTP and send HSTS (see the README's production notes).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "projects",
    "datasets",
    "workflows",
    "metrics",
    "runs",
    "traces",
    "webhooks",
    # After ``projects``, whose ``qcluster`` command (a sweep, then django-q2's) shadows it.
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A request id for every response; JSON (not HTML) 404/405/500 under /v1 and /v2/gen-ai.
    "evalsite.errors.ApiErrorMiddleware",
    # Oversized API bodies and NUL characters in query parameters: a 400 before anything else.
    "evalsite.request_guard.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view says @login_not_required (DRF views
    # authenticate themselves and are exempt).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "evalsite.urls"
WSGI_APPLICATION = "evalsite.wsgi.application"
ASGI_APPLICATION = "evalsite.asgi.application"

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
                "projects.context_processors.current_project",
            ],
        },
    }
]


def _database() -> dict:
    if USING_EMBEDDED_DB:
        sqlite_path = Path(env_str("EVALSITE_SQLITE_PATH", str(VAR_DIR / "evalsite.sqlite3")))
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            # Web server and workers share one file: WAL lets readers run beside one writer,
            # IMMEDIATE takes the write lock up front and the busy timeout waits for it.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("SQLITE_BUSY_TIMEOUT", 30),
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    f"PRAGMA cache_size=-{env_int('EVALSITE_SQLITE_CACHE_MB', 64) * 1000};"
                    "PRAGMA temp_store=MEMORY;"
                ),
            },
            "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    db = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
if env_bool("EVALSITE_FAST_PASSWORD_HASHER", False):
    # Test runs only (set by scripts/test): PBKDF2's deliberate slowness would dominate them.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The first handler enforces the upload limit while the body streams in (evalsite/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "evalsite.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
EVALSITE_JSON_MAX_DEPTH = env_int("EVALSITE_JSON_MAX_DEPTH", 128)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "projects.auth.BearerKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "evalsite.safe_json.SafeJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "evalsite.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "evalsite API",
    "DESCRIPTION": (
        "Evaluation runs for LLM agents and workflows. Two dialects: Dynamiq-style under "
        "/v1/ and DigitalOcean Gradient-style under /v2/gen-ai/. "
        "Authenticate with `Authorization: Bearer <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from the installed sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

REDIS_URL = env_str("REDIS_URL", "")
Q_TIMEOUT = env_int("Q_TIMEOUT", 600)
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "evalsite"),
    "workers": env_int("Q_WORKERS", 2),
    # A task that outlives `retry` is handed out again, so retry must exceed timeout
    # by a wide margin (1.5x) or long drainers would run twice.
    "timeout": Q_TIMEOUT,
    "retry": int(Q_TIMEOUT * 1.5) + 30,
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3),
    "ack_failures": True,
    "recycle": env_int("Q_RECYCLE", 500),
    "max_rss": env_int("Q_MAX_RSS_KB", 500_000),
    "save_limit": env_int("Q_SAVE_LIMIT", 1000),
    "queue_limit": env_int("Q_QUEUE_LIMIT", 50),
    "bulk": env_int("Q_BULK", 10),
    "poll": 0.2,
    "catch_up": False,
    "label": "Django Q2",
    "compress": False,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"scrub_secrets": {"()": "evalsite.outbound.secrets.ScrubSecretsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["scrub_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Outbound calls (workflows, LLM judges, "Try it") go through evalsite.outbound, which checks
# every connection's address; loopback and private ranges are refused unless allowed here
# (scripts/run allows the loopback port of the bundled demo agent only, i.e. this server's;
# scripts/test all of loopback, for the fake servers).
EVALSITE_ALLOW_LOOPBACK = env_bool("EVALSITE_ALLOW_LOOPBACK", False)
try:
    EVALSITE_ALLOW_LOOPBACK_PORTS = [int(p) for p in env_list("EVALSITE_ALLOW_LOOPBACK_PORTS")]
except ValueError as exc:
    raise ImproperlyConfigured(
        "EVALSITE_ALLOW_LOOPBACK_PORTS must be comma-separated port numbers, e.g. 8000"
    ) from exc
EVALSITE_ALLOW_PRIVATE_NETWORKS = env_bool("EVALSITE_ALLOW_PRIVATE_NETWORKS", False)
# {"env": NAME} secret references may only name variables with one of these prefixes.
EVALSITE_SECRET_ENV_PREFIXES = env_list("EVALSITE_SECRET_ENV_PREFIXES", ["EVALSITE_SECRET_"])
# Fernet key(s) for stored secrets, comma-separated (the first encrypts, all decrypt). Required
# in production; only the embedded local set-up or DEBUG may derive it from SECRET_KEY.
EVALSITE_ENCRYPTION_KEY = env_str("EVALSITE_ENCRYPTION_KEY", "")
if not EVALSITE_ENCRYPTION_KEY and not (DEBUG or USING_EMBEDDED_DB):
    raise ImproperlyConfigured(
        "EVALSITE_ENCRYPTION_KEY must be set when DEBUG is off and DATABASE_URL is set: it "
        "encrypts stored agent and judge secrets and must not be derived from SECRET_KEY. "
        'Generate one with: python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"'
    )
# "Try it" (workflows and metrics, UI and API): per-user limits and a short timeout.
EVALSITE_TRY_RATE_LIMIT = env_str("EVALSITE_TRY_RATE_LIMIT", "10/60")
EVALSITE_TRY_MAX_ACTIVE = env_int("EVALSITE_TRY_MAX_ACTIVE", 2)
EVALSITE_TRY_TIMEOUT_S = float(env_str("EVALSITE_TRY_TIMEOUT_S", "10") or 10)
# Dotted paths of Python callables allowed as `python` workflows and custom metrics.
EVALSITE_PYTHON_WORKFLOWS = env_list(
    "EVALSITE_PYTHON_WORKFLOWS", ["workflows.demo_agent.answer_question"]
)
EVALSITE_CUSTOM_METRICS = env_list("EVALSITE_CUSTOM_METRICS", [])
# Webhook deliveries: attempts per event, the first retry's delay (doubling each time, at
# most an hour; django-q2's scheduler fires them within ~30 s of their time), request timeout.
EVALSITE_WEBHOOK_MAX_ATTEMPTS = env_int("EVALSITE_WEBHOOK_MAX_ATTEMPTS", 5)
EVALSITE_WEBHOOK_BACKOFF_SECONDS = env_int("EVALSITE_WEBHOOK_BACKOFF_SECONDS", 30)
EVALSITE_WEBHOOK_TIMEOUT_SECONDS = env_int("EVALSITE_WEBHOOK_TIMEOUT_SECONDS", 10)
