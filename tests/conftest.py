"""Suite-wide fixtures, and the rule for tests that need real servers.

Tests marked ``redis`` or ``postgres`` run against the real servers when they answer. Where a
server is missing they are skipped, and the end of the run lists them by name with the reason.
With ``REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing server is an error instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

# A user's .env (written by `make run`) is never read by the suite, nor by the processes it
# starts: they see only what the tests set.
os.environ["TRADINGPLATFORM_ENV_FILE"] = ""

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
_service_skips: list[tuple[str, str]] = []


def _service_state() -> dict[str, tuple[bool, str]]:
    return {
        "redis": (settings.REDIS_AVAILABLE, settings.REDIS_REASON),
        "postgres": (settings.POSTGRES_AVAILABLE, settings.POSTGRES_REASON),
    }


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for name, (ok, why) in _service_state().items():
        lines.append(f"{name}: {'available' if ok else 'UNAVAILABLE - ' + why}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _service_state()
    required = os.environ.get("REQUIRE_SERVICES") == "1"
    missing = {name: why for name, (ok, why) in state.items() if not ok}
    if required and missing:
        raise pytest.UsageError(
            "REQUIRE_SERVICES=1 but " + "; ".join(f"{n}: {w}" for n, w in missing.items())
        )
    for item in items:
        for name, why in missing.items():
            if item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=f"needs {name}: {why}"))
                _service_skips.append((item.nodeid, f"needs {name}: {why}"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _service_skips:
        return
    terminalreporter.section("not run: a server they need is unreachable")
    for nodeid, why in _service_skips:
        terminalreporter.write_line(f"{nodeid}: {why}")


def _data_missing(reason: str) -> None:
    """A skip with the reason; a failure where the machine must have the shared market data
    (CI: ``REQUIRE_SERVICES=1``, where ../shared/data is always present)."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def shared_data_file(relative: str) -> Path:
    """A file of the shared market data (``futures/BTCUSDT-1h.csv.gz``), or a skip / failure."""
    path = SHARED_DATA / relative
    if not path.is_file():
        _data_missing(f"the shared market data is not at {path}")
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        _data_missing(f"the shared market data is not at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _platform_celery_app_is_current() -> Iterator[None]:
    """A test that builds a Celery client app of its own must not leave it as the current
    app: every later ``shared_task.delay()`` of this process would publish through it."""
    from tradingplatform.celery import app

    yield
    app.set_current()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database for one test, flushed before and after."""
    import redis

    url = settings.TEST_REDIS_URL
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def demo(db: None) -> None:
    from apps.core.demo import demo_load

    demo_load()


@pytest.fixture
def superuser(db: None):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456")


@pytest.fixture
def admin_client_logged(client, superuser):
    client.force_login(superuser)
    return client
