"""Settings for the LMS, read from the environment (django-environ).

Every setting here has a line in the README's settings table. Defaults are
for development: SQLite, a local-memory cache and the local DCS emulator.
"""

import os
import re
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from media_proxy import timeouts

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# LMS_TESTING marks the servers a test run starts (they use its test database).
TESTING = (
    env.bool("LMS_TESTING", default=False)
    or "pytest" in sys.modules
    or (len(sys.argv) > 1 and sys.argv[1] == "test")
)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "books",
    "media_proxy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the page's switch (cookie), else the browser's, else LANGUAGE_CODE.
    "books.middleware.SiteLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lms.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lms.urls"

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
                "lms.context_processors.accounts",
            ],
        },
    },
]

WSGI_APPLICATION = "lms.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the test process and a gunicorn worker share one file safely.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    # A file, not memory: the servers a test run starts read the same database.
    # One per test process, so concurrent runs never share one.
    DATABASES["default"]["TEST"] = {
        "NAME": str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")
    }
# PostgreSQL under gevent (deploy/gunicorn.conf.py sets 20): a pool of at most this many
# connections per process (Django's psycopg pool), where threads would each keep one;
# a pool needs CONN_MAX_AGE=0. 0: no pool. SQLite ignores it.
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=0)
# PostgreSQL: values bound on the server and statements prepared on a connection's 5th
# use (psycopg's threshold), so the access statement is planned once per connection,
# not per request: half the database's CPU per media request (docs/benchmarks.md).
# Off behind a pooler that cannot keep prepared statements (PgBouncer in transaction
# mode before 1.21).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "lms.postgresql"  # Django's, its pool checked cheaply
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    if DATABASE_PREPARED_STATEMENTS:
        _options.setdefault("server_side_binding", True)
        _options.setdefault("prepare_threshold", 5)
    if DATABASE_POOL_SIZE:
        _options.setdefault("pool", {"min_size": 2, "max_size": DATABASE_POOL_SIZE, "timeout": 10})
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # The pool's check without its round trip (lms/postgresql/base.py).
        DATABASES["default"]["POOL_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
# Persistent connections: opening one per request cost half a millisecond of CPU per
# request (docs/benchmarks.md). Each gthread thread keeps its own, so a node holds up
# to workers x threads connections (docs/deployment.md sizes PostgreSQL for it). The
# health check finds a connection the server dropped (a restart, an idle timeout)
# before a request uses it, and reconnects.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=300))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://lms")}
# lms.cache: Django's backends, plus one Redis client per process and atomic counters
# (throttle, stream slots) in one round trip that an evicting store never drops.
CACHES["default"]["BACKEND"] = {
    "django.core.cache.backends.redis.RedisCache": "lms.cache.RedisCache",
    "django.core.cache.backends.locmem.LocMemCache": "lms.cache.LocMemCache",
}.get(CACHES["default"]["BACKEND"], CACHES["default"]["BACKEND"])
if CACHES["default"]["BACKEND"] == "lms.cache.LocMemCache":
    # Django's default (300) evicts object metadata with a few hundred users.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault(
        "MAX_ENTRIES", env.int("CACHE_MAX_ENTRIES", default=20_000)
    )
