"""docker-compose's web healthcheck, run as written against a real server (daphne) on the
production settings: it must pass (issue 16: the https redirect and ALLOWED_HOSTS failed it)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testsupport.processes import Daphne, process_env

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(180)]


def _healthcheck_code() -> str:
    test = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["web"][
        "healthcheck"
    ]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    return test[3]


@pytest.fixture(scope="module")
def prod_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str]]]:
    from django.conf import settings

    env = process_env(
        "tradingplatform.settings.prod",
        servers=True,
        DJANGO_SECRET_KEY="p" * 20 + "Qz8#kL2@vN5$wR7!yT1^uI3&oP9*aS4(dF6)gH0" + "x" * 10,
        FIELD_ENCRYPTION_KEY="Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
        DJANGO_ALLOWED_HOSTS="trading.example.com,.desk.example.com",
        DATABASE_URL=settings.TEST_DATABASE_URL,
        REDIS_URL=settings.TEST_REDIS_URL,
    )
    server = Daphne(env=env, log=tmp_path_factory.mktemp("daphne") / "daphne.log")
    server.env["CHANNELS_PREFIX"] = f"health-{server.port}"
    try:
        server.start()
        # Docker retries a failing healthcheck (retries: 5); here the first request, which
        # imports the views and opens the connections, is made once before the checks instead.
        warm = urllib.request.Request(
            f"{server.url}/health/",
            headers={"Host": "trading.example.com", "X-Forwarded-Proto": "https"},
        )
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(warm, timeout=60).close()
        yield server.port, server.env
    finally:
        server.stop()


def test_web_healthcheck_on_prod_settings_gets_200(prod_server) -> None:
    port, env = prod_server
    code = _healthcheck_code().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    # the healthcheck as written, then the same request again to show its answer
    code += f"; r = u.urlopen(u.Request('http://127.0.0.1:{port}/health/', headers={{'Host': h}}))"
    code += "; print(r.status, r.read().decode())"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr[-2000:]
    status, body = result.stdout.split(" ", 1)
    assert status == "200" and '"status": "ok"' in body, result.stdout


def test_web_healthcheck_with_wildcard_allowed_host_sends_a_host_it_accepts(prod_server) -> None:
    port, env = prod_server
    code = _healthcheck_code().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    wildcard = {**env, "DJANGO_ALLOWED_HOSTS": ".desk.example.com"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=wildcard, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_prod_server_with_other_paths_still_redirects_to_https_and_refuses_unknown_hosts(
    prod_server,
) -> None:
    port, _env = prod_server

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(
            urllib.request.Request(
                f"http://127.0.0.1:{port}/admin/login/", headers={"Host": "trading.example.com"}
            ),
            timeout=10,
        )
    assert redirected.value.code == 301
    assert redirected.value.headers["Location"] == "https://trading.example.com/admin/login/"
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(f"http://127.0.0.1:{port}/health/", timeout=10)  # Host: 127.0.0.1
    assert refused.value.code == 400
