"""Settings for the test suite: real PostgreSQL when it answers, else SQLite (reported)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tradingplatform.env import env
from tradingplatform.services_probe import postgres_reachable, redis_reachable
from tradingplatform.settings.base import *  # noqa: F403
from tradingplatform.settings.base import INSTALLED_APPS as _APPS

DEBUG = False
SECRET_KEY = "test-only-key-0123456789abcdefghijklmnopqrstuvwxyz-not-secret"
FIELD_ENCRYPTION_KEYS = ["Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k="]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

TEST_DATABASE_URL = env.str(
    "TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/14")

POSTGRES_AVAILABLE, POSTGRES_REASON = postgres_reachable(TEST_DATABASE_URL)
REDIS_AVAILABLE, REDIS_REASON = redis_reachable(TEST_REDIS_URL)

if POSTGRES_AVAILABLE:
    DATABASES = {"default": env.db_url_config(TEST_DATABASE_URL)}
    # One test database per pytest process, so that parallel runs on one server never collide.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("TEST_DATABASE_NAME", default=f"test_tradingplatform_{os.getpid()}")
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# The suite runs on the embedded choices; tests that need Redis switch to it explicitly.
REDIS_URL = ""
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
CELERY_EMBEDDED = True

# WhiteNoise reads STATIC_ROOT at start-up; the suite never collects static files.
STATIC_ROOT = Path(tempfile.gettempdir()) / "tradingplatform-test-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Trained models written by the suite go to a throwaway folder, never to the user's var/models.
AI_MODELS_DIR = Path(tempfile.mkdtemp(prefix="tradingplatform-test-models-"))

# The Telegram worker is started by the tests that need it, never by the embedded beat.
TELEGRAM_EMBEDDED = False

INSTALLED_APPS = [*_APPS, "testsupport"]  # the fake Binance server (`manage.py fakebinance`)
