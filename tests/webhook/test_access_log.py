"""A passphrase sent in the query string never reaches a log: daphne's access log as docker-compose
runs it (``python -m apps.core.daphne_server``, a real process over real HTTP) and every line
the console logging handler writes."""

from __future__ import annotations

import io
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apps.core.middleware import RedactSecretsFilter, redact_secrets

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "hunter2-query-passphrase"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_compose_web_serves_through_the_redacting_daphne() -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    assert "python -m apps.core.daphne_server -b 0.0.0.0 -p 8000" in compose


def test_daphne_access_log_redacts_query_secrets(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tradingplatform.settings.dev",
            "DJANGO_DEBUG": "0",
            "TRADINGPLATFORM_ENV_FILE": "",
            "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apps.core.daphne_server",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tradingplatform.asgi:application",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "".join(seen)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("daphne did not listen within 90 s") from None
                time.sleep(0.3)
        url = (
            f"http://127.0.0.1:{port}/api/webhook/tradingview/"
            f"?passphrase={PASSPHRASE}&bot=demo-signal&token=tok-{PASSPHRASE}"
        )
        request = urllib.request.Request(url, data=b"not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 400
        deadline = time.monotonic() + 30
        while not any('"POST /api/webhook/tradingview/' in line for line in seen):
            try:
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError("no access log line:\n" + "".join(seen)) from None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    request_line = next(line for line in seen if '"POST /api/webhook/tradingview/' in line)
    assert '"POST /api/webhook/tradingview/?passphrase=[redacted]&bot=demo-signal' in request_line
    assert "token=[redacted]" in request_line and " 400 " in request_line
    assert PASSPHRASE not in "".join(seen)


def test_console_logging_handler_redacts_query_secrets() -> None:
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:  # daphne's runserver logs each request like this, through the console handler
        logging.getLogger("django.channels.server").warning(
            "HTTP %s %s %s", "POST", f"/api/webhook/tradingview/?passphrase={PASSPHRASE}", 401
        )
    finally:
        handler.setStream(old)
    assert "passphrase=[redacted] 401" in stream.getvalue()
    assert PASSPHRASE not in stream.getvalue()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /?passphrase=a&b=1", "GET /?passphrase=[redacted]&b=1"),
        ("GET /?webhook_secret=s;x=1", "GET /?webhook_secret=[redacted];x=1"),
        ('"GET /?Token=abc HTTP/1.1" 200', '"GET /?Token=[redacted] HTTP/1.1" 200'),
        ("GET /?api_key=1&password=2", "GET /?api_key=[redacted]&password=[redacted]"),
        ("GET /?bot=passphrase&symbol=x", "GET /?bot=passphrase&symbol=x"),
        ("GET /health/", "GET /health/"),
    ],
)
def test_redact_secrets_replaces_only_secret_values(line: str, expected: str) -> None:
    assert redact_secrets(line) == expected
