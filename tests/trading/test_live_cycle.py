"""A live (testnet) bot's cycle through the real Binance adapter against the fake Binance
server: the same engine as paper trading, only the venue differs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

import apps.trading.engine.cycle as engine_cycle
from apps.bots.models import Bot
from apps.exchange.fakebinance.testing import FakeInThread
from apps.orders.models import Order
from apps.strategies.domain.base import Action, Decision
from apps.strategies.domain.registry import build_strategy
from apps.strategies.models import Strategy
from apps.trading.engine import bot_cycle_run, killswitch_engage
from apps.trading.models import Position, Trade
from apps.trading.replay import ensure_klines
from tests.factories import make_fake_live_bot, make_instruments

pytestmark = pytest.mark.django_db

KEY, SECRET = "fake-key", "fake-secret"
LAST = int(datetime(2025, 9, 30, 23, tzinfo=UTC).timestamp() * 1000)  # the fake's last candle


class EnterLongNow:
    """Wraps the real ema_cross strategy but enters long on the decided candle: the signal
    logic is tested elsewhere, this test is about the live execution path."""

    def __init__(self) -> None:
        self.inner = build_strategy("ema_cross", {})
        self.warmup_candles = self.inner.warmup_candles
        self.min_candles = self.inner.min_candles

    def decide(self, candles, position=None):
        if position is not None:
            return None
        close = Decimal(repr(float(candles.close[-1])))
        return Decision(
            Action.ENTER_LONG,
            len(candles.close) - 1,
            int(candles.open_time[-1]),
            close,
            stop_price=(close * Decimal("0.97")).quantize(Decimal("0.1")),
            reason="test entry",
        )


@pytest.fixture
def fake():
    with FakeInThread(api_key=KEY, api_secret=SECRET) as fb:
        yield fb


@pytest.fixture
def live_bot(fake, shared_data, monkeypatch) -> Bot:
    make_instruments()
    ensure_klines(
        symbol="BTCUSDT",
        interval="1h",
        start=datetime(2025, 8, 1, tzinfo=UTC),
        end=datetime(2025, 10, 1, tzinfo=UTC),
        data_dir=shared_data,
    )
    strategy = Strategy.objects.create(name="ema-live", kind="ema_cross", timeframe="1h")
    bot = make_fake_live_bot(fake, name="live-btc", strategy=strategy, key=KEY, secret=SECRET)
    monkeypatch.setattr(engine_cycle, "build_strategy", lambda kind, params: EnterLongNow())
    return bot


def _fake_position(fake) -> Decimal:
    return fake.exchange.account.position("BTCUSDT", "BOTH").amt


def test_live_cycle_with_entry_places_orders_on_the_venue_and_mirrors_them(live_bot, fake):
    result = bot_cycle_run(
        bot_id=live_bot.pk, symbol="BTCUSDT", candle_open_time=LAST, now=timezone.now()
    )
    assert result.outcome == "enter", result
    entry = Order.objects.filter(bot=live_bot, purpose="entry", status="FILLED").first()
    assert entry is not None and entry.exchange_order_id and entry.slippage_bps is not None
    stop = Order.objects.get(bot=live_bot, purpose="stop_loss")
    assert stop.status == "NEW" and stop.algo_id  # a conditional order on the Algo Order API
    assert [a.client_algo_id for a in fake.exchange.algos.open_algos()] == [stop.client_order_id]
    assert Order.objects.filter(bot=live_bot, purpose="take_profit", status="NEW").exists()
    position = Position.objects.get(bot=live_bot, symbol="BTCUSDT")
    assert position.quantity == _fake_position(fake) > 0  # the database matches the venue
    assert Trade.objects.get(bot=live_bot).status == "OPEN"


def test_live_kill_switch_with_open_position_flattens_the_venue(live_bot, fake):
    bot_cycle_run(bot_id=live_bot.pk, symbol="BTCUSDT", candle_open_time=LAST, now=timezone.now())
    assert _fake_position(fake) > 0
    [report] = killswitch_engage(reason="drill", now=timezone.now(), bot_names=[live_bot.name])
    assert report.open_positions_left == 0 and report.open_orders_left == 0
    assert _fake_position(fake) == 0
    assert not [o for o in fake.exchange.engine.orders.values() if o.status == "NEW"]
    assert fake.exchange.algos.open_algos() == []  # the stop-market is gone too
    assert Trade.objects.get(bot=live_bot).status == "CLOSED"


def test_live_market_data_sync_with_running_live_bot_stores_closed_candles(live_bot, fake):
    from apps.market.models import Kline
    from apps.trading.tasks import sync_market_data

    Kline.objects.filter(symbol="BTCUSDT", open_time__gt=LAST - 10 * 3_600_000).delete()
    stored = sync_market_data()
    assert stored["BTCUSDT-1h"] == 10  # the ten candles deleted came back from the venue
    last = Kline.objects.filter(symbol="BTCUSDT", interval="1h").order_by("-open_time").first()
    assert last.open_time == LAST
    assert sync_market_data()["BTCUSDT-1h"] == 0  # idempotent
