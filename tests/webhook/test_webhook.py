"""POST /api/webhook/tradingview/ end to end: security, validation, exactly-once, and the paper
order the signal becomes (through the bot's risk gate and the same execution as candle cycles)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.bots.models import Bot
from apps.orders.models import Order
from apps.trading.models import Position, Signal
from apps.webhook.domain.security import hash_secret
from tests.factories import make_bot

pytestmark = pytest.mark.django_db

URL = "/api/webhook/tradingview/"
SECRET = "shared-secret-for-tests-0123456789"


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "passphrase": SECRET,
        "bot": "tv-bot",
        "symbol": "BTCUSDT.P",
        "action": "buy",
        "order_type": "market",
        "quote_amount": "500",
        "alert_id": "a-1",
        "time": timezone.now().isoformat().replace("+00:00", "Z"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client: Client, data: Any, **extra: Any):
    raw = data if isinstance(data, bytes | str) else json.dumps(data)
    return client.post(URL, raw, content_type=extra.pop("content_type", "text/plain"), **extra)


# --- security ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "passphrase", [None, "", "wrong", SECRET + "x", SECRET[:-1], 12345], ids=repr
)
def test_webhook_with_missing_or_wrong_passphrase_is_401_without_hint(
    client, signal_bot, passphrase
):
    response = post(client, body(passphrase=passphrase))
    assert response.status_code == 401
    assert response.json() == {
        "message": "Not authenticated.",
        "code": "not_authenticated",
        "extra": {},
    }
    assert Signal.objects.count() == 0


def test_webhook_401_for_unknown_bot_and_wrong_secret_are_identical(client, signal_bot):
    a = post(client, body(passphrase="nope"))
    b = post(client, body(passphrase="nope", bot="no-such-bot"))
    assert (a.status_code, a.content) == (b.status_code, b.content)


def test_webhook_secret_never_appears_in_stored_signal_or_admin(
    client, signal_bot, eager, admin_client_logged
):
    assert post(client, body()).status_code == 202
    signal = Signal.objects.get()
    assert "passphrase" not in signal.payload and SECRET not in json.dumps(signal.payload)
    page = admin_client_logged.get(f"/admin/trading/signal/{signal.pk}/change/")
    assert page.status_code == 200 and SECRET not in page.content.decode()


def test_webhook_with_bot_passphrase_authenticates_only_that_bot(client, settings, signal_bot):
    settings.WEBHOOK_SECRET = ""
    signal_bot.webhook_secret_hash = hash_secret("bot-own-passphrase-123456")
    signal_bot.save()
    other = make_bot("other-bot", strategy=signal_bot.strategy, state=Bot.State.RUNNING)
    other.webhook_secret_hash = hash_secret("other-passphrase-123456789")
    other.save()
    assert post(client, body(passphrase="bot-own-passphrase-123456")).status_code == 202
    assert post(client, body(passphrase=SECRET, alert_id="a-2")).status_code == 401
    wrong_bot = body(passphrase="other-passphrase-123456789", alert_id="a-3")
    assert post(client, wrong_bot).status_code == 401


def test_webhook_with_hmac_key_requires_a_valid_signature(client, settings, signal_bot):
    settings.WEBHOOK_HMAC_KEY = "hmac-key"
    raw = json.dumps(body()).encode()
    good = "sha256=" + hmac.new(b"hmac-key", raw, hashlib.sha256).hexdigest()
    assert post(client, raw).status_code == 401
    assert post(client, raw, HTTP_X_SIGNATURE="sha256=" + "0" * 64).status_code == 401
    tampered = raw.replace(b"500", b"900")
    assert post(client, tampered, HTTP_X_SIGNATURE=good).status_code == 401
    assert post(client, raw, HTTP_X_SIGNATURE=good).status_code == 202


def test_webhook_with_ip_allowlist_refuses_other_sources(client, settings, signal_bot):
    settings.WEBHOOK_ALLOWED_IPS = ["52.89.214.238", "10.0.0.0/8"]
    assert post(client, body(), REMOTE_ADDR="127.0.0.1").status_code == 401
    assert post(client, body(), REMOTE_ADDR="10.1.2.3").status_code == 202
    settings.WEBHOOK_TRUSTED_PROXIES = 1  # behind one reverse proxy: its X-Forwarded-For counts
    forwarded = post(
        client,
        body(alert_id="a-9"),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 52.89.214.238",
    )
    assert forwarded.status_code == 202
    spoofed = post(
        client,
        body(alert_id="a-10"),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="52.89.214.238, 6.6.6.6",
    )
    assert spoofed.status_code == 401


def test_webhook_throttles_failed_authentication_per_source_with_429(client, settings, signal_bot):
    settings.WEBHOOK_AUTH_FAILURE_RATE = "3/minute"
    codes = [
        post(client, body(passphrase="x"), REMOTE_ADDR="10.0.0.1").status_code for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    last = post(client, b"junk", REMOTE_ADDR="10.0.0.1")
    assert last.status_code == 429 and int(last["Retry-After"]) >= 1
    assert last.json()["code"] == "throttled"
    assert post(client, body(), REMOTE_ADDR="10.0.0.2").status_code == 202  # another source


def test_webhook_junk_from_a_shared_source_never_blocks_its_valid_alerts(
    client, settings, signal_bot
):
    settings.WEBHOOK_AUTH_FAILURE_RATE = "2/minute"
    tradingview = {"REMOTE_ADDR": "52.89.214.238"}
    for _ in range(5):
        post(client, body(passphrase="guess"), **tradingview)
        post(client, b"{not json", **tradingview)
    assert post(client, body(passphrase="guess"), **tradingview).status_code == 429
    accepted = post(client, body(alert_id="valid-from-shared"), **tradingview)
    assert accepted.status_code == 202
    assert Signal.objects.filter(alert_id="valid-from-shared").count() == 1


def test_webhook_throttles_authenticated_alerts_per_bot_with_429(client, settings, signal_bot):
    settings.WEBHOOK_THROTTLE_RATE = "2/minute"
    codes = [
        post(client, body(alert_id=f"r-{n}"), REMOTE_ADDR=f"10.0.1.{n}").status_code
        for n in range(3)
    ]
    assert codes == [202, 202, 429]  # three sources, one bot: the bot's rate
    assert Signal.objects.count() == 2
    assert post(client, body(passphrase="x"), REMOTE_ADDR="10.0.1.9").status_code == 401


@pytest.mark.redis
def test_webhook_throttle_counts_in_redis_across_processes(client, settings, signal_bot, redis_url):
    import redis

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "tp",
        }
    }
    settings.WEBHOOK_AUTH_FAILURE_RATE = "2/hour"
    assert post(client, body(passphrase="x"), REMOTE_ADDR="10.0.0.7").status_code == 401
    keys = redis.Redis.from_url(redis_url).keys("*webhook-authfail:*")
    assert len(keys) == 1  # the counter lives in Redis, shared by every web process
    redis.Redis.from_url(redis_url).incr(keys[0])  # another process's failed request
    assert post(client, body(passphrase="x"), REMOTE_ADDR="10.0.0.7").status_code == 429
    assert post(client, body(), REMOTE_ADDR="10.0.0.7").status_code == 202


# --- validation -------------------------------------------------------------------------------


def test_webhook_with_non_json_body_is_400(client, signal_bot):
    for raw in (b"buy BTCUSDT now", b"[1, 2]", b"\xff\xfe"):
        response = post(client, raw)
        assert response.status_code == 400 and response.json()["code"] == "parse_error"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"action": "hold"}, "action"),
        ({"symbol": "BTC USDT!"}, "symbol"),
        ({"quote_amount": "-5"}, "quote_amount"),
        ({"quote_amount": "abc"}, "quote_amount"),
        ({"quantity": "0.01"}, "quantity"),  # two sizes
        ({"order_type": "limit"}, "price"),
        ({"time": "yesterday"}, "time"),
        ({"time": None}, "time"),
        ({"bot": None}, "bot"),
    ],
)
def test_webhook_with_malformed_field_is_400_naming_it(client, signal_bot, overrides, field):
    response = post(client, body(**overrides))
    assert response.status_code == 400, response.content
    assert field in response.json()["extra"]["fields"]
    assert Signal.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"symbol": "FOOBARUSDT.P"}, "unknown symbol FOOBARUSDT"),
        ({"symbol": "SOLUSDT"}, "does not trade SOLUSDT"),
        ({"quote_amount": None, "quantity": "0.0001"}, "below the minimum"),
        ({"quote_amount": "20"}, "below the minimum order"),
        ({"bot": "ghost-bot"}, "unknown bot 'ghost-bot'"),
    ],
)
def test_webhook_with_unactionable_signal_is_422_with_reason(
    client, signal_bot, overrides, message
):
    response = post(client, body(**overrides))
    assert response.status_code == 422, response.content
    assert message in response.json()["message"]
    assert not Signal.objects.filter(outcome=Signal.Outcome.ACCEPTED).exists()


def test_webhook_for_paused_bot_is_422_and_recorded(client, signal_bot):
    signal_bot.state = Bot.State.PAUSED
    signal_bot.save()
    response = post(client, body())
    assert response.status_code == 422 and "is paused" in response.json()["message"]
    signal = Signal.objects.get(pk=response.json()["extra"]["signal_id"])
    assert signal.outcome == Signal.Outcome.REJECTED and "paused" in signal.detail


def test_webhook_with_stale_or_future_signal_is_422(client, signal_bot):
    old = (timezone.now() - timedelta(seconds=61)).isoformat()
    response = post(client, body(time=old))
    assert response.status_code == 422 and response.json()["code"] == "stale"
    assert "older than 60 s" in response.json()["message"]
    future = (timezone.now() + timedelta(minutes=5)).isoformat()
    assert post(client, body(time=future)).status_code == 422
    signal_bot.strategy.parameters = {"max_signal_age_s": 600}  # the bot's own limit
    signal_bot.strategy.save()
    assert post(client, body(time=old)).status_code == 202


# --- exactly once -----------------------------------------------------------------------------


def test_webhook_repeat_alert_id_is_200_with_first_signal_and_places_nothing(
    client, signal_bot, eager
):
    first = post(client, body())
    assert first.status_code == 202
    orders = Order.objects.count()
    again = post(client, body(time=timezone.now().isoformat()))  # same alert id, later
    assert again.status_code == 200
    assert again.json() == {
        "signal_id": first.json()["signal_id"],
        "status": "placed",
        "duplicate": True,
    }
    assert Signal.objects.count() == 1 and Order.objects.count() == orders


def test_webhook_same_body_without_alert_id_in_window_is_a_repeat(client, signal_bot):
    data = body(alert_id=None)
    assert post(client, data).status_code == 202
    assert post(client, data).status_code == 200
    assert post(client, {**data, "quote_amount": "600"}).status_code == 202  # another body
    assert Signal.objects.count() == 2


# --- the order it becomes ---------------------------------------------------------------------


def test_webhook_buy_then_close_trades_on_the_paper_exchange(client, signal_bot, eager):
    response = post(client, body(stop_loss="100000", take_profit="125000"))
    assert response.status_code == 202
    signal = Signal.objects.get(pk=response.json()["signal_id"])
    assert signal.outcome == Signal.Outcome.PLACED, signal.detail
    assert signal.symbol == "BTCUSDT" and signal.alert_id == "a-1"
    entry = signal.order
    assert entry.purpose == "entry" and entry.status == "FILLED"
    assert f"s{signal.pk}" in entry.client_order_id
    position = Position.objects.get(bot=signal_bot, symbol="BTCUSDT")
    notional = position.quantity * position.entry_price
    assert Decimal(450) < notional <= Decimal(500)  # quote_amount 500, snapped down
    stop = Order.objects.get(bot=signal_bot, purpose="stop_loss")
    assert stop.status == "NEW" and stop.trigger_price == Decimal("100000")

    close = post(client, body(action="close", alert_id="a-2", quote_amount=None))
    assert close.status_code == 202
    closed = Signal.objects.get(pk=close.json()["signal_id"])
    assert closed.outcome == Signal.Outcome.PLACED and closed.order.purpose == "exit"
    assert Position.objects.get(bot=signal_bot, symbol="BTCUSDT").quantity == 0


def test_webhook_buy_blocked_by_risk_gate_records_the_rule(client, signal_bot, eager):
    from apps.risk.models import RiskSettings

    RiskSettings.objects.update_or_create(bot=signal_bot, defaults={"max_open_positions": 1})
    assert post(client, body()).status_code == 202
    response = post(client, body(symbol="ETHUSDT", alert_id="a-eth"))
    signal = Signal.objects.get(pk=response.json()["signal_id"])
    assert signal.outcome == Signal.Outcome.BLOCKED
    assert signal.blocked_by == "MAX_OPEN_POSITIONS" and "max open positions" in signal.detail


def test_webhook_limit_below_the_ask_is_rejected_without_an_order(client, signal_bot, eager):
    response = post(client, body(order_type="limit", price="1000", stop_loss="900"))
    signal = Signal.objects.get(pk=response.json()["signal_id"])
    assert signal.outcome == Signal.Outcome.REJECTED and "below the ask" in signal.detail
    assert not Order.objects.filter(bot=signal_bot).exists()


def test_webhook_quantity_above_risk_size_is_capped(client, signal_bot, eager):
    response = post(client, body(quote_amount=None, quantity="50"))
    signal = Signal.objects.get(pk=response.json()["signal_id"])
    assert signal.outcome == Signal.Outcome.PLACED
    assert "capped" in signal.detail
    assert Position.objects.get(bot=signal_bot, symbol="BTCUSDT").quantity < 50