if CACHES["default"]["BACKEND"] == "lms.cache.RedisCache":
    # redis-py fails a command past its pool's 100 connections; a gevent worker runs
    # more requests at once than that. Wait for a free connection instead (a few ms).
    CACHES["default"].setdefault("OPTIONS", {}).setdefault(
        "pool_class", "redis.BlockingConnectionPool"
    )
    CACHES["default"]["OPTIONS"].setdefault(
        "max_connections", env.int("CACHE_MAX_CONNECTIONS", default=100)
    )
    # A hung Redis must not hang requests: past this, lms.cache answers without it.
    for _option in ("socket_connect_timeout", "socket_timeout"):
        CACHES["default"]["OPTIONS"].setdefault(
            _option, env.float("CACHE_SOCKET_TIMEOUT", default=1.0)
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Django's session store and ModelBackend, each read by one raw statement (lms/auth.py).
SESSION_ENGINE = "lms.auth"
AUTHENTICATION_BACKENDS = ["lms.auth.ModelBackend"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/books/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Email, for password reset only. It is on only when mail can go out: EMAIL_URL
# (django-environ: smtp+tls://user:password@mail.example.org:587; `make run` prints
# mail on the console). Without it the reset pages answer 404 and the sign-in page
# links to none: nobody is told a mail was sent that never left.
EMAIL_URL = env.str("EMAIL_URL", default="consolemail://" if DEBUG else "")
if EMAIL_URL:
    globals().update(
        {
            name: value
            for name, value in environ.Env.email_url_config(EMAIL_URL).items()
            if value is not None
        }
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
PASSWORD_RESET_ENABLED = bool(EMAIL_URL)

# The site's language: pages for a browser that asks for none of LANGUAGES, and the
# language of a subtitle file without a language part (`lesson-1.vtt`).
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("tr", "Türkçe")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")


def throttle_rate(name: str, default: str) -> str | None:
    """A DRF rate such as "1200/min"; "off" turns the throttle off. Anything else stops
    the LMS at startup, where DRF would answer every throttled request with a 500."""
    value = env.str(name, default=default).strip()
    if value.lower() == "off":
        return None
    if not re.fullmatch(r"\d+/[smhd][a-z]*", value):
        raise ImproperlyConfigured(f"{name} must be a rate such as 1200/min, or off: {value!r}")
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "media_proxy.authentication.BearerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # JSON for API clients and media elements; a tab opening a media URL gets pages.
    "EXCEPTION_HANDLER": "media_proxy.exception_handler.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "media": throttle_rate("MEDIA_THROTTLE_RATE", "1200/min"),
        "auth": throttle_rate("AUTH_THROTTLE_RATE", "20/min"),
    },
}

# Production hardening; `manage.py check --deploy` is clean when DEBUG is off
# and the site is served over HTTPS behind a proxy that sets X-Forwarded-Proto.
# The shipped nginx always sets X-Forwarded-Proto and X-Forwarded-For, replacing a
# client's: its own at the edge (TLS at nginx, or plain HTTP), the load balancer's
# with BEHIND_LOAD_BALANCER=yes (render it with the same value). Trusting them is
# safe while only nginx reaches gunicorn (docs/deployment.md#tls-and-proxies).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
BEHIND_LOAD_BALANCER = env.bool("BEHIND_LOAD_BALANCER", default=False)
# The client's address for the throttles: X-Forwarded-For's last entry (nginx's
# $remote_addr), or the one before it (what the load balancer appended).
REST_FRAMEWORK["NUM_PROXIES"] = 2 if BEHIND_LOAD_BALANCER else 1
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and not TESTING)
# Load balancers and scrapers ask over plain HTTP, from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG or TESTING else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Dream Central Storage (DCS) -------------------------------------------
DCS_BASE_URL = env.str("DCS_BASE_URL", default="http://127.0.0.1:8081").rstrip("/")
DCS_EMAIL = env.str("DCS_EMAIL", default="lms@dcs.local")
DCS_PASSWORD = env.str("DCS_PASSWORD", default="dcs-dev-password")
DCS_CONNECT_TIMEOUT = env.int("DCS_CONNECT_TIMEOUT", default=timeouts.DCS_CONNECT_TIMEOUT)
DCS_READ_TIMEOUT = env.int("DCS_READ_TIMEOUT", default=timeouts.DCS_READ_TIMEOUT)
# At least gunicorn's threads per process, or connections get discarded under load.
DCS_POOL_SIZE = env.int("DCS_POOL_SIZE", default=64)
DCS_EMULATOR_ROOT = env.path("DCS_EMULATOR_ROOT", default=BASE_DIR / "var" / "dcs")
# Read every object from DCS's object store through presigned URLs (the DCS
# account must be a DCS admin: docs/dcs.md). Without it only names DCS cannot
# serve go that way, when the account may presign.
DCS_PRESIGNED = env.bool("DCS_PRESIGNED", default=False)
DCS_PRESIGNED_LIFETIME = env.int("DCS_PRESIGNED_LIFETIME", default=3600)  # asked of DCS
# The circuit breaker on DCS (shared through the cache): open after this many
# consecutive failures, for this many seconds, then one probe at a time.
DCS_BREAKER_FAILURES = env.int("DCS_BREAKER_FAILURES", default=5)
DCS_BREAKER_RESET = env.float("DCS_BREAKER_RESET", default=10.0)
# After DCS refused to presign (not an admin account): seconds before asking again.
DCS_PRESIGN_RETRY_AFTER = env.int("DCS_PRESIGN_RETRY_AFTER", default=600)

