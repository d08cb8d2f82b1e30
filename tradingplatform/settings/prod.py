"""Production: every secret from the environment, no defaults; HTTPS-only cookies and HSTS."""

from __future__ import annotations

from tradingplatform.env import env, require

# Production runs web, worker and beat as separate processes: they meet over Redis.
require("REDIS_URL", why="Redis URL for the cache, the Celery broker and the channel layer")

from tradingplatform.settings.base import *  # noqa: E402, F403

DEBUG = False
SECRET_KEY = require("DJANGO_SECRET_KEY", why="Django's signing key, 50+ random characters")
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in require(
        "FIELD_ENCRYPTION_KEY", why="Fernet key(s) that encrypt exchange API keys at rest"
    ).split(",")
    if key.strip()
]
ALLOWED_HOSTS = require(
    "DJANGO_ALLOWED_HOSTS", why="comma-separated host names the site answers to"
).split(",")
DATABASES = {
    "default": postgres_database(  # noqa: F405
        require("DATABASE_URL", why="PostgreSQL URL"), postgres_only=True
    )
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# The container's own healthcheck asks http://127.0.0.1:8000/health/ (no proxy, no TLS): a
# redirect to https there would fail it. The health body holds no secret (docs/security.md).
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
