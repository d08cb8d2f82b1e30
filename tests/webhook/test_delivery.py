"""Exactly once under concurrent duplicate deliveries (separate database connections, as several
web processes have), and the live path: a signal becomes an order on the fake Binance server."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.bots.models import Bot
from apps.orders.models import Order
from apps.strategies.models import Strategy
from apps.trading.models import Position, Signal
from apps.trading.replay import ensure_klines
from tests.factories import make_fake_live_bot
from tests.webhook.conftest import SECRET
from testsupport.fakebinance.testing import FakeInThread

URL = "/api/webhook/tradingview/"
pytestmark = pytest.mark.django_db(transaction=True)


def _body(**overrides: object) -> str:
    data = {
        "passphrase": SECRET,
        "bot": "tv-bot",
        "symbol": "BINANCE:BTCUSDT.P",
        "action": "buy",
        "quote_amount": "300",
        "alert_id": "storm-1",
        "time": timezone.now().isoformat(),
    }
    data.update(overrides)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_twenty_concurrent_identical_deliveries_place_exactly_one_order(signal_bot, eager):
    payload, n = _body(), 20
    barrier = threading.Barrier(n)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            barrier.wait(10)
            response = Client().post(URL, payload, content_type="text/plain")
            with lock:
                answers.append((response.status_code, response.json()))
        finally:
            connection.close()  # each thread had its own connection, like a web process

    threads = [threading.Thread(target=deliver) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(code for code, _ in answers)
    assert codes == [200] * (n - 1) + [202], answers
    assert len({body["signal_id"] for _, body in answers}) == 1
    assert Signal.objects.filter(bot=signal_bot).count() == 1
    signal = Signal.objects.get(bot=signal_bot)
    assert signal.outcome == Signal.Outcome.PLACED, signal.detail
    assert Order.objects.filter(bot=signal_bot, purpose="entry").count() == 1
    assert Position.objects.get(bot=signal_bot, symbol="BTCUSDT").quantity > 0


KEY, API_SECRET = "fake-key", "fake-secret"


@pytest.fixture
def fake():
    with FakeInThread(api_key=KEY, api_secret=API_SECRET) as fb:
        yield fb


@pytest.fixture
def live_signal_bot(fake, shared_data, settings) -> Bot:
    settings.WEBHOOK_SECRET = SECRET
    ensure_klines(
        symbol="BTCUSDT",
        interval="1h",
        start=datetime(2025, 9, 25, tzinfo=UTC),
        end=datetime(2025, 10, 1, tzinfo=UTC),
        data_dir=shared_data,
    )
    strategy = Strategy.objects.create(name="tv-live", kind="signal", timeframe="1h")
    bot = make_fake_live_bot(fake, name="tv-bot", strategy=strategy, key=KEY, secret=API_SECRET)
    return bot


def test_webhook_signal_for_live_bot_places_the_order_on_fake_binance(live_signal_bot, fake, eager):
    response = Client().post(URL, _body(alert_id="live-1"), content_type="application/json")
    assert response.status_code == 202, response.content
    signal = Signal.objects.get(pk=response.json()["signal_id"])
    assert signal.outcome == Signal.Outcome.PLACED, signal.detail
    entry = signal.order
    assert entry.status == "FILLED" and entry.exchange_order_id
    venue_position = fake.exchange.account.position("BTCUSDT", "BOTH").amt
    assert (
        Position.objects.get(bot=live_signal_bot, symbol="BTCUSDT").quantity == venue_position > 0
    )
    stop = Order.objects.get(bot=live_signal_bot, purpose="stop_loss")
    assert [a.client_algo_id for a in fake.exchange.algos.open_algos()] == [stop.client_order_id]

    close = Client().post(
        URL,
        _body(action="close", alert_id="live-2", quote_amount=None),
        content_type="application/json",
    )
    assert close.status_code == 202
    assert Signal.objects.get(pk=close.json()["signal_id"]).outcome == Signal.Outcome.PLACED
    assert fake.exchange.account.position("BTCUSDT", "BOTH").amt == 0