# --- Media proxy -------------------------------------------------------------
MEDIA_CHUNK_SIZE = env.int("MEDIA_CHUNK_SIZE", default=256 * 1024)
MEDIA_CACHE_MAX_AGE = env.int("MEDIA_CACHE_MAX_AGE", default=86400)
MEDIA_METADATA_TTL = env.int("MEDIA_METADATA_TTL", default=300)
MEDIA_MAX_RANGES = env.int("MEDIA_MAX_RANGES", default=16)
MEDIA_MAX_STREAMS_PER_USER = env.int("MEDIA_MAX_STREAMS_PER_USER", default=16)
MEDIA_STREAM_LEASE = env.int("MEDIA_STREAM_LEASE", default=600)
# SO_SNDBUF of a streamed body's client socket, in bytes (the kernel doubles it): what
# a paused player pins in kernel memory, ~0.27 MB instead of the ~1 MB (up to 4 MiB)
# autotuning lets it grow to. It caps one player at 256 KiB per round trip (20 Mbit/s
# at 100 ms). 0: the kernel's autotuning.
MEDIA_SEND_BUFFER = env.int("MEDIA_SEND_BUFFER", default=128 * 1024)
# nginx offload: Django decides, nginx moves the bytes (deploy/nginx/lms.conf.template).
MEDIA_NGINX_OFFLOAD = env.bool("MEDIA_NGINX_OFFLOAD", default=False)
# The proof that a request came through our nginx, which sets it (and drops any
# client's): only such requests get X-Accel-Redirect and the DCS token. Render
# the template with the same value (MEDIA_OFFLOAD_SECRET).
MEDIA_OFFLOAD_SECRET = env.str("MEDIA_OFFLOAD_SECRET", default="")
if MEDIA_NGINX_OFFLOAD and len(MEDIA_OFFLOAD_SECRET) < 16:
    raise ImproperlyConfigured(
        "MEDIA_OFFLOAD_SECRET (16 characters or more) must be set when MEDIA_NGINX_OFFLOAD is on."
    )
# Who may read /metrics (addresses or networks as gunicorn sees them; behind nginx,
# nginx's address: the shipped template refuses /metrics from outside).
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
# A player that accepts no byte for this long has its stream cut (nginx: send_timeout).
MEDIA_SEND_TIMEOUT = env.int("MEDIA_SEND_TIMEOUT", default=timeouts.MEDIA_SEND_TIMEOUT)
# The bulkhead: media requests running at once in one process. Three quarters of
# gunicorn's threads (deploy/gunicorn.conf.py; under gevent it sets three quarters of
# the worker connections), so a quarter always serves the rest of the LMS however
# many players pause or however long DCS hangs.
_GUNICORN_THREADS = env.int("GUNICORN_THREADS", default=32 if MEDIA_NGINX_OFFLOAD else 64)
MEDIA_MAX_CONCURRENT = env.int("MEDIA_MAX_CONCURRENT", default=max(1, _GUNICORN_THREADS * 3 // 4))
# The object store origin (scheme://host[:port]) nginx's template was rendered
# for (STORE_*): presigned reads of another origin are streamed by Django.
MEDIA_NGINX_STORE_ORIGIN = env.str("MEDIA_NGINX_STORE_ORIGIN", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s pid=%(process)d %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

TEST_RUNNER = "lms.test_runner.PytestTestRunner"
MEDIA_LINK_MAX_AGE = env.int("MEDIA_LINK_MAX_AGE", default=4 * 3600)
MEDIA_SUBTITLE_MAX_BYTES = env.int("MEDIA_SUBTITLE_MAX_BYTES", default=2 * 1024 * 1024)
MEDIA_LISTING_TTL = env.int("MEDIA_LISTING_TTL", default=60)
