"""Reconciliation against the real SimulatedExchange: missed fills, mismatches, stops, adoption."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.bots.lease import CycleBusy, LeaseLost, bot_lock, lease_holder
from apps.bots.models import Bot
from apps.exchange.domain.types import OrderBook, OrderRequest, OrderType, Side
from apps.orders.domain.accounting import bot_client_order_id
from apps.orders.models import Fill, Order
from apps.orders.services import order_create
from apps.trading.engine.reconcile import reconcile_bot
from apps.trading.models import Position, Trade
from apps.trading.tasks import reconcile_bot_task
from tests.factories import make_bot
from tests.orders.execution import make_sim, request, run, send

pytestmark = pytest.mark.django_db

D = Decimal
_PROVIDED: dict[str, object] = {}


def provider(bot: Bot) -> object:
    """EXCHANGE_PROVIDER for the task and command tests."""
    return _PROVIDED["exchange"]


@pytest.fixture
def bot():
    return make_bot(state=Bot.State.RUNNING)


@pytest.fixture
def sim():
    exchange, feeder = make_sim("60000")
    exchange.set_book(
        "BTCUSDT",
        OrderBook.from_levels("BTCUSDT", [(D("59990"), D("5"))], [(D("60000"), D("5"))]),
    )
    return exchange, feeder


def reconcile(bot, feeder):
    return reconcile_bot(bot=bot, exchange=feeder.exchange, at=feeder.clock.now)


def open_long_with_stop(bot, feeder, stop: str = "59000") -> None:
    send(bot, feeder, request(bot, "entry", Side.BUY, "0.010"), expected_price=D("60000"))
    Position.objects.filter(bot=bot, symbol="BTCUSDT").update(stop_price=D(stop))


def stops_on_exchange(exchange) -> list:
    return [o for o in run(exchange.open_orders("BTCUSDT")) if o.type is OrderType.STOP_MARKET]


def test_reconcile_with_order_filled_while_down_applies_fill_and_opens_trade(bot, sim) -> None:
    _exchange, feeder = sim
    limit = request(bot, "entry", Side.BUY, "0.010", type=OrderType.LIMIT, price=D("59500"))
    order, _ = send(bot, feeder, limit)
    assert order.status == "NEW"
    feeder.bar("60000", "60100", "59000", "59800")  # fills on the exchange; nobody listens

    report = reconcile(bot, feeder)

    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("FILLED", D("0.010"))
    assert (report.orders_updated, report.fills_applied, report.halted) == (1, 1, False)
    trade = Trade.objects.get()
    assert (trade.status, trade.side, trade.entry_price) == ("OPEN", "LONG", D("59500"))
    assert Position.objects.get().quantity == D("0.010")
    assert Bot.objects.get(pk=bot.pk).state == Bot.State.RUNNING

    again = reconcile(bot, feeder)
    assert (again.orders_updated, again.fills_applied) == (0, 0)
    assert Fill.objects.count() == 1


def test_reconcile_with_fill_matched_by_exchange_order_id_applies_it(bot, sim, monkeypatch) -> None:
    exchange, feeder = sim
    limit = request(bot, "entry", Side.BUY, "0.010", type=OrderType.LIMIT, price=D("59500"))
    send(bot, feeder, limit)
    feeder.bar("60000", "60100", "59000", "59800")
    original = exchange.user_trades

    async def trades_without_client_ids(symbol, start=None, end=None, limit=500):
        from dataclasses import replace

        return [replace(f, client_order_id="") for f in await original(symbol, start, end, limit)]

    monkeypatch.setattr(exchange, "user_trades", trades_without_client_ids)  # as Binance sends

    assert reconcile(bot, feeder).fills_applied == 1
    assert Trade.objects.get().entry_price == D("59500")


def test_reconcile_with_position_mismatch_halts_bot_naming_the_figures(bot, sim) -> None:
    exchange, feeder = sim
    run(exchange.place_market_order("BTCUSDT", Side.BUY, D("0.010"), client_order_id="manual-1"))

    report = reconcile(bot, feeder)

    bot.refresh_from_db()
    assert report.halted
    assert bot.state == Bot.State.HALTED
    assert bot.state_reason == report.reason
    assert "BTCUSDT" in report.reason
    assert "DB 0 vs exchange 0.01" in report.reason
    assert report.stops_replaced == 0
    assert not Order.objects.exists()  # the foreign order is not ours to adopt


def test_reconcile_with_mismatch_gone_on_second_look_does_not_halt(bot, sim, monkeypatch) -> None:
    exchange, feeder = sim
    limit = request(bot, "entry", Side.BUY, "0.010", type=OrderType.LIMIT, price=D("59500"))
    send(bot, feeder, limit)
    feeder.bar("60000", "60100", "59000", "59800")
    real_positions = exchange.positions
    calls = []

    async def stale_then_real(symbol=None):
        calls.append(symbol)
        return [] if len(calls) == 1 else await real_positions(symbol)

    monkeypatch.setattr(exchange, "positions", stale_then_real)

    report = reconcile(bot, feeder)

    assert not report.halted
    assert len(calls) == 2
    assert "agreed on a second look" in report.notes[-1]
    assert Bot.objects.get(pk=bot.pk).state == Bot.State.RUNNING


def test_reconcile_with_mismatch_and_stop_price_places_no_stop(bot, sim) -> None:
    exchange, feeder = sim
    open_long_with_stop(bot, feeder)
    run(exchange.place_market_order("BTCUSDT", Side.BUY, D("0.005"), client_order_id="manual-2"))

    report = reconcile(bot, feeder)

    assert report.halted
    assert "DB 0.01 vs exchange 0.015" in report.reason
    assert stops_on_exchange(exchange) == []


def test_reconcile_with_missing_stop_replaces_it_exactly_once(bot, sim) -> None:
    exchange, feeder = sim
    open_long_with_stop(bot, feeder, stop="59000")

    first = reconcile(bot, feeder)
    second = reconcile(bot, feeder)

    assert (first.stops_replaced, second.stops_replaced) == (1, 0)
    assert not first.halted and not second.halted
    (stop,) = stops_on_exchange(exchange)
    assert (stop.side, stop.quantity, stop.trigger_price) == (Side.SELL, D("0.010"), D("59000"))
    assert stop.reduce_only
    order = Order.objects.get(purpose=Order.Purpose.STOP_LOSS)
    assert order.client_order_id == stop.client_order_id
    assert order.client_order_id.startswith(f"b{bot.pk}-")
    assert order.status == "NEW"
    assert order.trade == Trade.objects.get()


def test_reconcile_with_canceled_stop_replaces_it_with_a_new_id(bot, sim) -> None:
    exchange, feeder = sim
    open_long_with_stop(bot, feeder)
    reconcile(bot, feeder)
    (stop,) = stops_on_exchange(exchange)
    run(exchange.cancel_order("BTCUSDT", stop.client_order_id))  # someone canceled it

    report = reconcile(bot, feeder)

    assert (report.orders_updated, report.stops_replaced) == (1, 1)
    (replacement,) = stops_on_exchange(exchange)
    assert replacement.client_order_id != stop.client_order_id
    assert Order.objects.get(client_order_id=stop.client_order_id).status == "CANCELED"


def test_reconcile_with_stop_beyond_market_records_rejection_and_alert(bot, sim) -> None:
    exchange, feeder = sim
    open_long_with_stop(bot, feeder, stop="60500")  # above the market: would trigger at once

    report = reconcile(bot, feeder)

    assert report.stops_replaced == 0
    assert any("could not re-place stop" in note for note in report.notes)
    order = Order.objects.get(purpose=Order.Purpose.STOP_LOSS)
    assert order.status == "REJECTED"
    assert stops_on_exchange(exchange) == []


def test_reconcile_with_unknown_open_order_of_our_prefix_adopts_it(bot, sim) -> None:
    exchange, feeder = sim
    ours = bot_client_order_id(bot.pk, "BTCUSDT", "entry", 7)
    for cid in (ours, "someone-else-1"):
        run(
            exchange.place_order(
                OrderRequest(
                    symbol="BTCUSDT",
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=D("0.010"),
                    price=D("59000"),
                    client_order_id=cid,
                )
            )
        )

    report = reconcile(bot, feeder)

    assert report.orders_adopted == 1
    order = Order.objects.get()
    assert order.client_order_id == ours
    assert (order.bot, order.purpose, order.status, order.type) == (bot, "entry", "NEW", "LIMIT")
    assert order.price == D("59000")
    assert order.exchange_order_id
    assert reconcile(bot, feeder).orders_adopted == 0


def test_reconcile_with_order_that_never_reached_exchange_expires_it(bot, sim) -> None:
    exchange, _feeder = sim
    req = request(bot, "entry", Side.BUY, "0.010")
    order = order_create(bot=bot, request=req, purpose=Order.Purpose.ENTRY)

    fresh = reconcile_bot(bot=bot, exchange=exchange, at=timezone.now())
    order.refresh_from_db()
    assert (fresh.orders_updated, order.status) == (0, "PENDING_NEW")  # may still be in flight

    later = reconcile_bot(bot=bot, exchange=exchange, at=timezone.now() + timedelta(minutes=5))
    order.refresh_from_db()
    assert (later.orders_updated, order.status) == (1, "EXPIRED")


def test_reconcile_task_with_bot_id_returns_report_dict(bot, sim, settings) -> None:
    exchange, feeder = sim
    settings.EXCHANGE_PROVIDER = "tests.exchange.test_reconciliation.provider"
    _PROVIDED["exchange"] = exchange
    open_long_with_stop(bot, feeder)

    outcome = reconcile_bot_task.apply(args=[bot.pk])  # JSON args, run in-process

    assert outcome.status == "SUCCESS", outcome.traceback
    result = outcome.result
    assert result["stops_replaced"] == 1
    assert result["halted"] is False
    assert reconcile_bot_task.name == "exchange.reconcile_bot"


def test_reconcile_command_with_mismatch_reports_and_fails(bot, sim, settings, capsys) -> None:
    exchange, _ = sim
    settings.EXCHANGE_PROVIDER = "tests.exchange.test_reconciliation.provider"
    _PROVIDED["exchange"] = exchange
    run(exchange.place_market_order("BTCUSDT", Side.BUY, D("0.010"), client_order_id="manual-3"))

    with pytest.raises(CommandError, match="1 bot"):
        call_command("reconcile", bot.name)

    assert "HALTED: reconcile: position mismatch BTCUSDT" in capsys.readouterr().out


def test_reconcile_command_without_provider_fails_with_one_line(bot, settings) -> None:
    settings.EXCHANGE_PROVIDER = ""
    with pytest.raises(CommandError, match="no exchange provider configured"):
        call_command("reconcile", bot.name)


# --- the bot's lease: reconciliation acts on the bot as a cycle, a signal or the kill switch ---
@pytest.fixture
def no_leases():
    cache.clear()  # the suite's cache is the process's memory: no lease of an earlier test
    yield
    cache.clear()


def test_reconcile_while_a_cycle_holds_the_lease_writes_nothing_until_it_is_released(
    bot, sim, no_leases, caplog
) -> None:
    exchange, feeder = sim
    open_long_with_stop(bot, feeder, stop="59000")  # a position whose stop is "missing"
    orders_before = list(Order.objects.values_list("client_order_id", "status"))

    with bot_lock(bot.pk):  # a cycle (or a signal) is in flight on the bot
        with pytest.raises(CycleBusy):
            reconcile_bot(bot=bot, exchange=exchange, at=feeder.clock.now, wait=0.2)
        assert stops_on_exchange(exchange) == []  # no stop placed beside the holder's
        assert list(Order.objects.values_list("client_order_id", "status")) == orders_before
        assert Bot.objects.get(pk=bot.pk).state == Bot.State.RUNNING
    assert f"reconcile {bot.name}: skipped, the bot stayed busy" in caplog.text

    report = reconcile(bot, feeder)  # the holder is done: the next round acts

    assert report.stops_replaced == 1
    assert len(stops_on_exchange(exchange)) == 1
    assert lease_holder(bot.pk) is None  # released after the run


def test_reconcile_with_the_callers_lease_runs_without_waiting_for_itself(
    bot, sim, no_leases
) -> None:
    exchange, feeder = sim
    open_long_with_stop(bot, feeder, stop="59000")

    with bot_lock(bot.pk, wait=0.1, steal=True) as lease:  # as the kill switch holds it
        report = reconcile_bot(bot=bot, exchange=exchange, at=feeder.clock.now, lease=lease, wait=0)
        lease.check()  # still the caller's: not taken again, not released by the run

    assert report.stops_replaced == 1
    assert lease_holder(bot.pk) is None


def test_reconcile_whose_lease_is_taken_over_sends_and_records_no_stop(
    bot, sim, no_leases, monkeypatch
) -> None:
    exchange, feeder = sim
    open_long_with_stop(bot, feeder, stop="59000")
    real_instrument = exchange.instrument

    async def kill_switch_takes_over(symbol):
        cache.set(f"bot-lock:{bot.pk}", "kill-switch:1:1:x", timeout=15)  # bot_lock(steal=True)
        return await real_instrument(symbol)

    monkeypatch.setattr(exchange, "instrument", kill_switch_takes_over)  # just before the stop

    with pytest.raises(LeaseLost):
        reconcile(bot, feeder)

    assert stops_on_exchange(exchange) == []
    assert not Order.objects.filter(purpose=Order.Purpose.STOP_LOSS).exists()
    assert lease_holder(bot.pk) == "kill-switch:1:1:x"  # the run left the new holder's lease
