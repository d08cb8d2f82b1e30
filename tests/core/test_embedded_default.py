"""The embedded default: `runplatform` on SQLite with no Redis, serving /health/ and the admin."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _login(port: int, username: str, password: str) -> str:
    """Log in through the admin form like a browser; return the Cookie header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    page = opener.open(f"{base}/admin/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/admin/login/", data=form, headers={"Referer": f"{base}/admin/login/"}
    )
    opener.open(request, timeout=10)
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "admin login failed"
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "DJANGO_", "PYTEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tradingplatform.settings.dev",
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        STATIC_ROOT=str(tmp_path / "static"),
        FIELD_ENCRYPTION_KEY="Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
        ADMIN_USERNAME="trader",
        ADMIN_PASSWORD="",
    )
    return env


@pytest.mark.slow
def test_runplatform_with_no_servers_serves_health_admin_and_demo(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runplatform", "--port", str(port)],
            cwd=REPO,
            env=_clean_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        body = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as r:
                    body = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.5)
        output = log.read_text()
        assert body is not None, f"server never answered /health/:\n{output}"
        assert body["status"] == "ok", body
        assert body["checks"]["database"]["backend"] == "sqlite"
        assert body["checks"]["broker"]["backend"] == "memory"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as r:
            assert r.status == 200 and b"Trading platform" in r.read()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=5
        ) as r:
            assert r.status == 200
        # The admin login is printed once, with a generated password.
        assert "Admin user created: trader" in output
        assert "Password (shown once" in output
        assert "demo loaded: 7 instruments" in output
        password = re.search(r"Password \(shown once[^)]*\): (\S+)", output).group(1)
        cookie = _login(port, "trader", password)
        # Beat -> worker -> channel layer -> a logged-in browser socket, all in one process.
        with ws_connect(
            f"ws://127.0.0.1:{port}/ws/live/",
            additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
            open_timeout=10,
        ) as socket_:
            assert json.loads(socket_.recv(timeout=10))["kind"] == "hello"
            deadline = time.monotonic() + 60
            kinds = []
            while time.monotonic() < deadline:
                event = json.loads(socket_.recv(timeout=deadline - time.monotonic()))
                kinds.append(event["kind"])
                if event["kind"] == "heartbeat":
                    break
            assert kinds[-1] == "heartbeat", kinds
            assert event["data"]["bots_total"] == 4  # the demo bots
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
