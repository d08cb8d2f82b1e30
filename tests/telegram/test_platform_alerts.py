"""The platform's critical alerts that were only events on the bus (a stop-loss the reconciliation
re-placed and the venue rejected; an exit order of an ended trade filled) become notices in the
outbox and reach Telegram: each caused for real, a live bot reconciled through the real Binance
adapter against the fake Binance server, delivered by the real Telegram worker to the fake Bot
API."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from apps.bots.models import Bot
from apps.events import publish_event
from apps.exchange.domain.types import OrderRequest, OrderType, Side, TimeInForce
from apps.exchange.live import open_exchange
from apps.exchange.models import ExchangeAccount
from apps.monitoring.models import NotificationChannel, default_notification_events
from apps.orders.domain.accounting import bot_client_order_id
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_create
from apps.telegram.domain.alerts import platform_alert
from apps.telegram.models import Notice
from apps.trading.models import Position, Trade
from apps.trading.tasks import reconcile_bot_task
from tests.factories import make_bot
from tests.telegram.conftest import ALICE, wait_until
from testsupport.fakebinance.testing import FakeInThread

pytestmark = pytest.mark.django_db(transaction=True)

KEY, SECRET = "fake-key", "fake-secret"
D = Decimal


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
    return make_bot(
        "live-alerts", account=account, trading_mode=Bot.TradingMode.LIVE, state="running"
    )


@pytest.fixture
def ops_channel(tg, telegram) -> NotificationChannel:
    """A Telegram channel as the admin creates one (the default events)."""
    tg.add_chat(ALICE)
    return NotificationChannel.objects.create(
        name="ops", kind=NotificationChannel.Kind.TELEGRAM, telegram_chat_ids=str(ALICE)
    )


def _send(bot: Bot, request: OrderRequest, *, purpose: str, trade: Trade | None = None) -> Order:
    """What the engine does for a live order: record it, send it, apply the venue's answer."""
    order = order_create(bot=bot, request=request, purpose=purpose, trade=trade)

    async def place():
        async with open_exchange(bot) as exchange:
            return await exchange.place_order(request)

    return order_apply_report(order=order, report=async_to_sync(place)(), at=timezone.now())


def _book(bot: Bot):
    async def read():
        async with open_exchange(bot) as exchange:
            return await exchange.get_book_ticker("BTCUSDT")

    return async_to_sync(read)()


def _market(bot: Bot, key: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=side,
        type=OrderType.MARKET,
        quantity=D(qty),
        client_order_id=bot_client_order_id(bot.pk, "BTCUSDT", key, 1),
    )


def _open_long(bot: Bot) -> Trade:
    _send(bot, _market(bot, "entry", Side.BUY, "0.002"), purpose=Order.Purpose.ENTRY)
    reconcile_bot_task(bot.pk)  # applies the fill: the trade and the position
    return Trade.objects.get(bot=bot, status=Trade.Status.OPEN)


def test_new_channels_get_both_alerts_by_default() -> None:
    assert {"stop_rejected", "ended_trade_fill"} <= set(default_notification_events())


def test_rejected_stop_of_reconciliation_reaches_telegram(
    live_bot, fake, tg, ops_channel, worker
) -> None:
    _open_long(live_bot)
    bid = _book(live_bot).bid_price
    stop = (bid * D("1.05")).quantize(D("0.1"))  # above the market: the venue answers -2021
    Position.objects.filter(bot=live_bot, symbol="BTCUSDT").update(stop_price=stop)

    report = reconcile_bot_task(live_bot.pk)

    assert report["stops_replaced"] == 0
    rejected = Order.objects.get(bot=live_bot, purpose=Order.Purpose.STOP_LOSS)
    assert rejected.status == "REJECTED"
    notice = Notice.objects.get(kind="stop_rejected")
    assert notice.bot_name == "live-alerts"
    assert notice.payload["cid"] == rejected.client_order_id
    sent = tg.wait_sent(lambda m: "STOP NOT PLACED" in m.text, chat_id=ALICE)
    assert "live-alerts BTCUSDT has no stop-loss on the venue" in sent.text
    assert rejected.client_order_id in sent.text and "by hand" in sent.text
    wait_until(lambda: Notice.objects.get(pk=notice.pk).done_at is not None)

    reconcile_bot_task(live_bot.pk)  # the same rejected stop is not told twice
    assert Notice.objects.filter(kind="stop_rejected", dedup_key=notice.dedup_key).count() == 1


