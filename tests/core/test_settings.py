"""Configuration: missing variables are named in one line; production settings pass --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

REPO = Path(__file__).resolve().parents[2]

PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "tradingplatform.settings.prod",
    "DJANGO_SECRET_KEY": "p" * 20 + "Qz8#kL2@vN5$wR7!yT1^uI3&oP9*aS4(dF6)gH0" + "x" * 10,
    "FIELD_ENCRYPTION_KEY": "Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
    "DJANGO_ALLOWED_HOSTS": "trading.example.com",
    "DATABASE_URL": "postgres://trader:pw@db.example.com:5432/trading",
    "REDIS_URL": "redis://cache.example.com:6379/0",
}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_ALLOWED_HOSTS",
    ],
)
def test_prod_settings_with_missing_variable_name_it_in_one_line(missing: str) -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = _run(["manage.py", "check"], env)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"error: Set the environment variable {missing} (")


def test_prod_settings_with_all_variables_pass_check_deploy() -> None:
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_migrations_with_current_models_are_complete() -> None:
    out = StringIO()  # in this process: the test settings, no second Django start
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as missing:
        pytest.fail(f"makemigrations --check exited {missing.code}:\n{out.getvalue()}")


def test_env_file_is_read_only_where_it_is_named(tmp_path) -> None:
    """`make run` writes a .env; the suite (and what it starts) never reads one by accident."""
    env_file = tmp_path / "local.env"
    env_file.write_text(f"DJANGO_SECRET_KEY={PROD_ENV['DJANGO_SECRET_KEY']}\n")
    env = {k: v for k, v in PROD_ENV.items() if k != "DJANGO_SECRET_KEY"}
    named = _run(["manage.py", "check"], {**env, "TRADINGPLATFORM_ENV_FILE": str(env_file)})
    assert named.returncode == 0, named.stderr[-2000:]
    unnamed = _run(["manage.py", "check"], {**env, "TRADINGPLATFORM_ENV_FILE": ""})
    assert unnamed.returncode == 2
    assert "DJANGO_SECRET_KEY" in unnamed.stderr
