"""A live (testnet) bot's cycle through the real Binance adapter against the fake Binance
server: the same engine as paper trading, only the venue differs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.orders.models import Order
from apps.trading.engine import bot_cycle_run, killswitch_engage
from apps.trading.models import Position, Trade
from tests.trading.conftest import LAST

pytestmark = pytest.mark.django_db


def _fake_position(fake) -> Decimal:
    return fake.exchange.account.position("BTCUSDT", "BOTH").amt


def test_live_cycle_with_entry_places_orders_on_the_venue_and_mirrors_them(live_bot, fake):
    account = fake.exchange.account
    assert account.lev("BTCUSDT") == 20 and account.margin_type.get("BTCUSDT", "cross") == "cross"
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
    # the venue trades it at the bot's leverage and margin type, not Binance's 20x cross
    assert account.lev("BTCUSDT") == live_bot.leverage == 3
    assert account.margin_type["BTCUSDT"] == "isolated"


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
