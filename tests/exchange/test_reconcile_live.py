"""Reconciliation of a live bot through the real Binance adapter, against the fake Binance
server (the default EXCHANGE_PROVIDER, the task, the beat entry and the command)."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from apps.bots.models import Bot
from apps.exchange.domain.types import OrderRequest, OrderType, Side, TimeInForce
from apps.exchange.live import NoVenue, binance_config, open_exchange
from apps.exchange.models import ExchangeAccount
from apps.orders.domain.accounting import bot_client_order_id
from apps.orders.models import Order
from apps.trading.tasks import live_bots, reconcile_bot_task
from tests.factories import make_bot
from testsupport.fakebinance.testing import FakeInThread

pytestmark = pytest.mark.django_db

KEY, SECRET = "fake-key", "fake-secret"


@pytest.fixture
def fake():
    with FakeInThread(api_key=KEY, api_secret=SECRET) as fb:
        yield fb


@pytest.fixture
def live_bot(fake) -> Bot:
    account = ExchangeAccount.objects.create(
        name="fake-testnet",
        environment="testnet",
        base_url=fake.url,
        api_key=KEY,
        api_secret=SECRET,
    )
    return make_bot("live-1", account=account, trading_mode=Bot.TradingMode.LIVE)


def _place_resting_buy(bot: Bot, client_id: str) -> None:
    async def place() -> None:
        async with open_exchange(bot) as exchange:
            book = await exchange.get_book_ticker("BTCUSDT")
            await exchange.place_order(
                OrderRequest(
                    symbol="BTCUSDT",
                    side=Side.BUY,
                    type=OrderType.LIMIT,
                    quantity=Decimal("0.002"),
                    price=(book.bid_price * Decimal("0.9")).quantize(Decimal("0.1")),
                    time_in_force=TimeInForce.GTC,
                    client_order_id=client_id,
                )
            )

    async_to_sync(place)()


def test_reconcile_task_with_order_placed_while_away_adopts_it(live_bot, fake) -> None:
    client_id = bot_client_order_id(live_bot.pk, "BTCUSDT", "manual", 1)
    _place_resting_buy(live_bot, client_id)
    assert live_bots() == [live_bot.pk]
    report = reconcile_bot_task(live_bot.pk)
    assert report["orders_adopted"] == 1 and not report["halted"]
    order = Order.objects.get(client_order_id=client_id)
    assert order.status == "NEW" and order.exchange_order_id


def test_reconcile_command_with_live_bot_reports_in_sync(live_bot, fake) -> None:
    out = StringIO()
    call_command("reconcile", live_bot.name, stdout=out)
    assert "reconciling live-1" in out.getvalue()


def test_binance_config_with_paper_account_refuses_in_one_line() -> None:
    account = ExchangeAccount(name="paper-x", environment="paper")
    with pytest.raises(NoVenue, match="paper-x is a paper account"):
        binance_config(account)


def test_binance_config_with_fake_base_url_points_streams_at_it() -> None:
    account = ExchangeAccount(
        name="t",
        environment="testnet",
        base_url="http://127.0.0.1:9000",
        api_key="k",
        api_secret="s",
    )
    config = binance_config(account)
    assert config.base_url == "http://127.0.0.1:9000"
    assert config.stream_url == "ws://127.0.0.1:9000/"
    assert SECRET not in repr(config)


def _submit(bot: Bot, client_id: str, qty: str) -> None:
    """What the engine does for a live order: record it, send it through the adapter, apply
    the answer; an exchange error leaves the row for reconciliation to settle."""
    from django.utils import timezone

    from apps.exchange.domain.errors import ExchangeError
    from apps.orders.services import order_apply_report, order_create

    request = OrderRequest(
        symbol="ETHUSDT",
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=Decimal(qty),
        client_order_id=client_id,
    )
    order = order_create(bot=bot, request=request, purpose="entry")

    async def send():
        async with open_exchange(bot) as exchange:
            return await exchange.place_order(request)

    try:
        report = async_to_sync(send)()
    except ExchangeError:
        return
    order_apply_report(order=order, report=report, at=timezone.now())


@pytest.mark.parametrize(
    "fault",
    ["none", "unknown_after_place", "fail_before_place", "timestamp", "partial_fill"],
)
def test_order_under_fault_with_reconcile_leaves_database_equal_to_exchange(
    live_bot, fake, fault
) -> None:
    live_bot.symbols = ["ETHUSDT"]
    live_bot.save(update_fields=["symbols"])
    if fault == "unknown_after_place":
        fake.faults.unknown_after_place()
    elif fault == "fail_before_place":
        fake.faults.fail_next("/fapi/v1/order", status=502, method="POST")
    elif fault == "timestamp":
        fake.faults.timestamp_error_next("/fapi/v1/order", method="POST")
    elif fault == "partial_fill":
        fake.faults.partial_fill_next("0.5")
    cid = bot_client_order_id(live_bot.pk, "ETHUSDT", "entry", fault)
    _submit(live_bot, cid, "0.02")
    report = reconcile_bot_task(live_bot.pk)
    assert not report["halted"], report
    on_fake = [o for o in fake.exchange.engine.orders.values() if o.client_id == cid]
    assert len(on_fake) == 1  # none lost, none duplicated
    order = Order.objects.get(client_order_id=cid)
    assert order.status == on_fake[0].status
    assert order.filled_quantity == on_fake[0].executed
    from apps.trading.models import Position

    position = Position.objects.get(bot=live_bot, symbol="ETHUSDT")
    assert position.quantity == on_fake[0].executed  # the database matches the exchange
