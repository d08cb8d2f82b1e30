"""Where a bot's orders go: its simulated exchange (paper) or Binance (testnet / live).

Both venues give the cycle the same ``Exchange`` protocol; they differ only in how the cycle
learns what happened since the last one and what an order it just sent filled:

- paper: the bot's ``SimulatedExchange`` is fed the candles it has not seen and reports every
  change as an event, applied through the order services;
- live: the adapter is opened inside the cycle's event loop; open orders are queried by client
  id and fills read from the account's trades, and applied through the same services (the
  services are idempotent by venue trade id, so a fill seen twice counts once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from apps.bots.models import Bot
from apps.exchange.domain.errors import OrderNotFoundError
from apps.exchange.domain.events import FundingFeeCharged, OrderFilled, OrderUpdated
from apps.exchange.domain.protocol import Exchange
from apps.exchange.domain.types import Balance, FundingFee, OrderReport
from apps.exchange.domain.types import Fill as VenueFill
from apps.orders.domain.accounting import bot_client_id_prefix, money
from apps.orders.domain.adoption import is_liquidation_id
from apps.orders.models import Fill, Order
from apps.orders.selectors import order_find_for_fill
from apps.orders.services import order_apply_report, order_close_missing
from apps.trading.bookkeeping import fill_apply, order_adopt
from apps.trading.models import FundingPayment, Position, Trade
from apps.trading.paper import PaperSession, paper_feed_candles, paper_session_load

T = TypeVar("T")
logger = logging.getLogger(__name__)
OPEN_STATUSES = ("PENDING_NEW", "NEW", "TRIGGERED", "PARTIALLY_FILLED", "PENDING_CANCEL")
LIVE_FILL_LOOKBACK = timedelta(days=1)
FUNDING_CHECK_S = 300


class Runner:
    """Runs the exchange's coroutines on one event loop for the whole cycle."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.close()


def apply_events(*, bot: Bot, events: list[Any]) -> set[str]:
    """Write exchange events (order changes, fills, liquidations) through the order services;
    return the purposes of the orders that filled."""
    purposes: set[str] = set()
    for event in events:
        if isinstance(event, FundingFeeCharged):
            funding_credit(bot=bot, event=event)
            continue
        if not isinstance(event, OrderFilled | OrderUpdated):
            continue
        order = order_find_for_fill(
            bot=bot, symbol=event.order.symbol, client_order_id=event.order.client_order_id
        )
        if order is None and is_liquidation_id(event.order.client_order_id):
            order = order_adopt(bot=bot, report=event.order, at=event.time)  # the venue closed it
        if order is None:
            continue  # not ours (e.g. an order placed by hand on the account)
        filled = isinstance(event, OrderFilled) and (
            fill_apply(order=order, fill=event.fill, at=event.time) is not None
        )
        if filled:
            purposes.add(order.purpose)
        report = event.order
        if report.client_order_id != order.client_order_id:
            report = replace(report, client_order_id=order.client_order_id)
        order_apply_report(order=order, report=report, at=event.time)
    return purposes


def funding_credit(*, bot: Bot, event: FundingFeeCharged) -> None:
    """Book a funding settlement on the bot's open trade in the symbol (paid is positive)."""
    Trade.objects.filter(bot=bot, symbol=event.symbol, status=Trade.Status.OPEN).update(
        funding=F("funding") - event.amount
    )


def apply_fills(
    *,
    bot: Bot,
    fills: list[VenueFill],
    at: datetime,
    lookup: Callable[[str, str], OrderReport] | None = None,
) -> set[str]:
    """Apply venue fills (from the account's trades) to the bot's orders, oldest first; return
    the purposes of the orders that got a new fill.

    A fill of an order the records lack is adopted when it is the bot's own (its client id
    prefix: a row lost in a crash) or an exchange liquidation of a symbol the bot holds;
    ``lookup(symbol, client id)`` reads that order's report from the venue.
    """
    purposes: set[str] = set()
    prefix = bot_client_id_prefix(bot.pk)
    for fill in sorted(fills, key=lambda f: (f.time, str(f.trade_id))):
        order = order_find_for_fill(
            bot=bot,
            symbol=fill.symbol,
            client_order_id=fill.client_order_id or "",
            exchange_order_id="" if fill.order_id is None else str(fill.order_id),
        )
        cid = fill.client_order_id or ""
        if order is None and lookup is not None and _adoptable(bot, fill.symbol, cid, prefix):
            order = order_adopt(bot=bot, report=lookup(fill.symbol, cid), at=at)
        if order is None:
            continue
        if fill_apply(order=order, fill=fill, at=at) is not None:
            purposes.add(order.purpose)
    return purposes


