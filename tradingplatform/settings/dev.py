"""The embedded default and local development: SQLite, no Redis, in-process worker and beat."""

from __future__ import annotations

from tradingplatform.env import env as _env
from tradingplatform.settings.base import *  # noqa: F403
from tradingplatform.settings.base import INSTALLED_APPS as _APPS
from tradingplatform.settings.base import SECRET_KEY as _SECRET_KEY

# Debug pages only on the embedded default served on loopback: `runplatform --host` with any
# other address turns them off (DJANGO_DEBUG=0 does too).
DEBUG = _env.bool("DJANGO_DEBUG", default=True)
# `make run` writes a random key into .env on first start; this fallback only serves a bare
# `manage.py` call on a fresh checkout and is never used in production (prod.py has no default).
SECRET_KEY = _SECRET_KEY or "dev-only-insecure-key-change-me-0123456789abcdefghijklmnop"
# The embedded demo replays September 2025 at 900x: one hour of market time every 4 seconds.
MARKET_REPLAY_START = _env.str("MARKET_REPLAY_START", default="2025-09-01T00:00:00+00:00")
MARKET_REPLAY_SPEED = _env.float("MARKET_REPLAY_SPEED", default=900.0)
VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405  (SQLite file, static files)

INSTALLED_APPS = [*_APPS, "testsupport"]  # the fake Binance server (`manage.py fakebinance`)
