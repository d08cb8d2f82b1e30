"""Settings shared by every environment; outside values come only from ``tradingplatform.env``."""

from __future__ import annotations

from pathlib import Path

from csp.constants import NONCE, NONE, SELF

from tradingplatform.env import BASE_DIR, InvalidSetting, env

VAR_DIR = BASE_DIR / "var"

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "apps.core",
    "apps.exchange",
    "apps.market",
    "apps.strategies",
    "apps.bots",
    "apps.risk",
    "apps.orders",
    "apps.trading",
    "apps.monitoring",
    "apps.dashboard",
    "apps.backtest",
    "apps.webhook",
    "apps.ai",
    "apps.metrics",
    "apps.experiments",
    "apps.telegram",
]

MIDDLEWARE = [
    "apps.metrics.middleware.RequestMetricsMiddleware",  # first: times every answer, 413s too
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every answer (docs/security.md)
    "apps.core.middleware.ApiErrorsMiddleware",  # before anything reads a request body
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tradingplatform.urls"
ASGI_APPLICATION = "tradingplatform.asgi.application"
WSGI_APPLICATION = "tradingplatform.wsgi.application"

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
            ],
        },
    },
]

# --- Database: PostgreSQL when DATABASE_URL is set, else the embedded SQLite file. -------------
DATABASE_URL = env.str("DATABASE_URL", default="")