def _adoptable(bot: Bot, symbol: str, cid: str, prefix: tuple[str, str]) -> bool:
    if cid.startswith(prefix):
        return True
    return is_liquidation_id(cid) and (
        Position.objects.filter(bot=bot, symbol=symbol).exclude(quantity=0).exists()
    )


def usdt_equity(balances: list[Balance]) -> Decimal:
    """Wallet balance plus unrealized PnL of the USDT balance (0 without one)."""
    usdt = next((b for b in balances if b.asset == "USDT"), None)
    return (usdt.wallet_balance + usdt.unrealized_pnl) if usdt else Decimal(0)


class Venue(Protocol):
    """Where a bot's orders go: ``apps.trading.domain.runner.VenuePort`` plus saving and
    closing it."""

    exchange: Exchange
    shared_account: bool  # the venue's positions are the account's (other bots net in them)

    def equity(self) -> Decimal: ...

    def mark(self) -> int: ...

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]: ...

    def after_place(self, *, order: Order, report: OrderReport, mark: int) -> None: ...

    def save(self) -> None: ...

    def close(self) -> None: ...


class PaperVenue:
    shared_account = False  # each paper bot trades its own simulated exchange

    def __init__(self, *, bot: Bot, now: datetime, run: Runner) -> None:
        self.bot, self.run = bot, run
        self.session: PaperSession = paper_session_load(bot=bot, now=now)
        self.exchange = self.session.exchange

    def equity(self) -> Decimal:
        return usdt_equity(self.run(self.exchange.balances()))

    def mark(self) -> int:
        return len(self.exchange.events)

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]:
        events = paper_feed_candles(
            session=self.session, symbol=symbol, interval=interval, until_open_time=open_time
        )
        return apply_events(bot=self.bot, events=events)

    def after_place(self, *, order: Order, report: OrderReport, mark: int) -> None:
        apply_events(bot=self.bot, events=self.exchange.events[mark:])

    def save(self) -> None:
        self.session.save()

    def close(self) -> None:
        return None


class LiveVenue:
    shared_account = True

    def __init__(self, *, bot: Bot, now: datetime, run: Runner) -> None:
        from apps.exchange.binance.adapter import BinanceFuturesExchange
        from apps.exchange.live import binance_config

        self.bot, self.now, self.run = bot, now, run
        # Built inside the cycle's loop: python-binance's session belongs to that loop.
        self.exchange = run(BinanceFuturesExchange.create(binance_config(bot.account)))

    def mark(self) -> int:
        return 0

    def equity(self) -> Decimal:
        return usdt_equity(self.run(self.exchange.balances()))

    def _lookup(self, symbol: str, client_order_id: str) -> OrderReport:
        return self.run(self.exchange.get_order(symbol, client_order_id))

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]:
        """Bring the bot's open orders (the ones recorded but unconfirmed too), their fills and
        the funding it paid up to the venue."""
        wall = timezone.now()
        unsettled = list(
            Order.objects.filter(bot=self.bot, symbol=symbol, status__in=OPEN_STATUSES)
        )
        # One listing of the venue's open orders (regular and algo) instead of a query per
        # order: only the orders that left it are looked up one by one.
        listed = (
            {r.client_order_id: r for r in self.run(self.exchange.open_orders(symbol))}
            if unsettled
            else {}
        )
        for order in unsettled:
            report = listed.get(order.client_order_id)
            if report is None:
                try:
                    report = self._lookup(symbol, order.client_order_id)
                except OrderNotFoundError:  # never arrived (or still in flight: a grace applies)
                    order_close_missing(order=order, at=wall)
                    continue
            order_apply_report(order=order, report=report, at=self.now)
        last = Fill.objects.filter(order__bot=self.bot, order__symbol=symbol).aggregate(
            t=Max("filled_at")
        )["t"]
        floor = wall - LIVE_FILL_LOOKBACK
        since = max(last or floor, floor)
        fills = self.run(self.exchange.user_trades(symbol, start=since - timedelta(minutes=1)))
        purposes = apply_fills(bot=self.bot, fills=fills, at=self.now, lookup=self._lookup)
        if cache.add(f"funding-checked:{self.bot.pk}:{symbol}", 1, timeout=FUNDING_CHECK_S):
            self.book_funding(symbol)  # (income costs 30 weight: looked at every few minutes)
        return purposes

    def book_funding(self, symbol: str) -> int:
        """Book the account's FUNDING_FEE income in ``symbol`` on the bot's trades; return the
        number of new payments (each venue payment is booked once)."""
        last = FundingPayment.objects.filter(bot=self.bot, symbol=symbol).aggregate(
            t=Max("paid_at")
        )["t"]
        floor = timezone.now() - LIVE_FILL_LOOKBACK
        since = max(last or floor, floor) - timedelta(minutes=1)
        payments = self.run(self.exchange.funding_fees(symbol, start=since))
        return funding_payments_book(bot=self.bot, payments=payments)

    def after_place(self, *, order: Order, report: OrderReport, mark: int) -> None:
        if report.filled_qty <= 0:
            return
        start = timezone.now() - timedelta(minutes=5)
        fills = self.run(self.exchange.user_trades(order.symbol, start=start))
        mine = [f for f in fills if f.order_id == report.order_id]
        apply_fills(bot=self.bot, fills=mine, at=self.now)

    def save(self) -> None:
        return None

    def close(self) -> None:
        self.run(self.exchange.close())


