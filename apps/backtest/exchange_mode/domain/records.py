"""The exchange-mode backtest's store: orders, fills, trades, positions and signals in memory.

``Ledger`` is the in-memory ``apps.trading.domain.runner.Store``; the database store
(``apps.trading.engine.store.DbStore``) is the other, and ``tests/backtest/test_store_contract.py``
holds them to the same records for the same operations.

The in-memory counterpart of the order services (``apps.orders.services``) the live and paper
loop writes through: the same status rules (``apps.orders.domain.state``) and the same trade and
position arithmetic (``apps.orders.domain.accounting``), applied to plain records instead of
database rows. Two things the database does implicitly are done here explicitly:

- every amount is stored at the columns' scale (12 decimal places, ROI 6; Postgres rounds half
  away from zero), so a value read back in a later cycle is the one a row would give;
- an event of an order the bot did not place is skipped, as ``apps.trading.venues.apply_events``
  skips an order it does not know, except the simulator's liquidation ("autoclose"), which is
  recorded as the bot's ``liquidation`` order and closes its trade, as there;
- an exit order belongs to the trade it was placed for (``SimOrder.trade``): a fill of one whose
  trade has ended is never booked to another trade.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from apps.exchange.domain.events import FundingFeeCharged, OrderFilled, OrderUpdated
from apps.exchange.domain.types import Fill, OrderReport, OrderRequest, Side
from apps.orders.domain.accounting import (
    CLOSED,
    LONG,
    OPEN,
    ZERO,
    position_apply_fill,
    position_mark,
    position_update,
    split_fee,
    trade_add,
    trade_open_values,
    trade_reduce,
)
from apps.orders.domain.adoption import infer_purpose, is_liquidation_id, liquidation_client_id
from apps.orders.domain.state import (
    TERMINAL,
    OrderStatus,
    report_stale_reason,
    report_target_status,
)
from apps.risk.domain.circuit_breaker import BreakerDecision
from apps.trading.domain.cycle import CycleOutcome
from apps.trading.domain.runner import signal_outcome

__all__ = ["Ledger", "SimOrder", "SimPosition", "SimSignal", "SimTrade"]

_SCALE = Decimal("1E-12")  # DECIMAL columns: max_digits=28, decimal_places=12


def stored(value: Decimal | None) -> Decimal | None:
    """``value`` as a numeric(28, 12) column keeps it."""
    return None if value is None else value.quantize(_SCALE, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class SimOrder:
    """An order the bot recorded before sending it (the ``Order`` row)."""

    client_order_id: str
    symbol: str
    purpose: str
    type: str
    side: str
    trigger_price: Decimal | None
    quantity: Decimal
    sequence: int  # creation order (the rows' created_at)
    expected_price: Decimal | None = None
    status: OrderStatus = OrderStatus.PENDING_NEW
    filled_quantity: Decimal = ZERO
    trade: int | None = None  # the number of the trade an exit order was placed for
    reject_reason: str = ""


@dataclass(slots=True)
class SimPosition:
    """The bot's position in one symbol (the ``Position`` row): signed quantity."""

    symbol: str
    leverage: int
    quantity: Decimal = ZERO
    side: str = ""
    entry_price: Decimal = ZERO
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal = ZERO
    stop_price: Decimal | None = None
    liquidation_price: Decimal | None = None

    @property
    def notional(self) -> Decimal:
        return abs(self.quantity) * (self.mark_price or self.entry_price)

    def store(self) -> None:
        self.quantity = stored(self.quantity)  # type: ignore[assignment]
        self.entry_price = stored(self.entry_price)  # type: ignore[assignment]
        self.mark_price = stored(self.mark_price)
        self.unrealized_pnl = stored(self.unrealized_pnl)  # type: ignore[assignment]
        self.stop_price = stored(self.stop_price)
        self.liquidation_price = stored(self.liquidation_price)


