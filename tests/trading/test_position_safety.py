"""Never lose a position: exit orders die with their trade, the kill switch trusts the venue, a
crash between sending and recording loses nothing, a dead holder's lease never blocks the bot.

Live bots trade through the real Binance adapter on the fake Binance server (its HTTP control
endpoints move the market, as in a real deployment); paper bots on their simulated exchange.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.utils import timezone

import apps.trading.engine.store as engine_store
from apps.bots.lease import CycleBusy, LeaseLost, bot_lock, lease_holder
from apps.bots.models import Bot
from apps.exchange.domain.types import OrderRequest, OrderType, Side
from apps.exchange.live import open_exchange
from apps.orders.domain.accounting import bot_client_order_id
from apps.orders.models import Fill, Order
from apps.trading.engine import bot_cycle_run, killswitch_engage
from apps.trading.models import BotCycle, FundingPayment, Position, Trade
from apps.trading.tasks import reconcile_bot_task
from apps.trading.venues import Runner, venue_open
from tests.trading.conftest import LAST

pytestmark = pytest.mark.django_db
HOUR = 3_600_000


@pytest.fixture(autouse=True)
def no_leases_left():
    cache.clear()  # the suite's cache is the process's memory: no lease of an earlier test


def _post(fake, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        fake.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _set_price(fake, price: Decimal) -> None:
    _post(fake, "/_fake/price", {"symbol": "BTCUSDT", "price": str(price)})


def _venue_position(fake) -> Decimal:
    return fake.exchange.account.position("BTCUSDT", "BOTH").amt


def _venue_open_algos(fake) -> list[str]:
    return [a.client_algo_id for a in fake.exchange.algos.open_algos()]


def _cycle(bot: Bot, open_time: int = LAST):
    return bot_cycle_run(
        bot_id=bot.pk, symbol="BTCUSDT", candle_open_time=open_time, now=timezone.now()
    )


# --- exit orders die with their trade ---------------------------------------------------------
def test_stopped_out_trade_take_profits_are_canceled_and_never_fill_the_next_trade(live_bot, fake):
    assert _cycle(live_bot).outcome == "enter"
    first = Trade.objects.get(bot=live_bot)
    stop = Order.objects.get(bot=live_bot, purpose="stop_loss")
    tps = list(Order.objects.filter(bot=live_bot, purpose="take_profit"))
    assert tps and all(o.trade_id == first.pk for o in [stop, *tps])  # bound to their trade
    price = fake.price("BTCUSDT")
    _set_price(fake, stop.trigger_price * Decimal("0.99"))  # the stop triggers on the venue
    assert _venue_position(fake) == 0
    _set_price(fake, price)  # and the market comes back
    # The next cycle books the stop-out, cancels the trade's take-profits, then enters again.
    assert _cycle(live_bot, LAST - HOUR).outcome == "enter"
    first.refresh_from_db()
    assert first.status == "CLOSED" and first.exit_reason == "stop_loss"
    for tp in tps:
        tp.refresh_from_db()
        assert tp.status == "CANCELED", tp
        assert tp.client_order_id not in _venue_open_algos(fake)
    second = Trade.objects.get(bot=live_bot, status="OPEN")
    # The market rises through the old take-profit levels: only the new trade's own orders act.
    _set_price(fake, max(tp.trigger_price or tp.price for tp in tps) * Decimal("1.01"))
    assert _cycle(live_bot, LAST - 2 * HOUR).outcome in ("enter", "nothing")
    old_ids = {tp.pk for tp in tps}
    assert not Fill.objects.filter(order_id__in=old_ids).exists()
    assert all(f.order.trade_id == second.pk for f in Fill.objects.filter(trade=second))
    position = Position.objects.get(bot=live_bot, symbol="BTCUSDT")
    assert position.quantity == _venue_position(fake)
    # No exit order outlives its trade.
    open_exits = Order.objects.filter(
        bot=live_bot, status__in=["NEW", "TRIGGERED", "PARTIALLY_FILLED"]
    ).exclude(purpose="entry")
    assert all(o.trade.status == "OPEN" for o in open_exits)


def test_paper_replay_leaves_no_exit_order_of_a_closed_trade_open(shared_data):
    from tests.trading.test_engine_seed import _bot, _replay

    bot = _replay(_bot("orphans", symbols=("BTCUSDT",), trailing="none"), 24 * 20, shared_data)
    closed = Trade.objects.filter(bot=bot, status="CLOSED")
    assert closed.count() >= 3  # stop-outs and take-profits happened
    live = Order.objects.filter(
        bot=bot, status__in=["NEW", "PENDING_NEW", "TRIGGERED", "PARTIALLY_FILLED"]
    )
    assert not live.filter(trade__status="CLOSED").exists()
    for fill in Fill.objects.filter(order__bot=bot).exclude(order__purpose="entry"):
        assert fill.trade_id == fill.order.trade_id  # every exit fill is its own trade's
    from apps.trading.paper import paper_session_load

    session = paper_session_load(bot=bot, now=timezone.now())
    venue_open_ids = {r.client_order_id for r in async_to_sync(session.exchange.open_orders)()}
    db_open_ids = set(live.values_list("client_order_id", flat=True))
    assert venue_open_ids == db_open_ids  # the simulated venue holds the same open orders


# --- the kill switch trusts the venue ---------------------------------------------------------
def _place_on_venue(bot: Bot, request: OrderRequest) -> None:
    async def place() -> None:
        async with open_exchange(bot) as exchange:
            await exchange.place_order(request)

    async_to_sync(place)()


def test_kill_switch_closes_a_venue_position_the_records_never_saw(live_bot, fake):
    # An entry and its stop reached the venue, then the worker died before recording them.
    price = fake.price("BTCUSDT")
    entry = bot_client_order_id(live_bot.pk, "BTCUSDT", "lost", "en")
    stop = bot_client_order_id(live_bot.pk, "BTCUSDT", "lost", "sl")
    _place_on_venue(
        live_bot,
        OrderRequest(
            "BTCUSDT", Side.BUY, OrderType.MARKET, quantity=Decimal("0.004"), client_order_id=entry
        ),
    )
    _place_on_venue(
        live_bot,
        OrderRequest(
            "BTCUSDT",
            Side.SELL,
            OrderType.STOP_MARKET,
            quantity=Decimal("0.004"),
            trigger_price=(price * Decimal("0.95")).quantize(Decimal("0.1")),
            reduce_only=True,
            client_order_id=stop,
        ),
    )
    assert _venue_position(fake) == Decimal("0.004") and not Order.objects.exists()
    [report] = killswitch_engage(reason="drill", now=timezone.now(), bot_names=[live_bot.name])
    assert report.positions_closed == 1 and report.open_positions_left == 0, report
    assert report.open_orders_left == 0 and not report.error
    assert _venue_position(fake) == 0 and _venue_open_algos(fake) == []
    adopted = Order.objects.get(client_order_id=entry)  # the records now hold what happened
    assert adopted.status == "FILLED" and adopted.trade.status == "CLOSED"
    assert adopted.trade.exit_reason == "kill_switch"
    assert Position.objects.get(bot=live_bot, symbol="BTCUSDT").quantity == 0


def test_kill_switch_with_a_dead_workers_lease_flattens_within_seconds(live_bot, fake):
    assert _cycle(live_bot).outcome == "enter"
    assert _venue_position(fake) > 0
    cache.set(f"bot-lock:{live_bot.pk}", "dead-host:4242:1:x", timeout=15)  # a dead worker's
    with pytest.raises(CycleBusy):
        _cycle(live_bot, LAST - HOUR)
    assert not BotCycle.objects.filter(candle_open_time=LAST - HOUR).exists()  # no trace
    started = time.monotonic()
    [report] = killswitch_engage(reason="drill", now=timezone.now(), bot_names=[live_bot.name])
    took = time.monotonic() - started
    assert report.open_positions_left == 0 and report.open_orders_left == 0, report
    assert _venue_position(fake) == 0 and _venue_open_algos(fake) == []
    assert took < 30  # a safety net; the figure is measured in benchmarks/bench_chaos.py
    assert lease_holder(live_bot.pk) is None  # released after the emergency close


# --- a crash between sending and recording ---------------------------------------------------
class _Crash(BaseException):
    """The worker process dies here (nothing after this line runs)."""


def test_crash_after_the_entry_reached_the_venue_is_recovered_by_reconcile(
    live_bot, fake, monkeypatch
):
    real = engine_store.order_apply_report

    def die(**kwargs):
        raise _Crash

    monkeypatch.setattr(engine_store, "order_apply_report", die)
    with pytest.raises(_Crash):
        _cycle(live_bot)
    monkeypatch.setattr(engine_store, "order_apply_report", real)
    # The intent was recorded before it was sent; the venue filled it; nothing else happened.
    entry = Order.objects.get(bot=live_bot, purpose="entry")
    assert entry.status == "PENDING_NEW" and not Trade.objects.exists()
    held = _venue_position(fake)
    assert held > 0
    cycle = BotCycle.objects.get(bot=live_bot)
    assert cycle.status == "running"  # undecided: due again
    report = reconcile_bot_task(live_bot.pk)
    assert not report["halted"], report
    entry.refresh_from_db()
    assert entry.status == "FILLED" and entry.filled_quantity == held
    trade = Trade.objects.get(bot=live_bot)
    assert trade.status == "OPEN" and trade.quantity == held
    assert Position.objects.get(bot=live_bot).quantity == held
    assert report["stops_replaced"] == 1  # the stop price was known before the entry was sent
    [stop] = Order.objects.filter(bot=live_bot, purpose="stop_loss", status="NEW")
    assert stop.client_order_id in _venue_open_algos(fake)
    # The undecided cycle runs again and sends nothing twice.
    assert _cycle(live_bot).outcome in ("nothing", "enter")
    assert Order.objects.filter(bot=live_bot, purpose="entry").count() == 1
    assert _venue_position(fake) == held


def test_recorded_order_that_never_reached_the_venue_expires_after_the_grace(live_bot, fake):
    from apps.orders.services import order_create

    request = OrderRequest(
        "BTCUSDT",
        Side.BUY,
        OrderType.MARKET,
        quantity=Decimal("0.002"),
        client_order_id=bot_client_order_id(live_bot.pk, "BTCUSDT", "never-sent"),
    )
    order = order_create(bot=live_bot, request=request, purpose="entry")
    reconcile_bot_task(live_bot.pk)
    order.refresh_from_db()
    assert order.status == "PENDING_NEW"  # it may still be in flight
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    reconcile_bot_task(live_bot.pk)
    order.refresh_from_db()
    assert order.status == "EXPIRED" and _venue_position(fake) == 0


# --- the lease ---------------------------------------------------------------------------------
@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def any_cache(request, settings):
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        }
    from django.core.cache import caches

    caches["default"].clear()
    yield request.param
    caches["default"].clear()


def test_lease_is_renewed_while_held_and_released_after(any_cache):
    with bot_lock(7, seconds=1, renew_every=0.2) as lease:
        time.sleep(1.6)  # longer than the lease: the renewals keep it
        lease.check()
        with pytest.raises(CycleBusy), bot_lock(7):
            pass
    assert lease_holder(7) is None
    with bot_lock(7):
        pass


def test_lease_of_a_holder_that_stopped_renewing_lapses(any_cache):
    cache.set("bot-lock:8", "gone:1:1:x", timeout=1)
    with pytest.raises(CycleBusy), bot_lock(8):
        pass
    with bot_lock(8, wait=3):  # free within the lease's seconds
        assert lease_holder(8) != "gone:1:1:x"


def test_lease_taken_over_fences_its_previous_holder(any_cache):
    with bot_lock(9) as first:
        with bot_lock(9, wait=0.1, steal=True) as second:
            with pytest.raises(LeaseLost):
                first.check()
            second.check()
        assert lease_holder(9) is None


# --- liquidation and funding are booked ---------------------------------------------------------
def test_paper_liquidation_closes_the_position_row_and_the_trade(db):
    from apps.exchange.domain.types import Candle
    from apps.risk.models import RiskSettings
    from apps.trading.engine.context import _Context, _send
    from apps.trading.venues import apply_events
    from tests.factories import make_bot

    bot = make_bot("liq", leverage=50)
    type(bot.account).objects.filter(pk=bot.account_id).update(paper_starting_balance=200)
    bot.refresh_from_db()
    when = datetime(2025, 9, 1, tzinfo=UTC)
    run = Runner()
    venue = venue_open(bot=bot, now=when, run=run)
    exchange = venue.exchange

    def bar(opened: datetime, o: int, h: int, lo: int, c: int) -> Candle:
        prices = (Decimal(p) for p in (o, h, lo, c))
        return Candle(opened, *prices, Decimal(1000), close_time=opened + timedelta(hours=1))

    exchange.on_candle("BTCUSDT", bar(when - timedelta(hours=1), 60000, 60100, 59900, 60000))
    with bot_lock(bot.pk) as lease:
        ctx = _Context(bot, RiskSettings.objects.create(bot=bot), venue, run, when, lease)
        request = OrderRequest(
            "BTCUSDT",
            Side.BUY,
            OrderType.MARKET,
            quantity=Decimal("0.1"),
            client_order_id=bot_client_order_id(bot.pk, "BTCUSDT", "x"),
        )
        _send(ctx, request, purpose="entry")
    assert Position.objects.get(bot=bot).quantity == Decimal("0.1")
    mark = len(exchange.events)
    # 50x long: liquidated on the way down
    exchange.on_candle("BTCUSDT", bar(when, 60000, 60000, 55000, 55500))
    apply_events(bot=bot, events=exchange.events[mark:])
    run.close()
    assert Position.objects.get(bot=bot).quantity == 0
    trade = Trade.objects.get(bot=bot)
    assert trade.status == "CLOSED" and trade.exit_reason == "liquidation"
    assert Order.objects.get(bot=bot, purpose="liquidation").status == "FILLED"


def test_live_funding_fees_are_booked_on_the_open_trade_once(live_bot, fake):
    assert _cycle(live_bot).outcome == "enter"
    _post(fake, "/_fake/time", {"advance_ms": 8 * HOUR})  # a funding time passes
    income = [r for r in fake.exchange.account.income if r["incomeType"] == "FUNDING_FEE"]
    assert income, "the fake settled no funding"
    paid = sum(Decimal(r["income"]) for r in income)
    run = Runner()
    venue = venue_open(bot=live_bot, now=timezone.now(), run=run)
    try:
        assert venue.book_funding("BTCUSDT") == len(income)
        assert venue.book_funding("BTCUSDT") == 0  # once
    finally:
        venue.close()
        run.close()
    trade = Trade.objects.get(bot=live_bot)
    assert trade.funding == -paid  # the wallet change, as funding paid
    assert FundingPayment.objects.filter(bot=live_bot, trade=trade).count() == len(income)


def test_paper_position_is_marked_to_the_last_close(shared_data):
    from apps.market.models import Kline
    from tests.trading.test_engine_seed import _bot, _replay

    bot = _replay(_bot("marked", symbols=("BTCUSDT",)), 12, shared_data)
    position = Position.objects.get(bot=bot, symbol="BTCUSDT")
    assert position.quantity != 0
    last = BotCycle.objects.filter(bot=bot, symbol="BTCUSDT").order_by("-candle_open_time").first()
    close = Kline.objects.get(symbol="BTCUSDT", interval="1h", open_time=last.candle_open_time)
    assert position.mark_price == close.close  # the simulated exchange's price: the last close
    expected = ((close.close - position.entry_price) * position.quantity).quantize(Decimal("1E-8"))
    assert position.unrealized_pnl == expected != 0
