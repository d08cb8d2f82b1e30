"""Settings shared by every environment; outside values come only from ``tradingplatform.env``."""

from __future__ import annotations

from pathlib import Path

from tradingplatform.env import BASE_DIR, env

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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


def postgres_database(url: str) -> dict:
    """The PostgreSQL settings for ``url``. The web process is ASGI (daphne), where Django's
    persistent connections are opened per worker thread and not closed (Django's docs: disable
    them under ASGI); psycopg's pool bounds and reuses them instead (DATABASE_POOL_MAX_SIZE per
    process; 0 turns the pool off for plain per-request connections)."""
    database = env.db_url_config(url)
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
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "db.sqlite3")),
            "OPTIONS": {
                # WAL lets the web server read while the embedded worker writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results, channel layer. Embedded choices without it. ------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tp",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHANNELS_PREFIX", default="tp"),
                # per channel: a busy page may lag this many events before the layer drops
                # (the pages see the gap in the event numbers and resynchronise)
                "capacity": env.int("CHANNELS_CAPACITY", default=1000),
            },
        }
    }
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
# Requests per source address: "<count>/<second|minute|hour>" (Redis-backed with REDIS_URL).
WEBHOOK_THROTTLE_RATE = env.str("WEBHOOK_THROTTLE_RATE", default="120/minute")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "INFO"},
    },
}
