"""The exchange-mode backtest: a bot's paper-trading loop over candles, without the database.

Per due candle, in the scheduler's order (open time, then symbol), exactly the steps of
``apps.trading.engine.cycle._run_locked`` on a paper venue:

1. feed the symbol's simulated exchange every candle it has not seen up to this one (the first
   cycle of a symbol feeds only the decided candle) and apply the events: fills, order changes
   and funding, booked like ``apply_events`` does (``records.Ledger``);
2. break-even move after a take-profit filled, then the managed trailing stop ratcheted with
   the decided candle (``trading.domain.profile``);
3. equity (wallet + unrealized) and the circuit breaker from the trades closed in its window;
   a FLATTEN tier closes every symbol and halts the bot (the run ends);
4. ``decide_cycle`` on the strategy's float window, the book and quote of the exchange, the
   open positions, the breaker, CryptoVIX and the correlation matrix, in its two steps: the
   strategy's decision, then (only when there is one) ``decision_outcome`` with the inputs;
5. entry: the IOC slices, re-planned by ``SlippageManager.plan_after_fills`` until done, then
   the protective stop, the take-profits and the native trailing stop sized on what filled;
   exit: cancel the protection, send the reduce-only market exit.

The exchange is the same ``SimulatedExchange`` paper trading uses, built the same way
(``paper_session_load``: the bot's instruments, its paper balance, ``seed`` = the bot's id,
its leverage, the default depth and fee models) and driven by the same clock rule. A strategy
error ends the run (paper trading pauses the bot); any other exception propagates (paper
trading would flatten and halt the bot).

Speed (same results): a built-in candle strategy is evaluated once over each symbol's candles
and every cycle's decision is read from that frame's row, which is the live window's last row
(``warmup_candles``); the book is synthesised only when an order or a decision reads it;
the daily PnL only for a decision, CryptoVIX only for an entry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import numpy as np

from apps.backtest.domain.kernel import EXIT_REASONS, TradeLog
from apps.backtest.domain.metrics import Metrics, compute_metrics
from apps.backtest.domain.sim.market import HourCache, Series, vix_reading
from apps.backtest.domain.sim.records import Ledger, SimOrder, SimPosition, SimTrade, stored
from apps.core.domain.clock import SettableClock
from apps.exchange.domain.errors import ExchangeError, OrderNotFoundError, RejectedError
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import (
    Candle,
    InstrumentInfo,
    OrderRequest,
    Side,
    datetime_to_ms,
    ms_to_datetime,
)
from apps.execution.domain.slippage import EntryDone
from apps.execution.domain.trailing import TrailingConfig
from apps.market.domain.candles import Klines, interval_to_ms
from apps.orders.domain.accounting import (
    CLOSED,
    EXIT_PURPOSES,
    LONG,
    exit_order_orphaned,
    position_mark,
)
from apps.orders.domain.state import OrderStatus
from apps.risk.domain.circuit_breaker import BreakerAction, BreakerDecision
from apps.risk.domain.gate import OpenPosition, RiskContext
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.sizing import InstrumentFilters
from apps.risk.domain.types import Direction
from apps.risk.domain.vix import CryptoVIX
from apps.strategies.domain.base import (
    OHLCV,
    Action,
    Decision,
    PositionView,
    SignalFrame,
    Strategy,
    StrategyError,
)
from apps.strategies.domain.registry import build_strategy
from apps.trading.domain.cycle import (
    CycleConfig,
    CycleInputs,
    CycleOutcome,
    OutcomeKind,
    decision_outcome,
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

__all__ = ["SimConfig", "SimResult", "SimTrade", "run_exchange_backtest"]

T = TypeVar("T")
VIX_SYMBOL = "BTCUSDT"
BOOK_DEPTH = 50
_OPEN_PROTECTION = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.TRIGGERED)
_RESTING_STOP = (OrderStatus.NEW, OrderStatus.PENDING_NEW)
_OPEN = (
    OrderStatus.PENDING_NEW,
    OrderStatus.NEW,
    OrderStatus.TRIGGERED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_CANCEL,
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One bot: its settings, what it trades and how its paper account starts.

    ``start``: the open time of the first candle to decide (default: the first at which every
    symbol has the strategy's full warm-up window); ``end``: decide candles opened before it
    (default: all). ``seed``: the depth model's seed; paper trading uses the bot's id.
    """

    profile: BotProfile
    symbols: tuple[str, ...]
    timeframe: str
    instruments: Mapping[str, InstrumentInfo]
    balance: Decimal = Decimal(10_000)
    seed: int = 0
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class SimResult:
    """What the run did: every trade (closed ones first by entry; an open one has no exit),
    the equity (wallet + unrealized) at the close of every decided candle, the orders, the
    cycle outcomes, and why it stopped early ("" when it ran to the end)."""

    trades: tuple[SimTrade, ...]
    equity_time: np.ndarray  # ms open time of each decided candle
    equity: tuple[Decimal, ...]
    orders: tuple[SimOrder, ...]
    outcomes: dict[str, int]
    cycles: int
    stopped: str
    metrics: Metrics | None = None

    @property
    def closed_trades(self) -> tuple[SimTrade, ...]:
        return tuple(t for t in self.trades if t.status == CLOSED)

    @property
    def equity_curve(self) -> list[tuple[datetime, Decimal]]:
        return [
            (ms_to_datetime(int(t)), e) for t, e in zip(self.equity_time, self.equity, strict=True)
        ]


