"""Without PostgreSQL and Redis the suite still runs, and names what it could not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_suite_with_servers_unreachable_runs_on_sqlite_and_lists_skipped_tests() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("REQUIRE_SERVICES", None)
    env.update(
        TEST_DATABASE_URL="postgres://postgres@127.0.0.1:1/none",
        TEST_REDIS_URL="redis://127.0.0.1:1/0",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # a test that needs Redis (listed) and database tests that run on SQLite
            "tests/core/test_health.py::test_health_with_redis_backends_reports_ok",
            "tests/core/test_health.py::test_health_with_no_worker_reports_degraded_broker",
            "tests/orders/test_state.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert "not run: a server they need is unreachable" in out
    assert "test_health_with_redis_backends_reports_ok: needs redis: Redis at" in out
    assert "did not answer" in out


def test_suite_with_require_services_and_no_redis_fails_loudly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(REQUIRE_SERVICES="1", TEST_REDIS_URL="redis://127.0.0.1:1/0")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/orders/test_state.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "REQUIRE_SERVICES=1 but redis" in result.stdout + result.stderr
