"""The one place that reads the process environment (and the optional ``.env`` file).

Every setting that comes from outside is read here, so that a missing or malformed variable
fails with one line naming it.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"

env = environ.Env()
if ENV_FILE.exists():
    # Real environment variables win over the file.
    environ.Env.read_env(str(ENV_FILE), overwrite=False)


class MissingSetting(ImproperlyConfigured):
    """A required environment variable is not set."""


def require(name: str, *, why: str) -> str:
    """Return a required variable, or raise one line naming it and saying what it is for."""
    value = env.str(name, default="")
    if not value:
        raise MissingSetting(f"Set the environment variable {name} ({why}).")
    return value
