"""DATABASE_URL: ``sqlite:///path`` is the embedded SQLite database at that path (it used to
crash at start with "'pool' is an invalid keyword argument"); production wants PostgreSQL and
says so in one line; an unknown scheme is one line too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    clean.update({"TRADINGPLATFORM_ENV_FILE": "", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sqlite_database_url_migrates_and_serves_queries(tmp_path: Path) -> None:
    path = tmp_path / "platform.sqlite3"
    url = f"sqlite:///{path}"
    migrated = _manage("migrate", "-v", "0", DATABASE_URL=url)
    assert migrated.returncode == 0, migrated.stderr
    probe = "from django.db import connection; from apps.bots.models import Bot; "
    probe += "print(connection.vendor, connection.settings_dict['NAME'], Bot.objects.count())"
    shown = _manage("shell", "-c", probe, DATABASE_URL=url)
    assert shown.returncode == 0, shown.stderr
    assert f"sqlite {path} 0" in shown.stdout
    assert path.is_file()


def test_production_with_sqlite_database_url_stops_with_one_line() -> None:
    result = _manage(
        "check",
        DJANGO_SETTINGS_MODULE="tradingplatform.settings.prod",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DJANGO_SECRET_KEY="k" * 60,
        FIELD_ENCRYPTION_KEY="Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
        DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL="sqlite:////tmp/never-created.sqlite3",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:5432/name);"
        " got a 'sqlite' URL"
    ]


def test_database_url_with_unknown_scheme_stops_with_one_line() -> None:
    result = _manage("check", DATABASE_URL="mysql://user@localhost/platform")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "PostgreSQL URL" in result.stderr and "sqlite:///path" in result.stderr