def funding_payments_book(*, bot: Bot, payments: list[FundingFee]) -> int:
    """Book venue funding payments on the trades open when they were paid, once each.

    The venue pays funding on the account's netted position: with several bots in the symbol,
    each bot's trade takes its share by size. Return how many payments were new.
    """
    booked = 0
    for payment in sorted(payments, key=lambda p: p.time):
        with transaction.atomic():
            _, created = FundingPayment.objects.get_or_create(
                bot=bot,
                venue_id=payment.venue_id,
                defaults={
                    "symbol": payment.symbol,
                    "amount": payment.amount,
                    "paid_at": payment.time,
                },
            )
            if not created:
                continue
            booked += 1
            open_at = Trade.objects.filter(
                bot__account=bot.account, symbol=payment.symbol, entry_time__lte=payment.time
            ).exclude(exit_time__lt=payment.time)
            ours = open_at.filter(bot=bot).order_by("-entry_time").first()
            if ours is None:
                continue
            total = sum((t.remaining_quantity or t.quantity for t in open_at), Decimal(0))
            share = (ours.remaining_quantity or ours.quantity) / total if total else Decimal(1)
            paid = money(-payment.amount * share)  # the amount is the wallet change
            Trade.objects.filter(pk=ours.pk).update(funding=F("funding") + paid)
            FundingPayment.objects.filter(bot=bot, venue_id=payment.venue_id).update(
                trade=ours, booked=paid
            )
    return booked


def venue_open(*, bot: Bot, now: datetime, run: Runner) -> Venue:
    if bot.trading_mode == Bot.TradingMode.PAPER:
        return PaperVenue(bot=bot, now=now, run=run)
    return LiveVenue(bot=bot, now=now, run=run)


def live_market_data_sync(*, now: datetime, limit: int = 100) -> dict[str, int]:
    """Store the latest closed candles of every live bot's symbols (and BTCUSDT 1h for
    CryptoVIX) from each account's venue, so the scheduler sees them close; return the number of
    new candles per "SYMBOL-interval"."""
    from apps.exchange.binance.adapter import BinanceFuturesExchange
    from apps.exchange.live import binance_config
    from apps.market.services import klines_store

    stored: dict[str, int] = {}
    bots = Bot.objects.filter(
        enabled=True, state=Bot.State.RUNNING, trading_mode=Bot.TradingMode.LIVE
    ).select_related("account", "strategy")
    by_account: dict[int, tuple[Any, set[tuple[str, str]]]] = {}
    for bot in bots:
        account, pairs = by_account.setdefault(bot.account_id, (bot.account, set()))
        pairs.update((symbol, bot.strategy.timeframe) for symbol in bot.symbols)
        pairs.add(("BTCUSDT", "1h"))
    for account, pairs in by_account.values():
        run = Runner()
        try:
            exchange = run(BinanceFuturesExchange.create(binance_config(account)))
            try:
                for symbol, interval in sorted(pairs):
                    candles = run(exchange.klines(symbol, interval, limit=limit))
                    key = f"{symbol}-{interval}"
                    stored[key] = stored.get(key, 0) + klines_store(
                        symbol=symbol, interval=interval, candles=candles, now=now
                    )
            finally:
                run(exchange.close())
        finally:
            run.close()
    return stored