def sqlite_database(path: str) -> dict:
    """The embedded SQLite database at ``path``."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # WAL lets the web server read while the embedded worker writes.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
    }


def postgres_database(url: str, *, postgres_only: bool = False) -> dict:
    """The PostgreSQL settings for ``url``. The web process is ASGI (daphne), where Django's
    persistent connections are opened per worker thread and not closed (Django's docs: disable
    them under ASGI); psycopg's pool bounds and reuses them instead (DATABASE_POOL_MAX_SIZE per
    process; 0 turns the pool off for plain per-request connections).

    ``sqlite:///path`` is the embedded SQLite database at that path (no pool: SQLite has none),
    unless ``postgres_only`` (production), where it stops the start with one line."""
    database = env.db_url_config(url)
    engine = database.get("ENGINE", "")
    if engine == "django.db.backends.sqlite3" and not postgres_only:
        return sqlite_database(database["NAME"])
    if engine != "django.db.backends.postgresql":
        scheme = url.partition(":")[0] or url[:20]
        raise InvalidSetting(
            f"DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:5432/name)"
            f"{'' if postgres_only else ' or sqlite:///path'}; got a {scheme!r} URL"
        )
    pool_size = env.int("DATABASE_POOL_MAX_SIZE", default=10)
    if pool_size > 0:
        database["CONN_MAX_AGE"] = 0
        database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": pool_size,
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
    else:
        database["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
        database["CONN_HEALTH_CHECKS"] = True
    return database


if DATABASE_URL:
    DATABASES = {"default": postgres_database(DATABASE_URL)}
else:
    DATABASES = {
        "default": sqlite_database(env.str("SQLITE_PATH", default=str(VAR_DIR / "db.sqlite3")))
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results, channel layer. Embedded choices without it. ------
REDIS_URL = env.str("REDIS_URL", default="")
#: channels-redis waits for a websocket's next event with a blocking pop of this many seconds.
CHANNELS_BRPOP_TIMEOUT_S = 5


def redis_channel_layer(url: str) -> dict:
    """The channels-redis layer for ``url``. Its socket read timeout must outlast the layer's
    5 s blocking pop: redis-py 8 reads every reply, a blocking pop's too, within its default
    5 s socket timeout, so an idle page's ``receive`` raised ``TimeoutError`` and its socket
    dropped every 5-10 s (issue 16). A dead Redis is still noticed within the timeout."""
    socket_timeout = env.float("CHANNELS_SOCKET_TIMEOUT_S", default=CHANNELS_BRPOP_TIMEOUT_S + 10)
    if socket_timeout <= CHANNELS_BRPOP_TIMEOUT_S:
        raise InvalidSetting(
            f"CHANNELS_SOCKET_TIMEOUT_S={socket_timeout:g} must exceed channels-redis's "
            f"{CHANNELS_BRPOP_TIMEOUT_S} s blocking pop, or idle websockets drop"
        )
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {"address": url, "socket_timeout": socket_timeout, "socket_connect_timeout": 5}
            ],
            "prefix": env.str("CHANNELS_PREFIX", default="tp"),
            # per channel: a busy page may lag this many events before the layer drops
            # (the pages see the gap in the event numbers and resynchronise)
            "capacity": env.int("CHANNELS_CAPACITY", default=1000),
        },
    }


if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tp",
        }
    }
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }

# --- Celery ------------------------------------------------------------------------------------
# Without a broker server the platform runs its worker and beat inside the web process over
# kombu's in-memory transport (see docs/architecture.md, "Embedded default").
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "cache+memory://")
CELERY_EMBEDDED = CELERY_BROKER_URL.startswith("memory://")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
# Delivery. By default a task is acknowledged after it ran and given back to the broker when its
# worker is lost; periodic tasks opt out (their next beat does the work). A task whose worker
# died is delivered again after the visibility timeout (Redis; kombu's default is an hour):
# every task kind that keeps acks_late is idempotent (see each app's tasks.py), and none waits
# for it alone (webhook signals are swept every 2 s).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_S", default=300)
}
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# An order recorded and sent but not shown by the venue is taken as never placed (EXPIRED) only
# after this long: a request held by the network or the venue may still be placed meanwhile.
ORDER_MISSING_GRACE_S = env.int("ORDER_MISSING_GRACE_S", default=120)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Auth, i18n, time --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
# The cockpit's own scripts and the vendored chart library (static/vendor/, no CDN).
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "EXCEPTION_HANDLER": "apps.core.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trading platform API",
    "DESCRIPTION": "Binance USDT-M futures trading platform: health, bots and signals.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the installed package, not a CDN: /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Platform ----------------------------------------------------------------------------------
# Fernet keys (comma-separated; the first encrypts, all decrypt, so keys can be rotated).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
ADMIN_USERNAME = env.str("ADMIN_USERNAME", default="admin")
ADMIN_EMAIL = env.str("ADMIN_EMAIL", default="admin@localhost")
ADMIN_PASSWORD = env.str("ADMIN_PASSWORD", default="")
SHARED_DATA_DIR = Path(env.str("SHARED_DATA_DIR", default=str(BASE_DIR.parent / "shared" / "data")))
# Alerts by e-mail: EMAIL_URL such as smtp+tls://user:password@smtp.example.com:587 (the
# default prints mails on the console).
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="trading-platform@localhost")
# Opens the exchange of a bot for reconciliation: (bot) -> Exchange or async context manager.
EXCHANGE_PROVIDER = "apps.exchange.live.open_exchange"
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
# Replay historical market time (the embedded demo): ISO start date and speed (x wall clock).
MARKET_REPLAY_START = env.str("MARKET_REPLAY_START", default="")
MARKET_REPLAY_SPEED = env.float("MARKET_REPLAY_SPEED", default=0.0)

# --- AI models ----------------------------------------------------------------------------------
# Trained model files (loaded only when their sha256 matches the registry).
AI_MODELS_DIR = Path(env.str("AI_MODELS_DIR", default=str(VAR_DIR / "models")))

# --- TradingView webhook (POST /api/webhook/tradingview/) ------------------------------------
# The shared passphrase every bot accepts (empty: only bots with their own passphrase).
WEBHOOK_SECRET = env.str("WEBHOOK_SECRET", default="")
# When set, every request must carry X-Signature: sha256=<HMAC-SHA256 of the body with this key>.
WEBHOOK_HMAC_KEY = env.str("WEBHOOK_HMAC_KEY", default="")
# Source addresses / CIDR blocks allowed to post (empty: any). TradingView sends from
# 52.89.214.238, 34.212.75.30, 54.218.53.128 and 52.32.178.7.
WEBHOOK_ALLOWED_IPS = env.list("WEBHOOK_ALLOWED_IPS", default=[])
# Reverse proxies in front of the platform that append to X-Forwarded-For (0: use the peer).
WEBHOOK_TRUSTED_PROXIES = env.int("WEBHOOK_TRUSTED_PROXIES", default=0)
# Signals older than this (by their `time`) are refused; a bot's `max_signal_age_s` overrides.
WEBHOOK_MAX_SIGNAL_AGE_S = env.int("WEBHOOK_MAX_SIGNAL_AGE_S", default=60)
# The same body without an alert_id inside this window is a repeat delivery.
WEBHOOK_REPLAY_WINDOW_S = env.int("WEBHOOK_REPLAY_WINDOW_S", default=300)
# Authenticated alerts per bot: "<count>/<second|minute|hour>" (Redis-backed with REDIS_URL).
WEBHOOK_THROTTLE_RATE = env.str("WEBHOOK_THROTTLE_RATE", default="600/minute")
# Failed authentications per source address; over it, that source's unauthenticated requests
# get 429 (its authenticated ones never do: TradingView posts from four shared addresses).
WEBHOOK_AUTH_FAILURE_RATE = env.str("WEBHOOK_AUTH_FAILURE_RATE", default="30/minute")
# The webhook's fast lane (apps/webhook/asgi.py, docs/webhook.md "Speed"): threads per web
# process (keep below DATABASE_POOL_MAX_SIZE), and seconds a bot / instrument lookup is reused.
WEBHOOK_WEB_THREADS = env.int("WEBHOOK_WEB_THREADS", default=4)
# Web processes: the garbage collector's youngest generation is collected after this many
# allocations (Python's default 700), start-up objects frozen; 0 leaves the collector alone.
WEB_GC_GEN0_THRESHOLD = env.int("WEB_GC_GEN0_THRESHOLD", default=100_000)
WEBHOOK_LOOKUP_CACHE_S = env.float("WEBHOOK_LOOKUP_CACHE_S", default=1.0)

# --- Prometheus metrics (docs/operations.md) ----------------------------------------------------
# /metrics is never public: it answers 404 unless a token or an allowlist is set; when set,
# every one that is set must pass (Authorization: Bearer <token>; source address in the list).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# A process without a web server (Celery worker, beat, the market streamer) serves its own
# metrics on this port when set (0: off); the same token and allowlist protect it.
METRICS_PORT = env.int("METRICS_PORT", default=0)
METRICS_ADDR = env.str("METRICS_ADDR", default="0.0.0.0")  # noqa: S104 (containers)
# That server also reports the database-read gauges (set it on one process: the web's).
METRICS_SERVE_STATE = env.bool("METRICS_SERVE_STATE", default=False)
# The database-read gauges (equity, positions, breaker tier, ...) are cached this long.
METRICS_STATE_CACHE_S = env.float("METRICS_STATE_CACHE_S", default=5.0)

# --- Telegram: notifications and commands (docs/telegram.md) ----------------------------------
# The Bot API's address (the tests point it at testsupport/faketelegram).
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")
# The bot token when the admin's Telegram bot has none stored (never logged).
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
# How long one getUpdates call waits for a message (long polling).
TELEGRAM_POLL_TIMEOUT_S = env.int("TELEGRAM_POLL_TIMEOUT_S", default=25)
# The embedded default runs the Telegram worker beside its in-process beat.
TELEGRAM_EMBEDDED = env.bool("TELEGRAM_EMBEDDED", default=True)

# --- Content-Security-Policy (django-csp; docs/security.md) --------------------------------------
# Scripts and styles only from this site's own files; an inline <script>/<style> of ours carries
# the request's nonce ({{ request.csp_nonce }}: Swagger UI's setup); two constant inline styles
# written by code we do not template are allowed by their hashes (a test recomputes them).
CSP_STYLE_HASHES = [
    # lightweight-charts 5.3.0: its attribution logo's <style> (static/vendor/lightweight-charts)
    "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='",
    # the backtest HTML report's <style> (apps/backtest/reports/html.py)
    "'sha256-oAFG6O94nzkprHt1PL/JevlnOhxv6QEXRYFQH1ROoAY='",
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE, *CSP_STYLE_HASHES],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],  # fetch and the cockpit's websocket (same host)
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    # Secret query parameters (?passphrase=...) are redacted in every line the console writes.
    "filters": {"redact_secrets": {"()": "apps.core.middleware.RedactSecretsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "INFO"},
    },
}
