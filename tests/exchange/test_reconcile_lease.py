"""Reconciliation under the bot's lease, on the fake Binance server through the real adapter and
the real task: a run never re-places a "missing" stop beside the one an in-flight signal is
placing (issue 10, finding 5: two STOP_MARKET SELL orders for one position)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from apps.bots.lease import CycleBusy, bot_lock, lease_holder
from apps.bots.models import Bot
from apps.exchange.domain.types import OrderRequest, OrderType, Side
from apps.exchange.live import open_exchange
from apps.orders.domain.accounting import bot_client_order_id
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_create
from apps.strategies.models import Strategy
from apps.trading.engine.reconcile import reconcile_bot_now
from apps.trading.models import Position, Trade
from apps.trading.tasks import reconcile_bot_task
from tests.factories import make_fake_live_bot
from testsupport.fakebinance.testing import FakeInThread

# The holder acts from another thread, on its own database connection: it must see the rows.
pytestmark = pytest.mark.django_db(transaction=True)

KEY, SECRET = "fake-key", "fake-secret"
QTY = Decimal("0.002")


@pytest.fixture(autouse=True)
def no_leases_left():
    cache.clear()  # the suite's cache is the process's memory: no lease of an earlier test
    yield
    cache.clear()


@pytest.fixture
def fake():
    with FakeInThread(api_key=KEY, api_secret=SECRET) as fb:
        yield fb


@pytest.fixture
def live_bot(fake) -> Bot:
    strategy = Strategy.objects.create(name="ema-live", kind="ema_cross", timeframe="1h")
    return make_fake_live_bot(fake, name="live-btc", strategy=strategy, key=KEY, secret=SECRET)


def _send(bot: Bot, request: OrderRequest, purpose: str, trade: Trade | None = None) -> Order:
    """Record the intent, send it to the venue, record the answer (the execution path's way)."""
    order = order_create(bot=bot, request=request, purpose=purpose, trade=trade)

    async def place():
        async with open_exchange(bot) as exchange:
            return await exchange.place_order(request)

    return order_apply_report(order=order, report=async_to_sync(place)(), at=timezone.now())


def _venue_stops(fake) -> list[str]:
    return [a.client_algo_id for a in fake.exchange.algos.open_algos()]


@pytest.fixture
def long_without_stop(live_bot, fake) -> Position:
    """A live long whose stop price is known and whose stop is not on the venue."""
    entry = OrderRequest(
        "BTCUSDT",
        Side.BUY,
        OrderType.MARKET,
        quantity=QTY,
        client_order_id=bot_client_order_id(live_bot.pk, "BTCUSDT", "entry", 1),
    )
    _send(live_bot, entry, Order.Purpose.ENTRY)
    reconcile_bot_now(bot=live_bot, at=timezone.now())  # books the fill: trade and position
    position = Position.objects.get(bot=live_bot, symbol="BTCUSDT")
    assert position.quantity == QTY and _venue_stops(fake) == []
    stop = (fake.price("BTCUSDT") * Decimal("0.97")).quantize(Decimal("0.1"))
    Position.objects.filter(pk=position.pk).update(stop_price=stop)
    position.refresh_from_db()
    return position


def test_reconcile_while_a_signal_places_its_stop_waits_and_places_no_second_stop(
    live_bot, fake, long_without_stop
) -> None:
    trade = Trade.objects.get(bot=live_bot, status="OPEN")
    held, failures = threading.Event(), []

    def signal_in_flight() -> None:
        """Holds the bot's lease as a signal does, and places the trade's stop meanwhile."""
        try:
            with bot_lock(live_bot.pk) as lease:
                held.set()
                time.sleep(0.5)  # the reconcile task starts now, while the stop is not placed
                lease.check()
                stop = OrderRequest(
                    "BTCUSDT",
                    Side.SELL,
                    OrderType.STOP_MARKET,
                    quantity=QTY,
                    trigger_price=long_without_stop.stop_price,
                    reduce_only=True,
                    client_order_id=bot_client_order_id(live_bot.pk, "BTCUSDT", "sl", trade.pk),
                )
                _send(live_bot, stop, Order.Purpose.STOP_LOSS, trade=trade)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=signal_in_flight)
    holder.start()
    assert held.wait(10)
    started = time.monotonic()
    report = reconcile_bot_task(live_bot.pk)  # waits for the bot, then acts
    waited = time.monotonic() - started
    holder.join(10)

    assert not failures, failures
    stops = _venue_stops(fake)
    assert len(stops) == 1, stops  # one stop for one position, the signal's
    assert report["stops_replaced"] == 0 and not report["halted"], report
    assert waited >= 0.3  # it did not act while the signal held the bot
    [recorded] = Order.objects.filter(bot=live_bot, purpose="stop_loss")
    assert recorded.client_order_id == stops[0] and recorded.status == "NEW"
    assert lease_holder(live_bot.pk) is None


def test_reconcile_of_a_bot_busy_past_the_wait_skips_it_then_places_the_stop(
    live_bot, fake, long_without_stop
) -> None:
    with bot_lock(live_bot.pk):  # a cycle in flight for longer than reconcile waits
        with pytest.raises(CycleBusy):
            reconcile_bot_now(bot=live_bot, at=timezone.now(), wait=0.2)
        assert _venue_stops(fake) == []
        assert not Order.objects.filter(bot=live_bot, purpose="stop_loss").exists()

    report = reconcile_bot_task(live_bot.pk)  # the next round, the bot free

    assert report["stops_replaced"] == 1, report
    assert len(_venue_stops(fake)) == 1