@dataclass(slots=True)
class SimTrade:
    """A round trip (the ``Trade`` row): first entry fill to the fill that makes it flat."""

    symbol: str
    side: str
    mode: str
    quantity: Decimal
    remaining_quantity: Decimal
    entry_price: Decimal
    leverage: int
    entry_time: datetime
    fees: Decimal
    number: int  # creation order (the rows' id)
    exit_price: Decimal | None = None
    exit_time: datetime | None = None
    status: str = OPEN
    exit_reason: str = ""
    roi: Decimal | None = None
    funding: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    # the trade's exit-side fills so far (the services sum them from the Fill rows)
    exit_qty: Decimal = field(default=ZERO, repr=False)
    exit_notional: Decimal = field(default=ZERO, repr=False)

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees - self.funding

    @property
    def exit_side(self) -> Side:
        return Side.SELL if self.side == LONG else Side.BUY

    def store(self) -> None:
        for name in ("quantity", "remaining_quantity", "entry_price", "fees", "funding"):
            setattr(self, name, stored(getattr(self, name)))
        self.realized_pnl = stored(self.realized_pnl)  # type: ignore[assignment]
        self.exit_price = stored(self.exit_price)


@dataclass(frozen=True, slots=True)
class SimSignal:
    """A decision (the strategy's, or an external signal's) and its outcome (``Signal``)."""

    symbol: str
    action: str
    outcome: str
    blocked_by: str
    detail: str
    order: str | None
    at: datetime


_SIGNAL_ACTIONS = {"ENTER_LONG": "buy", "ENTER_SHORT": "sell"}
_STOP_PURPOSES = frozenset(("stop_loss", "trailing_stop"))


