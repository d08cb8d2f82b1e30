"""A live position whose stop was lost on the venue gets it back once, whoever looks first: the
live cycle and reconciliation put it back through the same runner step
(``CycleRunner.protect_open_position``), so each finds the stop the other placed."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from apps.bots.models import Bot
from apps.exchange.live import open_exchange
from apps.orders.models import Order
from apps.trading.engine import bot_cycle_run
from apps.trading.engine.reconcile import reconcile_bot_now
from apps.trading.models import Position
from tests.trading.conftest import LAST

pytestmark = pytest.mark.django_db
HOUR_MS = 3_600_000


def _venue_stops(fake) -> list[str]:
    return [a.client_algo_id for a in fake.exchange.algos.open_algos()]


def _cancel_on_venue(bot: Bot, client_order_id: str) -> None:
    """Someone cancels the stop on the venue (by hand, a venue incident)."""

    async def cancel() -> None:
        async with open_exchange(bot) as exchange:
            await exchange.cancel_order("BTCUSDT", client_order_id)

    async_to_sync(cancel)()


def _check_the_stop(bot: Bot, fake) -> Order:
    """One stop on the venue: our recorded reduce-only stop-market for the whole position."""
    (cid,) = _venue_stops(fake)
    stop = Order.objects.get(bot=bot, client_order_id=cid)
    position = Position.objects.get(bot=bot, symbol="BTCUSDT")
    assert (stop.status, stop.type, stop.side, stop.purpose) == (
        "NEW", "STOP_MARKET", "SELL", "stop_loss"
    )  # fmt: skip
    assert stop.reduce_only and stop.quantity == position.quantity
    assert stop.trigger_price == position.stop_price
    return stop


def test_lost_stop_is_put_back_once_by_reconciliation_or_by_the_next_live_cycle(
    live_bot, fake
) -> None:
    now = timezone.now
    assert (
        bot_cycle_run(
            bot_id=live_bot.pk, symbol="BTCUSDT", candle_open_time=LAST - 3 * HOUR_MS, now=now()
        ).outcome
        == "enter"
    )
    first = _check_the_stop(live_bot, fake)

    _cancel_on_venue(live_bot, first.client_order_id)
    report = reconcile_bot_now(bot=live_bot, at=now())  # reconciliation looks first
    assert report.stops_replaced == 1, report
    second = _check_the_stop(live_bot, fake)
    assert second.client_order_id != first.client_order_id
    assert Order.objects.get(pk=first.pk).status == "CANCELED"
    bot_cycle_run(
        bot_id=live_bot.pk, symbol="BTCUSDT", candle_open_time=LAST - 2 * HOUR_MS, now=now()
    )  # the cycle finds reconciliation's stop and places none
    assert _check_the_stop(live_bot, fake) == second

    _cancel_on_venue(live_bot, second.client_order_id)
    bot_cycle_run(
        bot_id=live_bot.pk, symbol="BTCUSDT", candle_open_time=LAST - HOUR_MS, now=now()
    )  # the live cycle looks first
    third = _check_the_stop(live_bot, fake)
    assert third.client_order_id not in (first.client_order_id, second.client_order_id)
    assert reconcile_bot_now(bot=live_bot, at=now()).stops_replaced == 0
    assert _check_the_stop(live_bot, fake) == third
    assert Order.objects.filter(bot=live_bot, purpose="stop_loss").count() == 3
