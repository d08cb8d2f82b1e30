"""The ports of the trading runner (``runner.CycleRunner``): the store, the venue, the market
readings and the callables a loop hands in, and the errors a cycle raises.

Two stores implement ``Store``: ``apps.trading.engine.store.DbStore`` (the database, live and
paper) and ``apps.backtest.exchange_mode.domain.records.Ledger`` (in memory, exchange-mode
backtests); ``tests/backtest/test_store_contract.py`` holds them to the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from apps.exchange.domain.protocol import Exchange
from apps.exchange.domain.types import OrderReport, OrderRequest
from apps.risk.domain.circuit_breaker import BreakerDecision
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.vix import CryptoVIX, VixReading
from apps.strategies.domain.base import CandleArrays, Decision, PositionView
from apps.trading.domain.cycle import CycleConfig, CycleOutcome

__all__ = [
    "OPEN_STATUSES",
    "Canceled",
    "Configure",
    "Decide",
    "ExitsStillOpen",
    "Market",
    "OrderInFlight",
    "Store",
    "VenuePort",
    "Window",
]

OPEN_STATUSES = frozenset(("PENDING_NEW", "NEW", "TRIGGERED", "PARTIALLY_FILLED", "PENDING_CANCEL"))


class OrderInFlight(Exception):
    """An order recorded by an earlier attempt is not on the venue (yet): it may still land,
    so nothing that depends on it is decided now; the cycle is retried."""


class ExitsStillOpen(OrderInFlight):
    """Exit orders of an ended trade are still open on the venue: nothing is decided until
    they are gone (an entry now could be filled against by them)."""


class Canceled(StrEnum):
    CLOSED = "closed"  # the order is closed on the venue (canceled, or filled before)
    ABSENT = "absent"  # the venue does not know it (recorded, never confirmed: in the grace)
    FAILED = "failed"  # the venue could not be asked: it may still be open there


class Store(Protocol):
    """Where one bot's orders, fills, trades, positions, breaker state and signals are kept.

    Orders are recorded before they are sent and changed only by venue reports and events;
    a fill and the trade and position change it causes are booked together.
    """

    def position(self, symbol: str) -> Any:
        """The open position in ``symbol`` (quantity != 0), or None."""

    def open_positions(self) -> Sequence[Any]:
        """Every open position, by symbol."""

    def position_prepare(self, symbol: str, stop_price: Decimal) -> bool:
        """Before an entry: the position row exists; when flat, it carries ``stop_price``.
        Return whether it was flat."""

    def position_stop_set(self, symbol: str, stop_price: Decimal | None) -> None: ...

    def position_mark(self, symbol: str, price: Decimal) -> None:
        """Mark the open position to ``price`` (its unrealized PnL)."""

    def open_trade(self, symbol: str) -> Any:
        """The open trade in ``symbol`` (what an exit order is placed for), or None."""

    def trade_key(self, trade: Any) -> Any:
        """What an order's ``trade`` refers to for ``trade`` (None for None)."""

    def order_trade_key(self, order: Any) -> Any: ...

    def open_orders(self, symbol: str) -> Sequence[Any]:
        """The symbol's orders in an open status, newest first."""

    def stop_orders(self, symbol: str) -> Sequence[Any]:
        """The symbol's STOP_MARKET stop-loss and trailing stops (any status), newest first."""

    def closed_trades(self, after: datetime, until: datetime) -> Iterable[tuple[datetime, Decimal]]:
        """(exit time, net PnL) of the trades closed in ``(after, until]``."""

    def kill_switch(self) -> tuple[bool, str]:
        """Whether the kill switch holds the bot now, and why."""

    def breaker_latched(self) -> Mapping[str, str]: ...

    def breaker_save(self, decision: BreakerDecision, state: Mapping[str, Any]) -> None: ...

    def order_record(
        self,
        request: OrderRequest,
        *,
        purpose: str,
        trade: Any,
        expected_price: Decimal | None,
    ) -> tuple[Any, bool]:
        """Record an order about to be sent (PENDING_NEW); the same client id gives the one
        recorded before and False."""

    def order_reject(self, order: Any, *, at: datetime, reason: str, code: int | None) -> Any: ...

    def order_apply_report(self, order: Any, report: OrderReport, *, at: datetime) -> Any: ...

    def order_close_missing(self, order: Any) -> Any:
        """Close an open order the venue does not know (after the store's grace)."""

    def order_refresh(self, order: Any) -> Any: ...

    def signal_record(
        self, *, symbol: str, outcome: CycleOutcome, order: Any, at: datetime
    ) -> None:
        """Record a strategy decision and what came of it."""


class VenuePort(Protocol):
    """The venue as a cycle sees it: the exchange, and what happened on it since last time."""

    @property
    def exchange(self) -> Exchange: ...

    def mark(self) -> int:
        """A mark in the venue's events: what ``after_place`` applies is after it."""

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]:
        """Apply what happened up to the candle opened at ``open_time``; return the purposes
        of the orders that filled."""

    def after_place(self, *, order: Any, report: OrderReport, mark: int) -> None: ...

    def equity(self) -> Decimal:
        """Wallet balance plus unrealized PnL of the USDT account."""


class Market(Protocol):
    """Market readings the risk gate takes: CryptoVIX and the correlation matrix."""

    def vix(self, now: datetime, vix: CryptoVIX) -> VixReading | None: ...

    def correlations(
        self, symbols: Sequence[str], lookback: int, now: datetime
    ) -> CorrelationMatrix | None: ...


Decide = Callable[[str, int, PositionView | None, Decimal], Decision | None]
Configure = Callable[[Decimal], CycleConfig]
Window = Callable[[str, int], CandleArrays]