class Ledger:
    """One bot's orders, trades and positions, changed by what its exchange reports."""

    def __init__(self, *, leverage: int, mode: str, bot_key: str = "b0") -> None:
        self.leverage = leverage
        self.mode = mode
        self.bot_key = bot_key
        self.orders: dict[str, SimOrder] = {}
        self.trades: list[SimTrade] = []
        self.positions: dict[str, SimPosition] = {}
        self._applied: set[tuple[str, str]] = set()
        # indexes over ``orders`` (creation order): every order, and those not yet terminal
        self._by_symbol: dict[str, list[SimOrder]] = {}
        self._by_type: dict[tuple[str, str], list[SimOrder]] = {}
        self._open_by_symbol: dict[str, list[SimOrder]] = {}
        self._open_trades: list[SimTrade] = []  # (a closed trade never opens again)
        self.latched: dict[str, str] = {}  # the circuit breaker's latches (``BreakerState``)
        self.signals: list[SimSignal] = []  # decisions and what came of them (``Signal``)

    # --- reads ---------------------------------------------------------------------------------
    def position(self, symbol: str) -> SimPosition | None:
        """The open position in ``symbol`` (quantity != 0), or None."""
        row = self.positions.get(symbol)
        return row if row is not None and row.quantity != 0 else None

    def open_positions(self) -> list[SimPosition]:
        """Every open position, by symbol (the rows' ordering)."""
        held = [p for p in self.positions.values() if p.quantity != 0]
        if len(held) > 1:
            held.sort(key=lambda p: p.symbol)
        return held

    def open_trade(self, symbol: str) -> SimTrade | None:
        """The latest open trade in ``symbol`` (by entry time, then creation)."""
        if not self._open_trades:
            return None
        if any(t.status != OPEN for t in self._open_trades):
            self._open_trades = [t for t in self._open_trades if t.status == OPEN]
        open_ = [t for t in self._open_trades if t.symbol == symbol]
        return max(open_, key=lambda t: (t.entry_time, t.number)) if open_ else None

    def closed_between(self, start: datetime, end: datetime) -> Iterable[SimTrade]:
        """Trades closed in ``(start, end]``."""
        return (
            t
            for t in self.trades
            if t.status == CLOSED and t.exit_time is not None and start < t.exit_time <= end
        )

    def orders_of(self, symbol: str, type_: str | None = None) -> list[SimOrder]:
        """The symbol's orders (of one order type), newest first (the rows' ordering)."""
        if type_ is None:
            return self._by_symbol.get(symbol, [])[::-1]
        return self._by_type.get((symbol, type_), [])[::-1]

    def open_orders_of(self, symbol: str) -> list[SimOrder]:
        """The symbol's orders not in a terminal status, newest first (``orders_of`` filtered:
        a terminal status never changes again, so those leave the index for good)."""
        rows = self._open_by_symbol.get(symbol)
        if not rows:
            return []
        live = [o for o in rows if o.status not in TERMINAL]
        if len(live) != len(rows):
            self._open_by_symbol[symbol] = live
        return live[::-1]

    def _add(self, order: SimOrder) -> None:
        self.orders[order.client_order_id] = order
        self._by_symbol.setdefault(order.symbol, []).append(order)
        self._by_type.setdefault((order.symbol, order.type), []).append(order)
        self._open_by_symbol.setdefault(order.symbol, []).append(order)

    # --- orders --------------------------------------------------------------------------------
    def order_create(
        self,
        request: OrderRequest,
        *,
        purpose: str,
        expected_price: Decimal | None = None,
        trade: int | None = None,
    ) -> SimOrder:
        """Record an order about to be sent, PENDING_NEW; the same client id returns the
        recorded one (a retried intent is never sent twice)."""
        cid = request.client_order_id
        if not cid:
            raise ValueError(f"{request.symbol} {request.side} {request.type}: no client order id")
        existing = self.orders.get(cid)
        if existing is not None:
            return existing
        order = SimOrder(
            client_order_id=cid,
            symbol=request.symbol,
            purpose=purpose,
            type=request.type.value,
            side=request.side.value,
            trigger_price=stored(request.trigger_price),
            quantity=request.quantity or ZERO,
            sequence=len(self.orders),
            expected_price=expected_price,
            trade=trade,
        )
        self._add(order)
        return order

    def order_record(
        self,
        request: OrderRequest,
        *,
        purpose: str,
        trade: SimTrade | None,
        expected_price: Decimal | None,
    ) -> tuple[SimOrder, bool]:
        """``order_create`` for the runner, saying whether the order is new."""
        known = self.orders.get(request.client_order_id or "")
        if known is not None:
            return known, False
        order = self.order_create(
            request,
            purpose=purpose,
            expected_price=expected_price,
            trade=None if trade is None else trade.number,
        )
        return order, True

    def order_reject(
        self,
        order: SimOrder,
        *,
        at: datetime | None = None,
        reason: str = "",
        code: int | None = None,
    ) -> SimOrder:
        if order.status == OrderStatus.PENDING_NEW:
            order.status = OrderStatus.REJECTED
            order.reject_reason = reason
        return order

    def order_apply_report(
        self, order: SimOrder, report: OrderReport, *, at: datetime | None = None
    ) -> SimOrder:
        """Bring the order up to a venue report (a stale or illegal one is ignored)."""
        target = report_target_status(order.status, report)
        if report_stale_reason(order.status, order.filled_quantity, report, target):
            return order
        if report.filled_qty > order.filled_quantity:
            order.filled_quantity = report.filled_qty
        order.status = target
        return order

    def order_close_missing(self, order: SimOrder) -> SimOrder:
        """Close an open order the venue does not know (nothing is in flight in memory)."""
        if order.status not in TERMINAL:
            pending = order.status == OrderStatus.PENDING_CANCEL
            order.status = OrderStatus.CANCELED if pending else OrderStatus.EXPIRED
        return order

    @staticmethod
    def order_refresh(order: SimOrder) -> SimOrder:
        return order

    # --- the runner's store (``apps.trading.domain.runner.Store``) -----------------------------
    def position_prepare(self, symbol: str, stop_price: Decimal) -> bool:
        held = self.positions.get(symbol)
        if held is None:
            held = self.positions[symbol] = SimPosition(symbol, self.leverage)
        if held.quantity != 0:
            return False
        held.stop_price = stored(stop_price)
        return True

    def position_stop_set(self, symbol: str, stop_price: Decimal | None) -> None:
        held = self.positions.get(symbol)
        if held is not None:
            held.stop_price = stored(stop_price)

    def position_mark(self, symbol: str, price: Decimal) -> None:
        position = self.position(symbol)
        if position is not None and position_mark(position, price=price):
            position.store()

    @staticmethod
    def trade_key(trade: SimTrade | None) -> int | None:
        return None if trade is None else trade.number

    @staticmethod
    def order_trade_key(order: SimOrder) -> int | None:
        return order.trade

    open_orders = open_orders_of

    def stop_orders(self, symbol: str) -> list[SimOrder]:
        return [o for o in self.orders_of(symbol, "STOP_MARKET") if o.purpose in _STOP_PURPOSES]

    def closed_trades(self, after: datetime, until: datetime) -> Iterator[tuple[datetime, Decimal]]:
        for t in self.closed_between(after, until):
            yield t.exit_time, t.net_pnl  # type: ignore[misc]

    @staticmethod
    def kill_switch() -> tuple[bool, str]:
        return False, ""  # (nobody engages a kill switch in a backtest)

    def breaker_latched(self) -> Mapping[str, str]:
        return self.latched

    def breaker_save(self, decision: BreakerDecision, state: Mapping[str, Any]) -> None:
        self.latched = dict(state["latched"])

    def signal_record(
        self, *, symbol: str, outcome: CycleOutcome, order: SimOrder | None, at: datetime
    ) -> None:
        decision = outcome.decision
        if decision is None:
            return
        self.signals.append(
            SimSignal(
                symbol=symbol,
                action=_SIGNAL_ACTIONS.get(decision.action.value, "close"),
                outcome=signal_outcome(outcome.kind),
                blocked_by=outcome.blocked_by,
                detail="; ".join(dict.fromkeys((outcome.reason, *outcome.reasons))),
                order=None if order is None else order.client_order_id,
                at=at,
            )
        )

    # --- events and fills ------------------------------------------------------------------------
    def apply_events(self, events: Iterable[object]) -> set[str]:
        """Apply exchange events (fills, order changes, funding); return the purposes of the
        orders that filled."""
        purposes: set[str] = set()
        for event in events:
            if isinstance(event, FundingFeeCharged):
                for trade in self.trades:
                    if trade.symbol == event.symbol and trade.status == OPEN:
                        trade.funding = stored(trade.funding - event.amount)  # type: ignore[assignment]
                continue
            if not isinstance(event, OrderFilled | OrderUpdated):
                continue
            report = event.order
            order = self.orders.get(report.client_order_id)
            if order is None and is_liquidation_id(report.client_order_id):
                order = self._liquidation(report)
                report = replace(report, client_order_id=order.client_order_id)
            if order is None:
                continue  # not ours
            if isinstance(event, OrderFilled) and self.fill_apply(order, event.fill):
                purposes.add(order.purpose)
            self.order_apply_report(order, report)
        return purposes

    def _liquidation(self, report: OrderReport) -> SimOrder:
        """Record the venue's liquidation order as the bot's (``order_adopt``)."""
        cid = liquidation_client_id(self.bot_key, report.client_order_id)
        known = self.orders.get(cid)
        if known is not None:
            return known
        trade = self.open_trade(report.symbol)
        order = SimOrder(
            client_order_id=cid,
            symbol=report.symbol,
            purpose=infer_purpose(report),
            type=report.type.value,
            side=report.side.value,
            trigger_price=stored(report.trigger_price),
            quantity=report.quantity or ZERO,
            sequence=len(self.orders),
            trade=trade.number if trade else None,
        )
        self._add(order)
        return order

    def fill_apply(self, order: SimOrder, fill: Fill) -> bool:
        """Book a fill on the trade and the position; False when it was booked before."""
        key = (order.client_order_id, str(fill.trade_id))
        if key in self._applied:
            return False
        self._applied.add(key)
        position = self.positions.get(order.symbol)
        if position is None:
            position = self.positions[order.symbol] = SimPosition(order.symbol, self.leverage)
        trade = self.open_trade(order.symbol)
        ended = trade is None or trade.number != order.trade
        if order.trade is not None and order.purpose != "entry" and ended:
            trade = None  # its trade has ended: never booked to another one
        change = position_apply_fill(
            qty=position.quantity,
            entry=position.entry_price,
            side=fill.side,
            fill_qty=fill.qty,
            price=fill.price,
        )
        fee_close, fee_open = split_fee(fee=fill.fee, fill_qty=fill.qty, change=change)
        closed_trade = None
        if change.closed_qty > 0 and trade is not None:  # (no open trade: accounting skipped)
            trade_reduce(
                trade,
                change,
                price=fill.price,
                fee=fee_close,
                time=fill.time,
                purpose=order.purpose,
                prior_exit_qty=trade.exit_qty,
                prior_exit_notional=trade.exit_notional,
            )
            trade.store()
            if change.closes:
                closed_trade = trade
        if change.opened_qty > 0:
            if change.opens or trade is None:
                trade = SimTrade(
                    symbol=order.symbol,
                    mode=self.mode,
                    leverage=self.leverage,
                    entry_time=fill.time,
                    number=len(self.trades),
                    **trade_open_values(change, fee=fee_open),
                )
                trade.store()
                self.trades.append(trade)
                self._open_trades.append(trade)
            else:
                trade_add(trade, change, fee=fee_open)
                trade.store()
        attached = closed_trade or trade
        if attached is not None and fill.side is attached.exit_side:
            attached.exit_qty += fill.qty
            attached.exit_notional += fill.price * fill.qty
        position_update(position, change, price=fill.price, leverage=self.leverage)
        position.store()
        return True
