"""Hostile input to the webhook (issue 16): never a 500, the checks in the documented order,
what is stored bounded, rejected repeats counted on one row, a database outage a 503."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from apps.bots.models import Bot
from apps.trading.models import Signal
from apps.webhook.domain.payload import STORED_PAYLOAD_BYTES, TRUNCATED_KEY, encoded_size

pytestmark = pytest.mark.django_db

URL = "/api/webhook/tradingview/"
SECRET = "shared-secret-for-tests-0123456789"

# Bodies as raw text, so that JSON escapes reach the parser exactly as an attacker sends them.
HOSTILE_UNAUTHENTICATED = {
    "nul": '{"bot": "x\\u0000"}',
    "lone_surrogate": '{"bot": "\\ud800"}',
    "nul_in_key": '{"b\\u0000ot": "x"}',
    "deep_5000": '{"a":' * 5000 + "1" + "}" * 5000,
    "deep_list_5000": "[" * 5000 + "]" * 5000,
    "deep_40": '{"a":' * 40 + "1" + "}" * 40,
    "nan": '{"bot": NaN}',
    "minus_infinity": '{"bot": -Infinity}',
    "huge_float": '{"bot": 1e400}',
    "huge_int": '{"bot": ' + "9" * 5000 + "}",
    "invalid_utf8": b'{"bot": "\xff"}',
    "not_an_object": "[1, 2]",
}


def alert(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "passphrase": SECRET,
        "bot": "tv-bot",
        "symbol": "BTCUSDT.P",
        "action": "buy",
        "order_type": "market",
        "quote_amount": "500",
        "alert_id": "h-1",
        "time": timezone.now().isoformat().replace("+00:00", "Z"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, raw: str | bytes | dict[str, Any], **extra: Any):
    if isinstance(raw, dict):
        raw = json.dumps(raw)
    return client.post(URL, raw, content_type="application/json", **extra)


def with_raw_field(name: str, raw_json_value: str, **overrides: Any) -> str:
    """A valid alert plus one extra field whose value is written as raw JSON text."""
    text = json.dumps(alert(**overrides))
    return text[:-1] + f', "{name}": {raw_json_value}' + "}"


def assert_one_line_error(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"message", "code", "extra"} and data["code"] == code
    assert data["message"] and "\n" not in data["message"]
    return data


# --- 1. unauthenticated: a 400 naming the problem, never a 500; checks before parsing --------


@pytest.mark.parametrize("raw", HOSTILE_UNAUTHENTICATED.values(), ids=HOSTILE_UNAUTHENTICATED)
def test_webhook_with_hostile_unauthenticated_body_is_400_and_stores_nothing(
    client, signal_bot, raw
):
    assert_one_line_error(post(client, raw), 400, "parse_error")
    assert Signal.objects.count() == 0


def test_webhook_parse_errors_say_what_is_wrong(client, signal_bot):
    messages = {
        name: post(client, HOSTILE_UNAUTHENTICATED[name]).json()["message"]
        for name in ("nul", "lone_surrogate", "deep_5000", "nan", "huge_float")
    }
    assert "NUL" in messages["nul"] and "bot" in messages["nul"]
    assert "surrogate" in messages["lone_surrogate"]
    assert "nested deeper" in messages["deep_5000"]
    assert "NaN" in messages["nan"]
    assert "too large" in messages["huge_float"]


@pytest.mark.parametrize("raw", HOSTILE_UNAUTHENTICATED.values(), ids=HOSTILE_UNAUTHENTICATED)
def test_webhook_outside_allowlist_is_401_before_the_body_is_parsed(
    client, settings, signal_bot, raw
):
    settings.WEBHOOK_ALLOWED_IPS = ["52.89.214.238"]
    assert_one_line_error(post(client, raw, REMOTE_ADDR="6.6.6.6"), 401, "not_authenticated")


@pytest.mark.parametrize("raw", HOSTILE_UNAUTHENTICATED.values(), ids=HOSTILE_UNAUTHENTICATED)
def test_webhook_with_hmac_and_no_signature_is_401_before_the_body_is_parsed(
    client, settings, signal_bot, raw
):
    settings.WEBHOOK_HMAC_KEY = "hmac-key"
    assert_one_line_error(post(client, raw), 401, "not_authenticated")


def test_webhook_with_valid_signature_then_parses_the_body(client, settings, signal_bot):
    settings.WEBHOOK_HMAC_KEY = "hmac-key"
    raw = HOSTILE_UNAUTHENTICATED["nul"].encode()
    signature = "sha256=" + hmac.new(b"hmac-key", raw, hashlib.sha256).hexdigest()
    assert_one_line_error(post(client, raw, HTTP_X_SIGNATURE=signature), 400, "parse_error")


# --- 2. authenticated: hostile extra fields are refused with a reason, never a 500 ------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"a\\u0000b"', "NUL"),
        ('"\\udfff"', "surrogate"),
        ('{"k": ["\\ud83d"]}', "surrogate"),  # half an emoji, nested
        ("NaN", "NaN"),
        ("-Infinity", "-Infinity"),
        ("Infinity", "Infinity"),
        ("1e400", "too large"),
        ("-1e400", "too large"),
    ],
)
def test_webhook_valid_alert_with_hostile_extra_field_is_400_with_reason(
    client, signal_bot, value, words
):
    data = assert_one_line_error(post(client, with_raw_field("note", value)), 400, "parse_error")
    assert words in data["message"]
    assert Signal.objects.count() == 0


def test_webhook_valid_alert_with_odd_but_storable_extras_is_accepted(client, signal_bot):
    raw = with_raw_field("note", '{"big": 123456789012345678901234567890, "tiny": 1e-300}')
    assert post(client, raw).status_code == 202
    stored = Signal.objects.get().payload
    assert stored["note"]["big"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    "forwarded", ["garbage", "1.2.3.4:443", "[::1]:80", "1.2.3.4/32", "fe80::1%eth0"]
)
def test_webhook_with_forwarded_for_that_is_not_an_ip_is_400(
    client, settings, signal_bot, forwarded
):
    settings.WEBHOOK_TRUSTED_PROXIES = 1
    response = post(client, alert(), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    data = assert_one_line_error(response, 400, "bad_forwarded_for")
    assert "X-Forwarded-For" in data["message"]
    assert Signal.objects.count() == 0


def test_webhook_with_forwarded_ipv6_source_is_stored(client, settings, signal_bot):
    settings.WEBHOOK_TRUSTED_PROXIES = 1
    response = post(client, alert(), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="2001:db8::7")
    assert response.status_code == 202, response.content
    assert Signal.objects.get().source_ip == "2001:db8::7"


# --- 3. storage: bounded copies, rejected repeats counted on the first record ------------------


def test_webhook_two_mib_alert_is_stored_bounded_with_marker(client, signal_bot):
    filler = {f"field_{n}": "x" * 1000 for n in range(2100)}  # over 2 MiB of extra fields
    raw = json.dumps({**alert(), **filler})
    assert len(raw) > 2 * 1024 * 1024
    assert post(client, raw).status_code == 202
    stored = Signal.objects.get().payload
    assert encoded_size(stored) <= STORED_PAYLOAD_BYTES
    marker = stored[TRUNCATED_KEY]
    assert marker["received_bytes"] == len(raw.encode())
    assert marker["dropped_fields"] > 2000 and len(marker["dropped"]) <= 20
    assert stored["symbol"] == "BTCUSDT" and Decimal(stored["quote_amount"]) == 500  # kept
    assert stored["field_0"] == "x" * 1000  # extras are kept while they fit


def test_webhook_small_alert_is_stored_whole_without_marker(client, signal_bot):
    assert post(client, alert(note="hello")).status_code == 202
    stored = Signal.objects.get().payload
    assert stored["note"] == "hello" and TRUNCATED_KEY not in stored


def test_webhook_repeats_of_a_rejected_alert_are_counted_on_one_record(client, signal_bot):
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.PAUSED)
    answers = [
        post(client, alert(alert_id=f"paused-{n}", time=timezone.now().isoformat()))
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [422] * 4
    rejected = Signal.objects.get()  # one row for four deliveries
    assert rejected.outcome == Signal.Outcome.REJECTED and "paused" in rejected.detail
    assert rejected.payload["_repeats"]["count"] == 3
    assert rejected.payload["_repeats"]["last_seen"]
    assert {a.json()["extra"]["signal_id"] for a in answers} == {rejected.pk}
    assert answers[-1].json()["extra"]["repeats"] == 3
    # Another reason, or another alert, is another record.
    post(client, alert(symbol="SOLUSDT", alert_id="paused-sol"))
    assert Signal.objects.count() == 2


def test_webhook_rejected_alert_is_accepted_once_the_bot_runs_again(client, signal_bot):
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.PAUSED)
    assert post(client, alert(alert_id="later")).status_code == 422
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.RUNNING)
    assert post(client, alert(alert_id="later")).status_code == 202
    assert Signal.objects.filter(outcome=Signal.Outcome.REJECTED).count() == 1


def test_webhook_sender_cannot_forge_the_repeat_counter(client, signal_bot):
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.PAUSED)
    post(client, alert(_repeats={"count": 10**6}))
    assert "_repeats" not in Signal.objects.get().payload


# --- 9. a database restart is a 503 with Retry-After, not a 500 --------------------------------


@pytest.mark.postgres
def test_webhook_during_database_restart_is_503_with_retry_after(
    client, signal_bot, transactional_db
):
    """The web process's connection is cut by the server, as a PostgreSQL restart cuts it."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    try:
        response = post(client, alert())
        data = assert_one_line_error(response, 503, "database_unavailable")
        assert int(response["Retry-After"]) >= 1
        assert data["extra"]["retry_after_s"] == int(response["Retry-After"])
    finally:
        connection.close()
    assert post(client, alert()).status_code in (202, 422)  # the next request reconnects


@pytest.mark.postgres
def test_any_api_during_database_restart_is_503_not_500(admin_client_logged, transactional_db):
    """The global API error handler (apps/core/api_errors.py) answers every DRF endpoint so."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    try:
        response = admin_client_logged.get("/api/backtests/1/")
        assert_one_line_error(response, 503, "database_unavailable")
        assert int(response["Retry-After"]) >= 1
    finally:
        connection.close()