def _await(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of the simulated exchange (it never suspends) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("the simulated exchange suspended; it has no I/O to wait for")


@dataclass(frozen=True, slots=True)
class _SignalRows:
    """One symbol's signals over all its candles (``frame``) and, per candle, whether
    ``Strategy.decide`` acts when flat (exactly one entry signal), in a long (its exit signal)
    and in a short (as lists: read once per cycle)."""

    frame: SignalFrame
    flat: list[bool]
    long: list[bool]
    short: list[bool]

    @classmethod
    def of(cls, frame: SignalFrame) -> _SignalRows:
        return cls(
            frame,
            (frame.enter_long != frame.enter_short).tolist(),
            frame.exit_long.tolist(),
            frame.exit_short.tolist(),
        )

    def window(self, start: int, stop: int) -> SignalFrame:
        """The frame of candles ``[start, stop)`` (views)."""
        return SignalFrame(**{k: v[start:stop] for k, v in self.frame.columns().items()})


@dataclass
class _Bot:
    """The loop's state: the exchange, its clock, what it has been fed, the ledger, the
    breaker's latches (``BreakerState``) and the correlation cache."""

    config: SimConfig
    series: Mapping[str, Series]
    hourly: Mapping[str, Series]
    funding: Mapping[str, Sequence[tuple[datetime, Decimal]]]
    ledger: Ledger
    step: timedelta
    strategy: Strategy
    exchange: SimulatedExchange | None = None
    clock: SettableClock | None = None
    fed: dict[str, int] = field(default_factory=dict)  # symbol -> index of the next candle
    latched: dict[str, str] = field(default_factory=dict)
    correlations: HourCache = field(default_factory=HourCache)
    now: datetime | None = None
    rows: Mapping[str, _SignalRows] = field(default_factory=dict)  # whole-series signals
    limit: int = field(init=False)  # the strategy's live window
    min_candles: int = field(init=False)  # the strategy's
    custom_stop: bool = field(init=False)  # the strategy overrides custom_stop
    trailing: TrailingConfig | None = field(init=False)  # the profile's (built once)
    # the equity at the end of the last cycle when it placed no order (else None: read it)
    unchanged_equity: Decimal | None = None

    def __post_init__(self) -> None:
        strategy = self.strategy
        self.limit = max(strategy.warmup_candles, strategy.min_candles)
        self.min_candles = strategy.min_candles
        self.custom_stop = type(strategy).custom_stop is not Strategy.custom_stop
        self.trailing = self.profile.trailing_config

    @property
    def profile(self) -> BotProfile:
        return self.config.profile

    @property
    def ex(self) -> SimulatedExchange:
        assert self.exchange is not None
        return self.exchange

    # --- the venue (PaperVenue over paper_session_load / paper_feed_candles) ---------------------
    def open(self, now: datetime) -> None:
        self.now = now
        if self.exchange is None:
            self.clock = SettableClock(now)
            infos = [self.config.instruments[s] for s in self.config.symbols]
            self.exchange = SimulatedExchange(
                infos,
                clock=self.clock,
                balance=self.config.balance,
                seed=self.config.seed,
                default_leverage=self.profile.leverage,
            )
            for symbol in self.config.symbols:
                self.exchange.set_funding_rates(symbol, self.funding.get(symbol, ()))
        else:
            assert self.clock is not None
            self.clock.set(max(now, self.clock()))

    def catch_up(self, symbol: str, index: int) -> set[str]:
        """Feed the candles after the last fed up to ``index`` (first time: only ``index``)."""
        assert self.clock is not None
        candles = self.series[symbol].candles
        start = len(self.ex.events)
        for i in range(self.fed.get(symbol, index), index + 1):
            candle = candles[i]
            self.clock.set(max(self.clock(), candle.open_time + self.step))
            self.ex.on_candle(symbol, candle)
        self.fed[symbol] = index + 1
        return self.ledger.apply_events(self.ex.events[start:])

    def mark(self, symbol: str) -> None:
        """Mark the open position to the market (``position_mark_to_market``)."""
        position = self.ledger.position(symbol)
        if position is not None:
            price = _await(self.ex.get_mark_price(symbol)).mark_price
            if position_mark(position, price=price):
                position.store()

    def save(self) -> None:
        self.ex.events.clear()

    # --- sending (engine.context._send) -------------------------------------------------------
    def send(
        self,
        request: OrderRequest,
        *,
        purpose: str,
        expected: Decimal | None = None,
        trade: int | None = None,
    ) -> SimOrder:
        order = self.ledger.order_create(
            request, purpose=purpose, expected_price=expected, trade=trade
        )
        if order.status != OrderStatus.PENDING_NEW:
            return order
        mark = len(self.ex.events)
        try:
            report = _await(self.ex.place_order(request))
        except RejectedError:
            self.ledger.order_reject(order)
            return order
        self.ledger.order_apply_report(order, report)
        self.ledger.apply_events(self.ex.events[mark:])
        return order

    def equity(self) -> Decimal:
        """The USDT balance's wallet balance plus unrealized PnL (``engine.context._equity``)."""
        return self.ex.equity() if self.ex.asset == "USDT" else Decimal(0)

    # --- exits (engine.exits) -------------------------------------------------------------------
    def replace_stop(self, symbol: str, new_stop: Decimal, *, purpose: str = "stop_loss") -> bool:
        position = self.ledger.position(symbol)
        if position is None:
            return False
        stops = [
            o
            for o in self.ledger.orders_of(symbol, "STOP_MARKET")
            if o.purpose in ("stop_loss", "trailing_stop")
        ]
        old = next((o for o in stops if o.status in _RESTING_STOP), None)
        request = replacement_stop_order(
            bot_key=self.profile.bot_key,
            symbol=symbol,
            quantity=position.quantity,
            stop_price=new_stop,
            info=self.config.instruments[symbol],
            sequence=len(stops) + 1,
        )
        placed = self.send(request, purpose=purpose, trade=self.open_trade_number(symbol))
        if placed.status != OrderStatus.NEW:
            return False
        if old is not None:
            self.cancel(old)
        position.stop_price = stored(request.trigger_price)
        return True

    def trail(self, symbol: str, candle: Candle) -> None:
        config = self.trailing
        if self.profile.trailing != TRAILING_MANAGED or config is None:
            return
        position = self.ledger.position(symbol)
        if position is None or position.stop_price is None:
            return
        new_stop = managed_trail_stop(
            config,
            bot_key=self.profile.bot_key,
            symbol=symbol,
            quantity=position.quantity,
            entry_price=position.entry_price,
            stop_price=position.stop_price,
            info=self.config.instruments[symbol],
            high=candle.high,
            low=candle.low,
            close=candle.close,
        )
        if new_stop is not None:
            self.replace_stop(symbol, new_stop, purpose="trailing_stop")

    def break_even(self, symbol: str, purposes: set[str]) -> None:
        if "take_profit" not in purposes or not self.profile.break_even:
            return
        position = self.ledger.position(symbol)
        if position is None:
            return
        stop = break_even_stop(
            quantity=position.quantity,
            entry_price=position.entry_price,
            stop_price=position.stop_price,
        )
        if stop is not None:
            self.replace_stop(symbol, stop)

    def open_trade_number(self, symbol: str) -> int | None:
        trade = self.ledger.open_trade(symbol)
        return trade.number if trade is not None else None

    def cancel(self, order: SimOrder) -> bool:
        """Cancel one order and record its final state (``engine.exits._cancel``)."""
        try:
            report = _await(self.ex.cancel_order(order.symbol, order.client_order_id))
        except OrderNotFoundError:
            try:
                report = _await(self.ex.get_order(order.symbol, order.client_order_id))
            except ExchangeError:
                return False
        except ExchangeError:
            return False
        self.ledger.order_apply_report(order, report)
        return order.status not in _OPEN

    def cancel_protection(self, symbol: str) -> None:
        for order in self.ledger.open_orders_of(symbol):
            if order.status not in _OPEN_PROTECTION or order.purpose in ("entry", "emergency"):
                continue
            self.cancel(order)

    def cancel_orphan_exits(self, symbol: str) -> int:
        """Cancel exit orders of ended trades (``engine.exits._cancel_orphan_exits``)."""
        orders = self.ledger.open_orders_of(symbol)
        if not orders:
            return 0
        trade = self.open_trade_number(symbol)
        flat = self.ledger.position(symbol) is None
        left = 0
        for order in reversed(orders):
            if order.status not in _OPEN or order.purpose not in EXIT_PURPOSES:
                continue
            if exit_order_orphaned(order_trade=order.trade, open_trade=trade, flat=flat):
                left += 0 if self.cancel(order) else 1
        return left

    def flatten(self, symbol: str) -> None:
        assert self.now is not None
        self.cancel_protection(symbol)
        position = self.ledger.position(symbol)
        if position is None:
            return
        request = flatten_order(
            bot_key=self.profile.bot_key, symbol=symbol, quantity=position.quantity, now=self.now
        )
        self.send(request, purpose="emergency", trade=self.open_trade_number(symbol))

    # --- the cycle (engine.cycle) -----------------------------------------------------------------
    def breaker(self, equity: Decimal) -> BreakerDecision | None:
        assert self.now is not None
        tiers = self.profile.breaker_tiers
        if not tiers:
            return None
        closed = self.ledger.closed_between(self.now - breaker_window(tiers), self.now)
        decision, state = breaker_decide(
            tiers,
            self.latched,
            ((t.exit_time, t.net_pnl) for t in closed if t.exit_time is not None),
            self.now,
            equity,
        )
        self.latched = dict(state["latched"])
        return decision

    def daily_net_pnl(self) -> Decimal:
        """Net PnL of the trades closed since 00:00 UTC (the daily loss limit's count)."""
        assert self.now is not None
        since = utc_day_start(self.now) - timedelta(microseconds=1)  # closed_between: (a, b]
        return sum((t.net_pnl for t in self.ledger.closed_between(since, self.now)), Decimal(0))

    def correlation(self, symbol: str) -> CorrelationMatrix | None:
        """The correlation matrix of ``symbol`` and the open positions' symbols, read every
        cycle as the live cycle does (so the services' hour cache holds the same matrices)."""
        assert self.now is not None
        if len(self.config.symbols) < 2:
            return None  # (positions are only in the bot's symbols)
        names = sorted({symbol, *(p.symbol for p in self.ledger.open_positions())})
        if len(names) < 2:
            return None
        return self.correlations.get(
            self.hourly, names, self.profile.correlation_lookback, self.now
        )

    def position_view(self, symbol: str) -> PositionView | None:
        position = self.ledger.position(symbol)
        if position is None:
            return None
        side = Side.BUY if position.side == LONG else Side.SELL
        return PositionView(side, position.entry_price, abs(position.quantity), position.stop_price)

    def window(self, symbol: str, index: int) -> Klines:
        """The strategy's live window at candle ``index`` (``klines_window``)."""
        return self.series[symbol].klines.slice(max(0, index + 1 - self.limit), index + 1)

    def decide(self, symbol: str, index: int, position: PositionView | None) -> Decision | None:
        """``strategy.decide`` at candle ``index`` on its live window.

        With the symbol's whole-series signals (``_SignalRows``), the window's last row is
        that candle's row (``warmup_candles``), so the decision is read from it as ``decide``
        reads its own (and as the vectorised backtest does, ``engine._confirmed_entries``):
        flat, an entry when exactly one entry signal is set and ``confirm_entry`` agrees; in a
        position, its exit signal. A window shorter than the strategy needs, or a position of
        a strategy with ``custom_stop`` (its stop moves read the window), runs ``decide``.
        """
        rows = self.rows.get(symbol)
        start = max(0, index + 1 - self.limit)
        if (
            rows is None
            or index + 1 - start < self.min_candles
            or (position is not None and self.custom_stop)
        ):
            return self.strategy.decide(self.window(symbol, index), position)
        if position is None:
            if not rows.flat[index]:
                return None
            long = bool(rows.frame.enter_long[index])
            action = Action.ENTER_LONG if long else Action.ENTER_SHORT
        else:
            long = position.side is Side.BUY
            if not (rows.long if long else rows.short)[index]:
                return None
            action = Action.EXIT_LONG if long else Action.EXIT_SHORT
        window = OHLCV.of(self.series[symbol].klines, start, index + 1)
        frame = rows.window(start, index + 1)
        decision = self.strategy.decision_at(action, len(window) - 1, window, frame)
        if decision.is_entry and not self.strategy.confirmed(decision, window):
            return None
        return decision

    def inputs(
        self,
        symbol: str,
        index: int,
        equity: Decimal,
        breaker: Any,
        correlations: CorrelationMatrix | None,
        position: PositionView | None,
        *,
        entry: bool,
    ) -> CycleInputs:
        """What ``decision_outcome`` reads, gathered only for a cycle with a decision (an
        ``entry`` one also reads CryptoVIX): the book (synthesised on demand), the quote,
        CryptoVIX and the daily PnL depend only on this candle and the ledger, so reading them
        later than the live cycle does changes nothing."""
        assert self.now is not None
        info = self.config.instruments[symbol]
        bands = self.profile.volatility_bands
        context = RiskContext(
            equity=equity,
            filters=InstrumentFilters(
                step_size=info.step_size, min_qty=info.min_qty, min_notional=info.min_notional
            ),
            open_positions=tuple(
                OpenPosition(
                    p.symbol, Direction.LONG if p.quantity > 0 else Direction.SHORT, p.notional
                )
                for p in self.ledger.open_positions()
            ),
            breaker=breaker,
            # (only an entry's risk gate reads CryptoVIX: an exit or a stop move is not sized)
            vix=vix_reading(self.hourly.get(VIX_SYMBOL), CryptoVIX(bands=bands), self.now)
            if entry
            else None,
            correlations=correlations,
            daily_realized_pnl=self.daily_net_pnl(),
        )
        return CycleInputs(
            symbol=symbol,
            candles=self.window(symbol, index),
            info=info,
            book=_await(self.ex.get_orderbook(symbol, limit=BOOK_DEPTH)),
            ticker=_await(self.ex.get_book_ticker(symbol)),
            risk=context,
            now=self.now,
            position=position,
        )

    def enter(self, symbol: str, outcome: CycleOutcome, config: CycleConfig) -> None:
        plan = outcome.plan
        assert plan is not None
        held = self.ledger.positions.get(symbol)
        if held is None:
            held = self.ledger.positions[symbol] = SimPosition(symbol, self.ledger.leverage)
        if held.quantity == 0:  # (engine.cycle._enter: the stop is known before the entry)
            held.stop_price = stored(plan.stop_price)
        entry = plan.entry
        while True:
            round_filled = Decimal(0)
            for request in entry.orders:
                order = self.send(request, purpose="entry", expected=entry.expected_price)
                round_filled += order.filled_quantity
            book = _await(self.ex.get_orderbook(symbol, limit=BOOK_DEPTH))
            follow = config.slippage.plan_after_fills(
                entry, filled_qty=round_filled, book=book, info=plan.info
            )
            if isinstance(follow, EntryDone):
                break
            entry = follow
        position = self.ledger.positions.get(symbol)
        if position is None or position.quantity == 0:
            return
        self.cancel_orphan_exits(symbol)
        position.stop_price = stored(plan.stop_price)
        trade = self.open_trade_number(symbol)
        protection = plan.protection(
            filled_qty=abs(position.quantity), entry_price=position.entry_price
        )
        self.send(protection.stop, purpose="stop_loss", trade=trade)
        for tp in protection.take_profits:
            self.send(tp.order, purpose="take_profit", trade=trade)
        if protection.native_trailing is not None:
            self.send(protection.native_trailing, purpose="trailing_stop", trade=trade)

    def execute(self, symbol: str, outcome: CycleOutcome, config: CycleConfig) -> None:
        if outcome.kind is OutcomeKind.ENTER:
            self.enter(symbol, outcome, config)
        elif outcome.kind is OutcomeKind.EXIT:
            self.cancel_protection(symbol)
            assert outcome.exit_order is not None
            self.send(outcome.exit_order, purpose="exit")

    def cycle(self, symbol: str, index: int) -> str:
        """One cycle; return its outcome ("flatten" / "error" end the run)."""
        self.unchanged_equity = None
        series = self.series[symbol]
        candle = series.candles[index]
        self.open(candle.open_time + self.step)
        purposes = self.catch_up(symbol, index)
        self.mark(symbol)
        self.cancel_orphan_exits(symbol)  # (a simulated cancel never fails)
        self.break_even(symbol, purposes)
        self.trail(symbol, candle)
        equity = self.equity()
        breaker = self.breaker(equity)
        if breaker is not None and breaker.action is BreakerAction.FLATTEN:
            for sym in self.config.symbols:
                self.flatten(sym)
            self.save()
            return "flatten"
        correlations = self.correlation(symbol)
        position = self.position_view(symbol)
        # decide_cycle in two steps: the strategy's decision, then (only when there is one)
        # the inputs and decision_outcome: AI hook, risk gate, execution plan
        decision = self.decide(symbol, index, position)
        if decision is None:
            self.save()
            self.unchanged_equity = equity  # nothing happened since it was read
            return OutcomeKind.NOTHING.value
        # the strategy and the slippage manager hold no state: one instance serves every cycle
        config = self.profile.cycle_config(equity, strategy=self.strategy)
        inputs = self.inputs(
            symbol, index, equity, breaker, correlations, position, entry=decision.is_entry
        )
        outcome = decision_outcome(inputs, config, decision)
        self.execute(symbol, outcome, config)
        self.save()
        return outcome.kind.value


def _series_rows(
    strategy: Strategy, series: Mapping[str, Series], symbols: Sequence[str]
) -> dict[str, _SignalRows]:
    """Each symbol's signal rows over all its candles, for a strategy whose live window
    reproduces the whole-history values at its last candle (``warmup_candles``, tested for
    these kinds: causal indicators, recursions seeded long enough before); none for a symbol
    the strategy cannot evaluate whole (its windows then raise where the live loop would)."""
    if not strategy.whole_series:  # see ``Strategy.whole_series``
        return {}
    rows = {}
    for symbol in symbols:
        try:
            rows[symbol] = _SignalRows.of(strategy.evaluate(series[symbol].klines))
        except StrategyError:
            continue
    return rows


def _schedule(
    series: Mapping[str, Series], symbols: Sequence[str], start_ms: int, end_ms: int | None
) -> list[tuple[int, str, int]]:
    """The due cycles in the scheduler's order: (open time, symbol, index)."""
    due: list[tuple[int, str, int]] = []
    for symbol in symbols:
        times = series[symbol].klines.open_time
        first = int(np.searchsorted(times, start_ms, side="left"))
        last = times.size if end_ms is None else int(np.searchsorted(times, end_ms, "left"))
        due.extend((int(times[i]), symbol, i) for i in range(first, last))
    due.sort()
    return due


def _default_start(series: Mapping[str, Series], symbols: Sequence[str], window: int) -> int:
    starts = []
    for symbol in symbols:
        times = series[symbol].klines.open_time
        if times.size < window:
            raise ValueError(f"{symbol}: {times.size} candles, the strategy needs {window}")
        starts.append(int(times[window - 1]))
    return max(starts)


def run_exchange_backtest(
    config: SimConfig,
    candles_by_symbol: Mapping[str, Sequence[Candle]],
    funding: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
    *,
    hourly: Mapping[str, Sequence[Candle]] | None = None,
    signals: Literal["series", "window"] = "series",
) -> SimResult:
    """Run the bot's paper-trading loop over ``candles_by_symbol`` (each symbol's candles of
    ``config.timeframe``, oldest first, the warm-up included) and return what it traded.

    ``funding``: each symbol's funding series (funding time, rate) as paper trading gets it
    from ``FundingRate``. ``hourly``: 1h candles for CryptoVIX (BTCUSDT) and the correlation
    matrix; by default ``candles_by_symbol`` when the timeframe is 1h. Without BTCUSDT 1h
    candles there is no CryptoVIX reading (size multiplier 1), as in paper trading without them.
    ``signals``: "series" evaluates a built-in candle strategy once over each symbol's candles
    and reads each cycle's decision from its row; "window" runs ``Strategy.decide`` on the live
    window every cycle, as paper trading does (slower; the two give the same run, the tests
    compare them).
    """
    if not config.symbols:
        raise ValueError("the bot trades no symbol")
    missing = [s for s in config.symbols if s not in candles_by_symbol]
    if missing:
        raise ValueError(f"no candles for {', '.join(missing)}")
    series = {s: Series.of(s, config.timeframe, candles_by_symbol[s]) for s in config.symbols}
    if hourly is None:
        hourly_series = dict(series) if config.timeframe == "1h" else {}
    else:
        hourly_series = {
            s: series[s]
            if config.timeframe == "1h" and s in series and c is candles_by_symbol[s]
            else Series.of(s, "1h", c)  # (the same 1h candles are read once)
            for s, c in hourly.items()
        }
    step = timedelta(milliseconds=interval_to_ms(config.timeframe))
    strategy = build_strategy(config.profile.strategy_kind, dict(config.profile.strategy_params))
    window = max(strategy.warmup_candles, strategy.min_candles)
    start_ms = (
        datetime_to_ms(config.start)
        if config.start is not None
        else _default_start(series, config.symbols, window)
    )
    end_ms = datetime_to_ms(config.end) if config.end is not None else None
    bot = _Bot(
        config=config,
        series=series,
        hourly=hourly_series,
        funding=funding or {},
        ledger=Ledger(
            leverage=config.profile.leverage,
            mode=config.profile.mode,
            bot_key=config.profile.bot_key,
        ),
        step=step,
        strategy=strategy,
        rows=_series_rows(strategy, series, config.symbols) if signals == "series" else {},
    )
    outcomes: Counter[str] = Counter()
    times: list[int] = []
    equity: list[Decimal] = []
    stopped = ""
    cycles = 0
    for open_time, symbol, index in _schedule(series, config.symbols, start_ms, end_ms):
        try:
            outcome = bot.cycle(symbol, index)
        except StrategyError as exc:
            outcomes["error"] += 1
            stopped = f"strategy error: {exc}"
            break
        cycles += 1
        outcomes[outcome] += 1
        after = bot.unchanged_equity if bot.unchanged_equity is not None else bot.equity()
        if times and times[-1] == open_time:
            equity[-1] = after
        else:
            times.append(open_time)
            equity.append(after)
        if outcome == "flatten":
            stopped = "circuit breaker: flattened and halted"
            break
    trades = tuple(sorted(bot.ledger.trades, key=lambda t: (t.entry_time, t.number)))
    result = SimResult(
        trades=trades,
        equity_time=np.asarray(times, dtype=np.int64),
        equity=tuple(equity),
        orders=tuple(sorted(bot.ledger.orders.values(), key=lambda o: o.sequence)),
        outcomes=dict(outcomes),
        cycles=cycles,
        stopped=stopped,
    )
    return _with_metrics(result, config, series, step)


def _with_metrics(
    result: SimResult, config: SimConfig, series: Mapping[str, Series], step: timedelta
) -> SimResult:
    """Add ``compute_metrics`` over the equity curve and the closed trades (net PnL)."""
    n = result.equity_time.size
    if n == 0:
        return result
    times = result.equity_time
    step_ms = int(step.total_seconds() * 1000)

    def index(at: datetime | None) -> int:
        ms = datetime_to_ms(at) if at is not None else int(times[-1])
        return int(np.clip(np.searchsorted(times, ms, side="right") - 1, 0, n - 1))

    closed = result.closed_trades
    reasons = {name: i for i, name in enumerate(EXIT_REASONS)}
    log = TradeLog(
        entry_index=np.array([index(t.entry_time) for t in closed], dtype=np.int64),
        exit_index=np.array([index(t.exit_time) for t in closed], dtype=np.int64),
        entry_price=np.array([float(t.entry_price) for t in closed], dtype=np.float64),
        exit_price=np.array([float(t.exit_price or 0) for t in closed], dtype=np.float64),
        quantity=np.array([float(t.quantity) for t in closed], dtype=np.float64),
        reason=np.array([reasons.get(t.exit_reason, 0) for t in closed], dtype=np.int8),
        pnl=np.array([float(t.net_pnl) for t in closed], dtype=np.float64),
        fees=np.array([float(t.fees) for t in closed], dtype=np.float64),
        entry_fee=np.zeros(len(closed), dtype=np.float64),
    )
    first = series[config.symbols[0]].klines
    i0 = int(np.searchsorted(first.open_time, times[0], side="left"))
    i1 = int(np.searchsorted(first.open_time, times[-1], side="right")) - 1
    metrics = compute_metrics(
        equity=np.array([float(e) for e in result.equity], dtype=np.float64),
        open_time=times,
        interval_ms=step_ms,
        trades=log,
        initial_capital=float(config.balance),
        first_open=float(first.open[i0]),
        last_close=float(first.close[max(i0, i1)]),
    )
    return SimResult(
        trades=result.trades,
        equity_time=result.equity_time,
        equity=result.equity,
        orders=result.orders,
        outcomes=result.outcomes,
        cycles=result.cycles,
        stopped=result.stopped,
        metrics=metrics,
    )
