"""The webhook's fast lane (apps/webhook/asgi.py, in front of every web process's ASGI app)
answers exactly as Django's ASGI application does: every refusal with the same status, JSON
error and headers, storing the same (nothing, or the one rejected record); an alert accepted
and its repeat answered alike.

Each case is sent through both real ASGI applications (as daphne calls them), in-process, with
the database state reset in between, and the two answers compared field by field."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.trading.models import Signal
from apps.webhook.selectors import webhook_lookups_clear

URL = "/api/webhook/tradingview/"
SECRET = "shared-secret-for-tests-0123456789"
HEADERS_COMPARED = ("content-type", "www-authenticate", "retry-after", "allow")


def alert(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "passphrase": SECRET,
        "bot": "tv-bot",
        "symbol": "BTCUSDT.P",
        "action": "buy",
        "order_type": "market",
        "quote_amount": "500",
        "alert_id": "fast-1",
        "time": timezone.now().isoformat().replace("+00:00", "Z"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def asgi_call(
    app: Any,
    body: bytes,
    *,
    method: str = "POST",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    client: tuple[str, int] = ("203.0.113.9", 40000),
) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"text/plain"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": client,
        "server": ("testserver", 80),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    never = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await never.wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, content


def answer(app: Any, body: bytes, **kwargs: Any) -> dict[str, Any]:
    """Status, JSON body, the headers that matter and what was stored, from a clean slate."""
    Signal.objects.all().delete()
    cache.clear()  # throttle counters
    webhook_lookups_clear()
    status, headers, content = asyncio.run(asgi_call(app, body, **kwargs))
    try:
        data = json.loads(content)
    except ValueError:
        data = content
    if isinstance(data, dict) and isinstance(data.get("signal_id"), int):
        data["signal_id"] = "<id>"  # a new row each time
    extra = data.get("extra") if isinstance(data, dict) else None
    if isinstance(extra, dict) and isinstance(extra.get("signal_id"), int):
        extra["signal_id"] = "<id>"
    stored = sorted(
        (s.outcome, s.alert_id, s.detail) for s in Signal.objects.all()
    )  # what the refusal left behind
    assert headers.get("content-length", str(len(content))) == str(len(content))
    return {
        "status": status,
        "body": data,
        # the exact bytes (a new row's id masked) and every header but the length (an id's)
        "bytes": re.sub(rb'"signal_id":\d+', b'"signal_id":0', content),
        "all headers": {k: v for k, v in headers.items() if k != "content-length"},
        "headers": {k: headers.get(k) for k in HEADERS_COMPARED},
        "stored": stored,
    }


def signed(body: bytes, key: str) -> tuple[tuple[bytes, bytes], ...]:
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return ((b"x-signature", f"sha256={digest}".encode()),)


def _cases() -> dict[str, dict[str, Any]]:
    def raw(data: dict[str, Any]) -> bytes:
        return json.dumps(data).encode()

    return {
        "accepted": {"body": raw(alert())},
        "nul in the bot's name": {"body": b'{"bot": "x\\u0000"}'},
        "lone surrogate": {"body": b'{"bot": "\\ud800"}'},
        "nesting 5,000 deep": {"body": b'{"a":' * 5000 + b"1" + b"}" * 5000},
        "NaN in an extra field": {"body": raw(alert())[:-1] + b', "note": NaN}'},
        "not UTF-8": {"body": b'{"bot": "\xff"}'},
        "not an object": {"body": b"[1, 2]"},
        "wrong passphrase": {"body": raw(alert(passphrase="wrong"))},
        "no passphrase": {"body": raw(alert(passphrase=None))},
        "unknown bot, wrong passphrase": {"body": raw(alert(bot="nobody", passphrase="x"))},
        "unknown bot, shared passphrase": {"body": raw(alert(bot="nobody"))},
        "field errors": {"body": raw(alert(action="hold", quote_amount="-1"))},
        "two sizes": {"body": raw(alert(quantity="0.01"))},
        "stale": {"body": raw(alert(time="2020-01-01T00:00:00Z"))},
        "in the future": {"body": raw(alert(time="2999-01-01T00:00:00Z"))},
        "symbol not traded": {"body": raw(alert(symbol="SOLUSDT"))},
        "below the minimum": {"body": raw(alert(quote_amount="0.5"))},
        "quantity below the minimum": {"body": raw(alert(quote_amount=None, quantity="1e-9"))},
        "GET": {"body": b"", "method": "GET"},
        "PUT": {"body": raw(alert()), "method": "PUT"},
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_fast_lane_answers_every_case_as_the_platform_does(case, transactional_db, signal_bot):
    from tradingplatform.asgi import application as fast_lane
    from tradingplatform.asgi import router as platform

    spec = _cases()[case]
    body = spec.pop("body")
    expected = answer(platform, body, **spec)
    got = answer(fast_lane, body, **spec)
    assert got == expected
    if expected["status"] >= 400:
        assert isinstance(expected["body"], dict) or expected["status"] == 405
        assert all(outcome == "rejected" for outcome, _, _ in expected["stored"])
        assert len(expected["stored"]) <= 1


def test_fast_lane_refusals_before_parsing_and_throttles_match(
    transactional_db, settings, signal_bot
):
    from tradingplatform.asgi import application as fast_lane
    from tradingplatform.asgi import router as platform

    body = json.dumps(alert()).encode()
    settings.WEBHOOK_TRUSTED_PROXIES = 1
    for value in (b"garbage", b"1.2.3.4:443"):
        kwargs = {"headers": ((b"x-forwarded-for", value),)}
        expected = answer(platform, body, **kwargs)
        assert expected["status"] == 400
        assert answer(fast_lane, body, **kwargs) == expected
    forwarded = {"headers": ((b"x-forwarded-for", b"2001:db8::7"),)}
    expected = answer(platform, body, **forwarded)
    assert expected["status"] == 202
    assert answer(fast_lane, body, **forwarded) == expected
    settings.WEBHOOK_TRUSTED_PROXIES = 0

    settings.WEBHOOK_ALLOWED_IPS = ["52.89.214.238/32"]
    expected = answer(platform, body)
    assert expected["status"] == 401 and expected["headers"]["www-authenticate"]
    assert answer(fast_lane, body) == expected
    settings.WEBHOOK_ALLOWED_IPS = []

    settings.WEBHOOK_HMAC_KEY = "hmac-key-for-tests"
    for headers in ((), signed(body, "another-key"), signed(body, "hmac-key-for-tests")):
        expected = answer(platform, body, headers=headers)
        assert answer(fast_lane, body, headers=headers) == expected
    settings.WEBHOOK_HMAC_KEY = ""

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = json.dumps(alert(note="x" * 2000)).encode()
    expected = answer(platform, big)
    assert expected["status"] == 413
    assert answer(fast_lane, big) == expected


def test_fast_lane_throttles_and_repeats_as_the_platform_does(
    transactional_db, settings, signal_bot
):
    """The same sequence through each application: an accepted alert, its repeat (200, the
    first signal), then the bot's rate exceeded (429 with Retry-After); and a source over its
    failed-authentication rate answered 429 for its junk only."""
    from tradingplatform.asgi import application as fast_lane
    from tradingplatform.asgi import router as platform

    settings.WEBHOOK_THROTTLE_RATE = "2/minute"
    settings.WEBHOOK_AUTH_FAILURE_RATE = "2/minute"
    bodies = [
        json.dumps(alert(alert_id="r-1")).encode(),
        json.dumps(alert(alert_id="r-1")).encode(),
        json.dumps(alert(alert_id="r-2")).encode(),
    ]
    junk = [b'{"bot": NaN}'] * 3 + [json.dumps(alert(alert_id="r-3")).encode()]

    def sequence(app: Any, items: list[bytes]) -> list[tuple[Any, ...]]:
        Signal.objects.all().delete()
        cache.clear()
        out = []
        for body in items:
            status, headers, content = asyncio.run(asgi_call(app, body))
            data = json.loads(content)
            out.append((status, data.get("code"), data.get("duplicate"), "retry-after" in headers))
        out.append(tuple(sorted(Signal.objects.values_list("alert_id", "outcome"))))
        return out

    for items in (bodies, junk):
        expected = sequence(platform, items)
        assert sequence(fast_lane, items) == expected
    assert expected[-2][0] == 202  # the valid alert after the junk was accepted
    assert [s for s, *_ in sequence(platform, bodies)[:3]] == [202, 200, 429]


def test_fast_lane_answers_a_json_post_without_drf_and_the_rest_with_it(settings):
    """A POST that DRF would answer in JSON runs the lean view (apis.webhook_post: the same
    checks, renderer and exception handler, without DRF's wrappers); any other method, or an
    Accept header asking for something else, the DRF view itself."""
    from django.core.handlers.wsgi import WSGIRequest

    from apps.webhook.apis import TradingViewWebhookApi, webhook_post
    from apps.webhook.asgi import WebhookHandler, wsgi_environ

    handler = WebhookHandler()

    def view(method: str = "POST", accept: bytes | None = None, query: bytes = b"") -> Any:
        headers = [(b"accept", accept)] if accept is not None else []
        scope = {"method": method, "path": URL, "query_string": query, "headers": headers}
        request = WSGIRequest(wsgi_environ(scope, io.BytesIO(b"{}")))
        return handler.resolve_request(request).func

    for accept in (None, b"*/*", b"application/json"):
        assert view(accept=accept) is webhook_post
    for other in (view("GET"), view("PUT"), view("OPTIONS"), view(accept=b"text/html")):
        assert getattr(other, "view_class", None) is TradingViewWebhookApi
    assert getattr(view(query=b"format=api"), "view_class", None) is TradingViewWebhookApi
