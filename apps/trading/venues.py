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
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from django.db.models import F, Max

from apps.bots.models import Bot
from apps.exchange.domain.events import FundingFeeCharged, OrderFilled, OrderUpdated
from apps.exchange.domain.protocol import Exchange
from apps.exchange.domain.types import Fill as VenueFill
from apps.exchange.domain.types import OrderReport
from apps.orders.models import Fill, Order
from apps.orders.services import fill_apply, order_apply_report
from apps.trading.models import Trade
from apps.trading.paper import PaperSession, paper_feed_candles, paper_session_load

T = TypeVar("T")
OPEN_STATUSES = ("PENDING_NEW", "NEW", "TRIGGERED", "PARTIALLY_FILLED", "PENDING_CANCEL")
LIVE_FILL_LOOKBACK = timedelta(days=1)


class Runner:
    """Runs the exchange's coroutines on one event loop for the whole cycle."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.close()


def apply_events(*, bot: Bot, events: list[Any]) -> set[str]:
    """Write exchange events (order changes, fills) through the order services; return the
    purposes of the orders that filled."""
    purposes: set[str] = set()
    for event in events:
        if isinstance(event, FundingFeeCharged):
            funding_credit(bot=bot, event=event)
            continue
        if not isinstance(event, OrderFilled | OrderUpdated):
            continue
        order = Order.objects.filter(bot=bot, client_order_id=event.order.client_order_id).first()
        if order is None:
            continue  # not ours (e.g. an order placed by hand on the account)
        filled = isinstance(event, OrderFilled) and (
            fill_apply(order=order, fill=event.fill, at=event.time) is not None
        )
        if filled:
            purposes.add(order.purpose)
        order_apply_report(order=order, report=event.order, at=event.time)
    return purposes


def funding_credit(*, bot: Bot, event: FundingFeeCharged) -> None:
    """Book a funding settlement on the bot's open trade in the symbol (paid is positive)."""
    Trade.objects.filter(bot=bot, symbol=event.symbol, status=Trade.Status.OPEN).update(
        funding=F("funding") - event.amount
    )


def apply_fills(*, bot: Bot, fills: list[VenueFill], at: datetime) -> set[str]:
    """Apply venue fills (from the account's trades) to the bot's orders; return the purposes
    of the orders that got a new fill."""
    purposes: set[str] = set()
    for fill in fills:
        order = None
        if fill.client_order_id:
            order = Order.objects.filter(bot=bot, client_order_id=fill.client_order_id).first()
        if order is None and fill.order_id is not None:
            order = Order.objects.filter(bot=bot, exchange_order_id=str(fill.order_id)).first()
        if order is None:
            continue
        if fill_apply(order=order, fill=fill, at=at) is not None:
            purposes.add(order.purpose)
    return purposes


class Venue(Protocol):
    exchange: Exchange

    def mark(self) -> int: ...

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]: ...

    def after_place(self, *, order: Order, report: OrderReport, mark: int) -> None: ...

    def save(self) -> None: ...

    def close(self) -> None: ...


class PaperVenue:
    def __init__(self, *, bot: Bot, now: datetime, run: Runner) -> None:
        self.bot = bot
        self.session: PaperSession = paper_session_load(bot=bot, now=now)
        self.exchange = self.session.exchange

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
    def __init__(self, *, bot: Bot, now: datetime, run: Runner) -> None:
        from apps.exchange.binance.adapter import BinanceFuturesExchange
        from apps.exchange.live import binance_config

        self.bot, self.now, self.run = bot, now, run
        # Built inside the cycle's loop: python-binance's session belongs to that loop.
        self.exchange = run(BinanceFuturesExchange.create(binance_config(bot.account)))

    def mark(self) -> int:
        return 0

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]:
        """Bring the bot's open orders and their fills up to the venue."""
        for order in Order.objects.filter(bot=self.bot, symbol=symbol, status__in=OPEN_STATUSES):
            report = self.run(self.exchange.get_order(symbol, order.client_order_id))
            order_apply_report(order=order, report=report, at=self.now)
        last = Fill.objects.filter(order__bot=self.bot, order__symbol=symbol).aggregate(
            t=Max("filled_at")
        )["t"]
        since = max(last or self.now - LIVE_FILL_LOOKBACK, self.now - LIVE_FILL_LOOKBACK)
        fills = self.run(self.exchange.user_trades(symbol, start=since - timedelta(minutes=1)))
        return apply_fills(bot=self.bot, fills=fills, at=self.now)

    def after_place(self, *, order: Order, report: OrderReport, mark: int) -> None:
        if report.filled_qty <= 0:
            return
        start = self.now - timedelta(minutes=5)
        fills = self.run(self.exchange.user_trades(order.symbol, start=start))
        mine = [f for f in fills if f.order_id == report.order_id]
        apply_fills(bot=self.bot, fills=mine, at=self.now)

    def save(self) -> None:
        return None

    def close(self) -> None:
        self.run(self.exchange.close())


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
