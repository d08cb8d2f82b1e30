"""The one place that reads the process environment (and the optional ``.env`` file).

Every setting that comes from outside is read here, so that a missing or malformed variable
fails with one line naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
TEST_SETTINGS = "tradingplatform.settings.test"


def env_file() -> Path | None:
    """The ``.env`` file to read: ``TRADINGPLATFORM_ENV_FILE`` (empty: none), else the
    repository's ``.env``. The test suite never reads a user's ``.env`` (``make run`` writes
    one): its settings, and every process it starts, see only what the tests set."""
    if os.environ.get("DJANGO_SETTINGS_MODULE") == TEST_SETTINGS:
        return None
    configured = os.environ.get("TRADINGPLATFORM_ENV_FILE")
    if configured is not None:
        return Path(configured) if configured else None
    return BASE_DIR / ".env"


env = environ.Env()
ENV_FILE = env_file()
if ENV_FILE is not None and ENV_FILE.is_file():
    # Real environment variables win over the file.
    environ.Env.read_env(str(ENV_FILE), overwrite=False)


class MissingSetting(ImproperlyConfigured):
    """A required environment variable is not set (``manage.py`` prints it as one line)."""


class InvalidSetting(MissingSetting):
    """A variable is set but cannot be used; reported as one line, like a missing one."""


def require(name: str, *, why: str) -> str:
    """Return a required variable, or raise one line naming it and saying what it is for."""
    value = env.str(name, default="")
    if not value:
        raise MissingSetting(f"Set the environment variable {name} ({why}).")
    return value