def test_exit_order_of_an_ended_trade_filled_reaches_telegram(
    live_bot, fake, tg, ops_channel, worker
) -> None:
    trade = _open_long(live_bot)
    # The trade's exit and its take-profit both fill (the race of two exits): the market close
    # first, then a marketable limit sell of the same trade.
    _send(
        live_bot,
        _market(live_bot, "exit", Side.SELL, "0.002"),
        purpose=Order.Purpose.EXIT,
        trade=trade,
    )
    bid = _book(live_bot).bid_price
    take_profit = OrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=OrderType.LIMIT,
        quantity=D("0.002"),
        price=(bid * D("0.99")).quantize(D("0.1")),
        time_in_force=TimeInForce.GTC,
        client_order_id=bot_client_order_id(live_bot.pk, "BTCUSDT", "tp", 1),
    )
    tp = _send(live_bot, take_profit, purpose=Order.Purpose.TAKE_PROFIT, trade=trade)

    reconcile_bot_task(live_bot.pk)

    trade.refresh_from_db()
    assert trade.status == Trade.Status.CLOSED
    notice = Notice.objects.get(kind="ended_trade_fill")
    assert notice.payload["cid"] == tp.client_order_id
    assert notice.payload["trade"] == str(trade.pk)
    sent = tg.wait_sent(lambda m: "EXIT FILL OF AN ENDED TRADE" in m.text, chat_id=ALICE)
    assert f"exit order {tp.client_order_id} of trade {trade.pk} (ended)" in sent.text
    assert "filled 0.002 BTCUSDT" in sent.text
    assert Bot.objects.get(pk=live_bot.pk).state == Bot.State.RUNNING  # the records agree


def test_channel_that_did_not_choose_the_alert_gets_nothing(live_bot, fake, tg, telegram) -> None:
    NotificationChannel.objects.create(
        name="trades-only",
        kind=NotificationChannel.Kind.TELEGRAM,
        telegram_chat_ids=str(ALICE),
        events=["trade_closed"],
    )
    _open_long(live_bot)
    bid = _book(live_bot).bid_price
    Position.objects.filter(bot=live_bot).update(stop_price=(bid * D("1.05")).quantize(D("0.1")))
    reconcile_bot_task(live_bot.pk)
    assert Order.objects.get(purpose=Order.Purpose.STOP_LOSS).status == "REJECTED"
    assert not Notice.objects.filter(kind="stop_rejected").exists()


def test_alert_notice_is_rolled_back_with_the_change(tg, ops_channel) -> None:
    make_bot("rb-bot")
    alert = {
        "bot": "rb-bot",
        "level": "critical",
        "message": "reconcile: could not re-place stop b1-x for BTCUSDT at 70000: -2021",
        "code": "stop_rejected",
        "fields": {"cid": "b1-x", "symbol": "BTCUSDT", "price": "70000", "reason": "-2021"},
    }
    with pytest.raises(RuntimeError), transaction.atomic():
        publish_event("alert", alert)
        assert Notice.objects.filter(kind="stop_rejected").count() == 1  # in the transaction
        raise RuntimeError("the change fails")
    assert not Notice.objects.exists()


def test_other_alerts_are_not_these_notices(caplog) -> None:
    caplog.set_level(logging.ERROR)
    stop = {"cid": "c1", "symbol": "BTCUSDT", "price": "1", "reason": "no"}
    # a reconciliation halt has no code (the bot's state tells it); a warning is not critical
    assert platform_alert(bot="b", level="critical", code="", fields={}) is None
    assert platform_alert(bot="b", level="warning", code="stop_rejected", fields=stop) is None
    alert = platform_alert(bot="b", level="critical", code="stop_rejected", fields=stop)
    assert alert is not None and alert.event == "stop_rejected"
    assert "BTCUSDT has no stop-loss" in alert.text and "rejected it: no" in alert.text


def test_migration_gives_both_alerts_to_channels_that_chose_reconciliation() -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("apps.telegram.migrations.0002_platform_alert_events")
    kind = NotificationChannel.Kind.EMAIL
    chose = NotificationChannel.objects.create(
        name="a", kind=kind, email_recipients="a@example.com", events=["reconciliation", "halt"]
    )
    other = NotificationChannel.objects.create(
        name="b", kind=kind, email_recipients="b@example.com", events=["trade_closed"]
    )
    migration._add_to_reconciliation_channels(apps, None)
    chose.refresh_from_db()
    other.refresh_from_db()
    assert chose.events == ["reconciliation", "halt", "stop_rejected", "ended_trade_fill"]
    assert other.events == ["trade_closed"]
