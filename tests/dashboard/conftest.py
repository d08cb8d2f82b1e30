"""Fixtures of the cockpit tests: a desk of bots with trades, a position and open orders written
as rows (figures known to the cent), and a paper bot replayed into a real open position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from apps.bots.models import Bot
from apps.dashboard.cockpit.health import probes_forget
from apps.orders.models import Order
from apps.trading.models import Position, Trade
from tests.factories import make_bot, make_order


@dataclass
class Desk:
    now: datetime
    alpha: Bot
    beta: Bot
    rehearsal: Bot


def _trade(bot: Bot, *, exit_time: datetime | None, pnl: str, fees: str, funding: str) -> Trade:
    return Trade.objects.create(
        bot=bot,
        symbol="BTCUSDT",
        side="LONG",
        mode="SWING",
        quantity=Decimal("0.010"),
        remaining_quantity=Decimal("0") if exit_time else Decimal("0.004"),
        entry_price=Decimal("100000"),
        exit_price=Decimal("101505") if exit_time else None,
        leverage=3,
        entry_time=(exit_time or timezone.now()) - timedelta(hours=2),
        exit_time=exit_time,
        status=Trade.Status.CLOSED if exit_time else Trade.Status.OPEN,
        realized_pnl=Decimal(pnl),
        fees=Decimal(fees),
        funding=Decimal(funding),
        roi=Decimal("4.412345") if exit_time else None,
        exit_reason=Trade.ExitReason.TAKE_PROFIT if exit_time else "",
    )


@pytest.fixture(autouse=True)
def fresh_probes():
    probes_forget()
    yield
    probes_forget()


@pytest.fixture
def desk(db) -> Desk:
    """alpha (running; start 10,000): net PnL today +147.50, total +95.00 (a -51.00 trade
    yesterday, -1.50 of fees on its open trade), long 0.004 BTCUSDT from 108157.5 marked at
    108300 (+0.57): equity 10,095.57. beta: flat, paused. A rehearsal copy that is never shown."""
    now = timezone.now()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    alpha = make_bot("alpha", symbols=["BTCUSDT", "ETHUSDT"], state=Bot.State.RUNNING)
    beta = make_bot("beta", symbols=["ETHUSDT"], state_reason="waiting for the open")
    rehearsal = make_bot("alpha-t", rehearsal=True, state=Bot.State.RUNNING)
    _trade(alpha, exit_time=now, pnl="150.50", fees="2.25", funding="0.75")
    _trade(alpha, exit_time=day_start - timedelta(hours=1), pnl="-50", fees="1", funding="0")
    open_trade = _trade(alpha, exit_time=None, pnl="0", fees="1.5", funding="0")
    _trade(rehearsal, exit_time=now, pnl="999", fees="0", funding="0")
    Position.objects.create(
        bot=alpha,
        symbol="BTCUSDT",
        side="LONG",
        quantity=Decimal("0.004000000000"),
        entry_price=Decimal("108157.500000000000"),
        mark_price=Decimal("108300.000000000000"),
        unrealized_pnl=Decimal("0.570000000000"),
        leverage=3,
        stop_price=Decimal("105000.000000000000"),
    )
    Position.objects.create(
        bot=rehearsal, symbol="BTCUSDT", side="LONG", quantity=Decimal("1"), entry_price=1
    )
    stop = make_order(
        alpha,
        "a-stop-1",
        trade=open_trade,
        purpose=Order.Purpose.STOP_LOSS,
        type=Order.Type.STOP_MARKET,
        side=Order.Side.SELL,
        price=None,
        trigger_price=Decimal("105000.000000000000"),
        quantity=Decimal("0.004000000000"),
        reduce_only=True,
        algo_id="9001",
    )
    stop.transition_to("NEW", at=now - timedelta(minutes=30), detail="accepted")
    return Desk(now=now, alpha=alpha, beta=beta, rehearsal=rehearsal)


OPERATOR_PERMISSIONS = (
    "bots.pause_bot",
    "bots.engage_killswitch",
    "bots.engage_killswitch_all",
    "backtest.start_backtest",
)


def operator_user(username: str):
    """A staff user holding the cockpit's action permissions (docs/security.md)."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username, password="pw-123456", is_staff=True)
    for name in OPERATOR_PERMISSIONS:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return get_user_model().objects.get(pk=user.pk)  # a fresh permission cache


@pytest.fixture
def staff_client(db) -> Client:
    user = operator_user("desk")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def plain_client(db) -> Client:
    user = get_user_model().objects.create_user("visitor", password="pw-123456", is_staff=False)
    client = Client()
    client.force_login(user)
    return client
