"""The trading runner: one bot's cycle, written once, against a venue, a store and market readings.

Every loop that trades a bot goes through ``CycleRunner``: the Celery cycle and ``replay`` (the
database store over the order services, ``apps.trading.engine.store``), webhook signals
(``signal_step``) and the exchange-mode backtests of candles and of signal files (the in-memory
store, ``apps.backtest.exchange_mode.domain``). What differs between them is swapped, never
branched on (the ports, ``ports.py``):

- the **venue** (``VenuePort``): the ``Exchange`` protocol plus how the runner learns what
  happened since the last look (paper and backtests: a ``SimulatedExchange`` fed candles, its
  events applied; live: Binance queried by client id);
- the **store** (``Store``): orders, fills, trades, positions, the breaker's latches, signals;
- the **market readings** (``Market``): CryptoVIX and the correlation matrix;
- the **decision** of a candle (``Decide``; the backtest reads it from a whole-series frame) and
  the configuration (``Configure``; the database adds the bot's AI).

A cycle (``CycleRunner.cycle``): bring the venue up to date and mark the position; cancel exit
orders of ended trades; break-even and managed trailing stop moves; equity and the circuit
breaker (a FLATTEN tier closes every symbol); the decision; then, only when there is one, the
inputs (book, quote, open positions, kill switch, CryptoVIX for an entry, daily PnL), the pure
``decision_outcome`` (AI hook, risk gate, execution plan) and its execution: IOC entry slices
re-planned until done, then the protective stop, the take-profits and a native trailing stop
sized on what filled; or the protection canceled and a reduce-only exit sent.

Pure: no Django, no I/O of its own, the clock is ``now``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from apps.exchange.domain.errors import (
    DuplicateClientOrderIdError,
    ExchangeError,
    InvalidOrderError,
    OrderNotFoundError,
    RejectedError,
)
from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import (
    Candle,
    InstrumentInfo,
    MarginType,
    OrderReport,
    OrderRequest,
    Side,
)
from apps.execution.domain.slippage import EntryDone
from apps.orders.domain.accounting import EXIT_PURPOSES, exit_order_orphaned
from apps.risk.domain.circuit_breaker import BreakerAction, BreakerDecision, BreakerTier
from apps.risk.domain.gate import OpenPosition, RiskContext
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.sizing import InstrumentFilters
from apps.risk.domain.types import Direction
from apps.risk.domain.vix import CryptoVIX
from apps.strategies.domain.base import CandleArrays, PositionView
from apps.trading.domain.cycle import (
    CycleConfig,
    CycleInputs,
    CycleOutcome,
    OutcomeKind,
    decision_outcome,
)
from apps.trading.domain.ports import (
    OPEN_STATUSES,
    Canceled,
    Configure,
    Decide,
    ExitsStillOpen,
    Market,
    OrderInFlight,
    Store,
    VenuePort,
    Window,
)
from apps.trading.domain.profile import (
    TRAILING_MANAGED,
    BotProfile,
    break_even_stop,
    breaker_decide,
    breaker_window,
    flatten_order,
    managed_trail_stop,
    replacement_stop_order,
    utc_day_start,
)

__all__ = [  # (the ports re-exported: what a loop needs comes from here)
    "BOOK_DEPTH",
    "OPEN_STATUSES",
    "Canceled",
    "Cancellation",
    "Configure",
    "CycleRunner",
    "CycleStep",
    "Decide",
    "ExitsStillOpen",
    "Market",
    "OrderInFlight",
    "Store",
    "VenuePort",
    "Window",
    "breaker_evaluate",
    "signal_outcome",
]

T = TypeVar("T")
logger = logging.getLogger(__name__)

BOOK_DEPTH = 50
_PROTECTION_STATUSES = frozenset(("NEW", "PARTIALLY_FILLED", "TRIGGERED"))
_RESTING_STOP = frozenset(("NEW", "PENDING_NEW"))
_STOP_PURPOSES = frozenset(("stop_loss", "trailing_stop"))
_NOT_PROTECTION = frozenset(("entry", "emergency"))


@dataclass(slots=True)
class CycleStep:
    """What one cycle did: ``kind`` (an ``OutcomeKind`` value or "flatten"), its reason, the
    outcome and first order (when there was a decision), the configuration it was taken with,
    and the equity read when nothing changed after (None: read it again)."""

    kind: str
    reason: str
    outcome: CycleOutcome | None = None
    order: Any = None
    config: CycleConfig | None = None
    unchanged_equity: Decimal | None = None


@dataclass(slots=True)
class Cancellation:
    """What ``CycleRunner.cancel_orders`` did: the outcome of each recorded order (by client
    id), the client ids of the unrecorded venue orders it canceled, and a line per notable
    event (an unrecorded order canceled, a cancel that failed)."""

    outcomes: dict[str, Canceled] = field(default_factory=dict)
    unrecorded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for outcome in self.outcomes.values() if outcome is Canceled.FAILED)


def signal_outcome(kind: OutcomeKind) -> str:
    """The ``Signal.outcome`` of a cycle outcome."""
    return {
        OutcomeKind.ENTER: "placed",
        OutcomeKind.EXIT: "placed",
        OutcomeKind.ADJUST_STOP: "placed",
        OutcomeKind.BLOCKED: "blocked",
        OutcomeKind.REFUSED: "rejected",
    }.get(kind, "ignored")


def breaker_evaluate(
    tiers: Sequence[BreakerTier], store: Store, now: datetime, equity: Decimal
) -> BreakerDecision | None:
    """The circuit breaker from the trades closed in its window and the store's latches (a
    tripped tier stays tripped until its window has passed); the new state is stored. None
    without tiers."""
    if not tiers:
        return None
    decision, state = breaker_decide(
        tiers,
        store.breaker_latched(),
        store.closed_trades(now - breaker_window(tiers), now),
        now,
        equity,
    )
    store.breaker_save(decision, state)
    return decision


def _no_guard() -> None:
    return None


class CycleRunner:
    """One bot's cycles against one venue and one store (see the module)."""

    def __init__(
        self,
        *,
        profile: BotProfile,
        symbols: Sequence[str],
        store: Store,
        venue: VenuePort,
        market: Market,
        instruments: Callable[[str], InstrumentInfo],
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        now: datetime,
        name: str = "",
        guard: Callable[[], None] = _no_guard,
        recover_stops: bool = False,
        log: logging.Logger = logger,
    ) -> None:
        self.profile = profile
        self.symbols = tuple(symbols)
        self.store = store
        self.venue = venue
        self.market = market
        self.instruments = instruments
        self.run = run
        self.now = now
        self.name = name or profile.bot_key
        self.guard = guard  # raises when the bot may no longer act (the lease was lost)
        self.recover_stops = recover_stops  # re-place a missing stop (live: a crash can lose it)
        self.log = log
        self.trailing = profile.trailing_config
        self.vix_model = CryptoVIX(bands=profile.volatility_bands)

    # --- sending --------------------------------------------------------------------------------
    def send(
        self,
        request: OrderRequest,
        *,
        purpose: str,
        expected: Decimal | None = None,
        trade: Any = None,
    ) -> Any:
        """Record the order, then send it, once.

        The intent (client id, side, size, purpose) is recorded before anything leaves, so a
        crash after sending leaves a record that recovery finds on the venue by its client id.
        Only the attempt that recorded it sends it: one recorded by an earlier attempt is
        looked up on the venue instead (raise ``OrderInFlight`` when it is not there yet).
        """
        self.guard()
        store = self.store
        order, created = store.order_record(
            request, purpose=purpose, trade=trade, expected_price=expected
        )
        if not created:
            if order.status == "PENDING_NEW":
                return self._resolve_recorded(order)
            return order  # sent and settled before (a retried cycle): never twice
        mark = self.venue.mark()
        try:
            report = self.run(self.venue.exchange.place_order(request))
        except DuplicateClientOrderIdError:  # it is on the venue already: take its state
            return self._resolve_recorded(order)
        except RejectedError as exc:
            return store.order_reject(order, at=self.now, reason=str(exc)[:255], code=exc.code)
        order = store.order_apply_report(order, report, at=self.now)
        self.venue.after_place(order=order, report=report, mark=mark)
        return store.order_refresh(order)

    def _resolve_recorded(self, order: Any) -> Any:
        try:
            report = self.run(self.venue.exchange.get_order(order.symbol, order.client_order_id))
        except OrderNotFoundError:
            raise OrderInFlight(
                f"order {order.client_order_id} was recorded but is not on the venue (yet)"
            ) from None
        order = self.store.order_apply_report(order, report, at=self.now)
        self.venue.after_place(order=order, report=report, mark=self.venue.mark())
        return self.store.order_refresh(order)

    def cancel(self, order: Any, *, strict: bool = False) -> Canceled:
        """Cancel one recorded order on the venue and record its final state.

        Regular and conditional (algo) orders alike: the venue routes by the client id. An
        order the venue no longer has open is looked up (it may have filled); one the venue
        does not know at all is closed as missing (after the store's grace for in-flight ones).
        A venue error is logged and the order counted ``FAILED`` (it may still be open);
        ``strict``: the error propagates instead (reconciliation: its task retries).
        """
        symbol, cid = order.symbol, order.client_order_id
        exchange = self.venue.exchange
        try:
            report = self.run(exchange.cancel_order(symbol, cid))
        except OrderNotFoundError:
            try:
                report = self.run(exchange.get_order(symbol, cid))
            except OrderNotFoundError:
                closed = self.store.order_close_missing(order)
                return Canceled.CLOSED if closed.status not in OPEN_STATUSES else Canceled.ABSENT
            except ExchangeError as exc:
                if strict:
                    raise
                self.log.warning("lookup of %s failed: %s", cid, exc)
                return Canceled.FAILED
        except ExchangeError as exc:
            if strict:
                raise
            self.log.warning("cancel of %s failed: %s", cid, exc)
            return Canceled.FAILED
        after = self.store.order_apply_report(order, report, at=self.now)
        return Canceled.CLOSED if after.status not in OPEN_STATUSES else Canceled.FAILED

    def cancel_orders(
        self,
        orders: Iterable[Any] = (),
        *,
        unrecorded: Iterable[OrderReport] = (),
        strict: bool = False,
    ) -> Cancellation:
        """Cancel a bot's open orders on its venue: the one place every loop that cancels
        several (the cycle's exits, reconciliation, the kill switch) goes through.

        Each recorded order of ``orders`` is canceled with its final state recorded
        (``cancel``); each report of ``unrecorded`` (an order of the bot's own that the venue
        lists and the records lost) is canceled by its client id alone, regular or conditional
        alike. The guard is checked before each cancel (a run whose lease was taken over stops
        there). ``strict``: a venue error propagates; else it is noted and the order counted.
        """
        done = Cancellation()
        for order in orders:
            self.guard()
            done.outcomes[order.client_order_id] = self.cancel(order, strict=strict)
        for report in unrecorded:
            self.guard()
            cid = report.client_order_id
            try:
                self.run(self.venue.exchange.cancel_order(report.symbol, cid))
            except ExchangeError as exc:
                if strict:
                    raise
                done.notes.append(f"cancel of {cid} failed: {exc}")
                continue
            done.unrecorded.append(cid)
            done.notes.append(f"canceled {cid}, unknown to the records")
        return done

    # --- the venue caught up ------------------------------------------------------------------
    def caught_up(self, symbol: str, interval: str, open_time: int) -> set[str]:
        """What happened on the venue up to this candle, applied, and the position marked to the
        market; then no exit order of an ended trade stays open (raise ``ExitsStillOpen``), and
        an open position without a stop gets one back (``recover_stops``)."""
        purposes = self.venue.catch_up(symbol=symbol, interval=interval, open_time=open_time)
        if self.store.position(symbol) is not None:
            mark = self.run(self.venue.exchange.get_mark_price(symbol)).mark_price
            self.store.position_mark(symbol, mark)  # unrealized PnL now
        if self.cancel_orphan_exits(symbol).failed:
            raise ExitsStillOpen(
                f"{symbol}: exit orders of an ended trade could not be canceled yet"
            )
        if self.recover_stops:
            self.protect_open_position(symbol)
        return purposes

    def equity(self) -> Decimal:
        return self.venue.equity()

    # --- exits ----------------------------------------------------------------------------------
    def cancel_protection(self, symbol: str) -> None:
        self.cancel_orders(
            o
            for o in self.store.open_orders(symbol)
            if o.status in _PROTECTION_STATUSES and o.purpose not in _NOT_PROTECTION
        )

    def orphan_exits(self, symbol: str) -> list[Any]:
        """The open exit orders (stop, take-profits, trailing) of trades that have ended,
        oldest first."""
        store = self.store
        orders = store.open_orders(symbol)
        if not orders:
            return []
        trade = store.trade_key(store.open_trade(symbol))
        flat = store.position(symbol) is None
        return [
            order
            for order in reversed(orders)  # oldest first
            if order.purpose in EXIT_PURPOSES
            and order.status in OPEN_STATUSES
            and exit_order_orphaned(
                order_trade=store.order_trade_key(order), open_trade=trade, flat=flat
            )
        ]

    def cancel_orphan_exits(self, symbol: str, *, strict: bool = False) -> Cancellation:
        """Cancel the exit orders of trades that have ended (``orphan_exits``); its
        ``failed``: how many may still be open on the venue. A trade's exit orders die with
        it: left alone, a reduce-only take-profit of a stopped-out trade fills against the next
        trade. One the venue does not know (its send failed) is not counted."""
        orphans = self.orphan_exits(symbol)
        done = self.cancel_orders(orphans, strict=strict)
        for order in orphans:
            if done.outcomes.get(order.client_order_id) is Canceled.CLOSED:
                self.log.info(
                    "bot %s %s: canceled %s %s (its trade has ended)",
                    self.name, symbol, order.purpose, order.client_order_id,
                )  # fmt: skip
        return done

    def replace_stop(
        self, symbol: str, new_stop: Decimal, why: str, *, purpose: str = "stop_loss"
    ) -> Any:
        """Move the protective stop: place the new stop-market first and cancel the old one only
        once the new one rests, so the position is never without a stop. A stop only ever moves
        in the position's favour: a new stop that is not better than the current one on the
        tick grid is not placed. Return the new stop order when it rests, else None (the old
        stop is kept)."""
        store = self.store
        position = store.position(symbol)
        if position is None:
            return None
        stops = store.stop_orders(symbol)
        old = next((o for o in stops if o.status in _RESTING_STOP), None)
        request = replacement_stop_order(
            bot_key=self.profile.bot_key,
            symbol=symbol,
            quantity=position.quantity,
            stop_price=new_stop,
            info=self.instruments(symbol),
            sequence=len(stops) + 1,
        )
        assert request.trigger_price is not None
        current = position.stop_price
        if current is not None and not (
            request.trigger_price > current
            if position.quantity > 0
            else request.trigger_price < current
        ):
            return None  # on the tick grid the move is none, or a loosening: the stop stays
        placed = self.send(request, purpose=purpose, trade=store.open_trade(symbol))
        if placed.status != "NEW":
            self.log.warning(
                "bot %s %s: new stop %s not placed (%s); old stop kept",
                self.name, symbol, new_stop, getattr(placed, "reject_reason", "") or placed.status,
            )  # fmt: skip
            return None
        if old is not None:
            self.cancel(old)
        store.position_stop_set(symbol, request.trigger_price)
        self.log.info(
            "bot %s %s: stop moved to %s (%s)", self.name, symbol, request.trigger_price, why
        )
        return placed

    def trail(self, symbol: str, candle: Candle | None) -> None:
        """Managed trailing stop: ratchet the stop-market with the last closed candle."""
        config = self.trailing
        if self.profile.trailing != TRAILING_MANAGED or config is None or candle is None:
            return
        position = self.store.position(symbol)
        if position is None or position.stop_price is None:
            return
        new_stop = managed_trail_stop(
            config,
            bot_key=self.profile.bot_key,
            symbol=symbol,
            quantity=position.quantity,
            entry_price=position.entry_price,
            stop_price=position.stop_price,
            info=self.instruments(symbol),
            high=candle.high,
            low=candle.low,
            close=candle.close,
        )
        if new_stop is not None:
            self.replace_stop(symbol, new_stop, "trailing", purpose="trailing_stop")

    def break_even(self, symbol: str, filled_purposes: set[str]) -> None:
        """After a partial take-profit, move the stop to the entry price (if configured)."""
        if "take_profit" not in filled_purposes or not self.profile.break_even:
            return
        position = self.store.position(symbol)
        if position is None:
            return
        stop = break_even_stop(
            quantity=position.quantity,
            entry_price=position.entry_price,
            stop_price=position.stop_price,
        )
        if stop is not None:
            self.replace_stop(symbol, stop, "break-even after the first exit")

    def protect_open_position(self, symbol: str) -> Any:
        """Re-place the protective stop of an open position that has a stop price and no stop
        order open (a crash between the entry and its stop, a stop canceled on the venue): the
        one place that decides and places a missing stop (the live cycle and reconciliation).

        The stop is an exchange STOP_MARKET, reduce-only, for the whole position at its stop
        price, recorded before it is sent; its client id is derived from the trade and the
        number of stops closed before it in the symbol, so a second attempt (a retry, a crash
        after sending) finds the same order instead of placing another. Return the stop order
        (its status says whether the venue took it: a rejection is recorded on it), or None
        when nothing was missing.
        """
        store = self.store
        position = store.position(symbol)
        if position is None or position.stop_price is None:
            return None
        if any(o.purpose in _STOP_PURPOSES for o in store.open_orders(symbol)):
            return None
        trade = store.open_trade(symbol)
        closed_stops = sum(1 for o in store.stop_orders(symbol) if o.status not in OPEN_STATUSES)
        request = replacement_stop_order(
            bot_key=self.profile.bot_key,
            symbol=symbol,
            quantity=position.quantity,
            stop_price=position.stop_price,
            info=self.instruments(symbol),
            sequence=0,
        )
        key = store.trade_key(trade)
        cid = client_order_id(
            self.profile.bot_key, symbol, "sl", 0 if key is None else key, closed_stops
        )
        request = replace(request, client_order_id=cid)
        self.log.warning(
            "bot %s %s: open position %s has no stop; re-placing it at %s",
            self.name, symbol, position.quantity, request.trigger_price,
        )  # fmt: skip
        placed = self.send(request, purpose="stop_loss", trade=trade)
        if placed.status == "NEW":
            store.position_stop_set(symbol, request.trigger_price)
        else:
            self.log.warning(
                "bot %s %s: missing stop %s not placed (%s)",
                self.name, symbol, request.trigger_price,
                getattr(placed, "reject_reason", "") or placed.status,
            )  # fmt: skip
        return placed

    def flatten(self, symbol: str, reason: str) -> None:
        """Cancel the symbol's orders and close its position reduce-only at market."""
        self.cancel_protection(symbol)
        position = self.store.position(symbol)
        if position is None:
            return
        request = flatten_order(
            bot_key=self.profile.bot_key, symbol=symbol, quantity=position.quantity, now=self.now
        )
        self.send(request, purpose="emergency", trade=self.store.open_trade(symbol))
        self.log.warning("bot %s %s flattened: %s", self.name, symbol, reason)

    # --- risk readings --------------------------------------------------------------------------
    def breaker(self, equity: Decimal) -> BreakerDecision | None:
        """The circuit breaker (``breaker_evaluate``) on this runner's store."""
        tiers = self.profile.breaker_tiers
        return breaker_evaluate(tiers, self.store, self.now, equity) if tiers else None

    def daily_net_pnl(self) -> Decimal:
        """Net PnL (realised - fees - funding) of the trades closed since 00:00 UTC: what the
        daily loss limit counts."""
        since = utc_day_start(self.now) - timedelta(microseconds=1)  # (after, until]
        return sum((net for _, net in self.store.closed_trades(since, self.now)), Decimal(0))

    def correlations(self, symbol: str) -> CorrelationMatrix | None:
        """The correlation matrix of the candidate and the open positions, read every cycle
        (the readings' hour cache then holds the same matrices whoever reads them)."""
        held = self.store.open_positions()
        if not held or (len(held) == 1 and held[0].symbol == symbol):
            return None  # (the candidate alone)
        names = sorted({symbol, *(p.symbol for p in held)})
        return self.market.correlations(names, self.profile.correlation_lookback, self.now)

    def position_view(self, symbol: str) -> PositionView | None:
        row = self.store.position(symbol)
        if row is None:
            return None
        side = Side.BUY if row.side == "LONG" else Side.SELL
        return PositionView(side, row.entry_price, abs(row.quantity), row.stop_price)

    def inputs(
        self,
        symbol: str,
        candles: CandleArrays,
        equity: Decimal,
        breaker: BreakerDecision | None,
        correlations: CorrelationMatrix | None,
        position: PositionView | None,
        *,
        entry: bool = True,
    ) -> CycleInputs:
        """Everything the pure kernel needs about ``symbol`` now: instrument, book, quote,
        position and the risk context. Read only when there is a decision: the kill switch is
        read now (one engaged since the cycle began blocks this entry); CryptoVIX only for an
        ``entry`` (nothing else is sized)."""
        info = self.instruments(symbol)
        killed, why = self.store.kill_switch()
        context = RiskContext(
            equity=equity,
            filters=InstrumentFilters(
                step_size=info.step_size, min_qty=info.min_qty, min_notional=info.min_notional
            ),
            open_positions=tuple(
                OpenPosition(
                    p.symbol, Direction.LONG if p.quantity > 0 else Direction.SHORT, p.notional
                )
                for p in self.store.open_positions()
            ),
            kill_switch=killed,
            kill_switch_reason=why,
            breaker=breaker,
            vix=self.market.vix(self.now, self.vix_model) if entry else None,
            correlations=correlations,
            daily_realized_pnl=self.daily_net_pnl(),
        )
        exchange = self.venue.exchange
        return CycleInputs(
            symbol=symbol,
            candles=candles,
            info=info,
            book=self.run(exchange.get_orderbook(symbol, limit=BOOK_DEPTH)),
            ticker=self.run(exchange.get_book_ticker(symbol)),
            risk=context,
            now=self.now,
            position=position,
        )

    # --- execution ------------------------------------------------------------------------------
    def venue_setup(self, symbol: str) -> None:
        """Before an entry from flat, the venue trades ``symbol`` at the bot's leverage and
        margin type. A margin type cannot change while the account has orders or a position in
        the symbol (another bot's, on a shared account): the entry then goes ahead on the
        account's margin type, and the log says so."""
        exchange = self.venue.exchange
        self.run(exchange.set_leverage(symbol, self.profile.leverage))
        try:
            self.run(exchange.set_margin_type(symbol, MarginType(self.profile.margin_type)))
        except InvalidOrderError as exc:
            self.log.warning(
                "bot %s %s: margin type stays as the account has it, not %s: %s",
                self.name, symbol, self.profile.margin_type, exc,
            )  # fmt: skip

    def enter(self, symbol: str, outcome: CycleOutcome, config: CycleConfig) -> Any:
        plan = outcome.plan
        assert plan is not None
        store = self.store
        # The stop price is on the position before anything is sent: a crash after the entry
        # fills leaves a position that recovery (reconcile, the next cycle) protects.
        if store.position_prepare(symbol, plan.stop_price):
            self.venue_setup(symbol)
        entry, first = plan.entry, None
        while True:
            round_filled = Decimal(0)  # what this round's IOC slices filled
            for request in entry.orders:
                order = self.send(request, purpose="entry", expected=entry.expected_price)
                first = first or order
                round_filled += order.filled_quantity
            book = self.run(self.venue.exchange.get_orderbook(symbol, limit=BOOK_DEPTH))
            follow = config.slippage.plan_after_fills(
                entry, filled_qty=round_filled, book=book, info=plan.info
            )
            if isinstance(follow, EntryDone):
                break
            entry = follow
        position = store.position(symbol)
        if position is None:
            return first
        self.cancel_orphan_exits(symbol)  # an entry that flipped the position ended a trade
        store.position_stop_set(symbol, plan.stop_price)
        trade = store.open_trade(symbol)
        protection = plan.protection(
            filled_qty=abs(position.quantity), entry_price=position.entry_price
        )
        self.send(protection.stop, purpose="stop_loss", trade=trade)
        for tp in protection.take_profits:
            self.send(tp.order, purpose="take_profit", trade=trade)
        if protection.native_trailing is not None:
            self.send(protection.native_trailing, purpose="trailing_stop", trade=trade)
        return first

    def execute(self, symbol: str, outcome: CycleOutcome, config: CycleConfig) -> Any:
        """Carry out an outcome; return the first order sent (None when none was)."""
        if outcome.kind is OutcomeKind.ENTER:
            return self.enter(symbol, outcome, config)
        if outcome.kind is OutcomeKind.EXIT:
            self.cancel_protection(symbol)
            assert outcome.exit_order is not None
            return self.send(outcome.exit_order, purpose="exit")
        if outcome.kind is OutcomeKind.ADJUST_STOP:  # the strategy's stop (``custom_stop``)
            assert outcome.new_stop is not None
            return self.replace_stop(
                symbol, outcome.new_stop, outcome.reason, purpose="trailing_stop"
            )
        return None

    # --- the cycle ------------------------------------------------------------------------------
    def cycle(
        self,
        symbol: str,
        open_time: int,
        *,
        interval: str,
        candle: Candle | None,
        decide: Decide,
        configure: Configure,
        window: Window,
    ) -> CycleStep:
        """One cycle of ``symbol`` at the candle opened at ``open_time`` (``candle``: that
        candle, for the managed trailing stop). ``decide(symbol, open_time, position,
        equity)`` gives the strategy's decision; ``configure(equity)`` the configuration it is
        carried out with; ``window(symbol, open_time)`` the candles the kernel's inputs carry.
        Raise ``StrategyError`` from the strategy and ``OrderInFlight`` when the venue is not
        settled yet; a FLATTEN breaker tier closes every symbol (kind "flatten")."""
        purposes = self.caught_up(symbol, interval, open_time)
        self.break_even(symbol, purposes)
        self.trail(symbol, candle)
        equity = self.equity()
        breaker = self.breaker(equity)
        if breaker is not None and breaker.action is BreakerAction.FLATTEN:
            for sym in self.symbols:
                self.flatten(sym, breaker.reason)
            return CycleStep("flatten", breaker.reason)
        correlations = self.correlations(symbol)
        position = self.position_view(symbol)
        decision = decide(symbol, open_time, position, equity)
        if decision is None:
            return CycleStep(OutcomeKind.NOTHING.value, "no signal", unchanged_equity=equity)
        config = configure(equity)
        inputs = self.inputs(
            symbol,
            window(symbol, open_time),
            equity,
            breaker,
            correlations,
            position,
            entry=decision.is_entry,
        )
        outcome = decision_outcome(inputs, config, decision)
        if outcome.kind is OutcomeKind.BLOCKED:
            self.log.info(
                "bot %s %s: entry blocked by %s: %s",
                self.name, symbol, outcome.blocked_by, outcome.reason,
            )  # fmt: skip
        order = self.execute(symbol, outcome, config)
        if outcome.kind is not OutcomeKind.ADJUST_STOP:  # a stop move is its order, not a signal
            self.store.signal_record(symbol=symbol, outcome=outcome, order=order, at=self.now)
        return CycleStep(outcome.kind.value, outcome.reason, outcome, order, config)
