"""A passphrase sent in the query string never reaches a log: daphne's access log as docker-compose
runs it (``python -m apps.core.daphne_server``, a real process over real HTTP) and every line
the console logging handler writes."""

from __future__ import annotations

import io
import logging
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from apps.core.middleware import RedactSecretsFilter, redact_secrets
from testsupport.processes import Daphne, process_env, wait_until

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "hunter2-query-passphrase"


def test_compose_web_serves_through_the_redacting_daphne() -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    assert "python -m apps.core.daphne_server -b 0.0.0.0 -p 8000" in compose


def test_daphne_access_log_redacts_query_secrets(tmp_path: Path) -> None:
    env = process_env(DJANGO_DEBUG="0", SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    server = Daphne(env=env, log=tmp_path / "daphne.log", module="apps.core.daphne_server")
    try:
        server.start()
        url = (
            f"{server.url}/api/webhook/tradingview/"
            f"?passphrase={PASSPHRASE}&bot=demo-signal&token=tok-{PASSPHRASE}"
        )
        request = urllib.request.Request(url, data=b"not json", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 400
        wait_until(
            "the access log line",
            lambda: '"POST /api/webhook/tradingview/' in server.log_text(),
            within=30,
        )
    finally:
        server.stop()
    seen = server.log_text().splitlines()
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
