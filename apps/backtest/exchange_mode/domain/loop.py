"""The exchange-mode backtest: a bot's cycles over candles, without the database.

Per due candle, in the scheduler's order (open time, then symbol), one cycle of the trading
runner (``apps.trading.domain.runner.CycleRunner``, the code the Celery cycle, ``replay`` and
webhook signals run) against:

- ``SimVenue``: the bot's simulated exchange, fed every candle of the symbol it has not seen up
  to this one (the first cycle of a symbol feeds only the decided candle), its events applied
  to the ledger;
- ``records.Ledger``: the in-memory store (orders, fills, trades, positions, breaker latches,
  signals), booked with the order services' accounting;
- ``SimMarket``: CryptoVIX and the correlation matrix from the 1h candles handed in;
- the decision read from the strategy's whole-series frame (below), and the profile's
  configuration.

A FLATTEN breaker tier closes every symbol and halts the bot (the run ends). Past webhook
signals (``external``) are acted on between the cycles by ``signal_step`` (``signals.py``).

The exchange is the same ``SimulatedExchange`` paper trading uses, built the same way
(``paper_session_load``: the bot's instruments, its paper balance, ``seed`` = the bot's id,
its leverage, the default depth and fee models) and fed candles by the same code
(``apps.trading.domain.candle_feed``: which candles, the clock at each candle's close). A strategy
error ends the run (paper trading pauses the bot); any other exception propagates (paper
trading would flatten and halt the bot).

Speed (same results): a built-in candle strategy is evaluated once over each symbol's candles
and every cycle's decision is read from that frame's row, which is the live window's last row
(``warmup_candles``); the book is synthesised only when an order or a decision reads it;
the daily PnL only for a decision, CryptoVIX only for an entry.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import numpy as np

from apps.backtest.exchange_mode.domain.market import HourCache, Series, vix_reading
from apps.backtest.exchange_mode.domain.records import Ledger, SimOrder, SimTrade
from apps.backtest.research.domain.kernel import EXIT_REASONS, TradeLog
from apps.backtest.research.domain.metrics import Metrics, compute_metrics
from apps.core.domain.clock import SettableClock
from apps.exchange.domain.errors import ExchangeError
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import (
    Candle,
    InstrumentInfo,
    OrderReport,
    Side,
    datetime_to_ms,
    ms_to_datetime,
)
from apps.market.domain.candles import Klines, interval_to_ms
from apps.orders.domain.accounting import CLOSED
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.vix import CryptoVIX, VixReading
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
from apps.trading.domain.candle_feed import candles_feed, feed_from
from apps.trading.domain.cycle import CycleConfig
from apps.trading.domain.profile import BotProfile
from apps.trading.domain.runner import CycleRunner, CycleStep
from apps.trading.domain.signal_step import SignalRefused, SignalResult, signal_step

__all__ = ["SimConfig", "SimResult", "SimTrade", "run_exchange_backtest"]

T = TypeVar("T")
VIX_SYMBOL = "BTCUSDT"
# A backtest's stop moves and cancels are in its orders; the runner's log lines are not written.
QUIET = logging.Logger("apps.backtest.exchange_mode.domain.quiet", level=logging.CRITICAL + 1)


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


class SimVenue:
    """The paper venue in memory (``PaperVenue`` over ``paper_session_load`` /
    ``paper_feed_candles``): the bot's ``SimulatedExchange``, fed the candles of each symbol it
    has not seen (the first time only the decided one), its events applied to the ledger."""

    def __init__(
        self,
        config: SimConfig,
        series: Mapping[str, Series],
        funding: Mapping[str, Sequence[tuple[datetime, Decimal]]],
        ledger: Ledger,
        step: timedelta,
        now: datetime,
    ) -> None:
        self.series = series
        self.ledger = ledger
        self.step = step
        self.clock = SettableClock(now)
        self.exchange = SimulatedExchange(
            [config.instruments[s] for s in config.symbols],
            clock=self.clock,
            balance=config.balance,
            seed=config.seed,
            default_leverage=config.profile.leverage,
        )
        for symbol in config.symbols:
            self.exchange.set_funding_rates(symbol, funding.get(symbol, ()))
        self.fed: dict[str, int] = {}  # symbol -> open time (ms) of the last candle fed
        self.usdt = self.exchange.asset == "USDT"

    def open(self, now: datetime) -> None:
        """The venue's clock at the cycle's time (it never goes back)."""
        self.clock.set(max(now, self.clock()))

    def mark(self) -> int:
        return len(self.exchange.events)

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]:
        """Feed the candles after the last fed up to the one opened at ``open_time``
        (``candle_feed``, paper trading's rule)."""
        series = self.series[symbol]
        first = feed_from(fed=self.fed, symbol=symbol, decided=open_time)
        events = candles_feed(
            exchange=self.exchange,
            clock=self.clock,
            fed=self.fed,
            symbol=symbol,
            candles=series.candles[series.upto(first - 1) : series.upto(open_time)],
            step=self.step,
        )
        return self.ledger.apply_events(events)

    def after_place(self, *, order: SimOrder, report: OrderReport, mark: int) -> None:
        self.ledger.apply_events(self.exchange.events[mark:])

    def equity(self) -> Decimal:
        """The USDT balance's wallet balance plus unrealized PnL."""
        return self.exchange.equity() if self.usdt else Decimal(0)

    def save(self) -> None:
        self.exchange.events.clear()


class SimMarket:
    """CryptoVIX (BTCUSDT 1h) and the correlation matrix from the 1h candles handed in, with
    the risk services' rules and their hour cache (``market``)."""

    def __init__(self, hourly: Mapping[str, Series]) -> None:
        self.hourly = hourly
        self.cache = HourCache()

    def vix(self, now: datetime, vix: CryptoVIX) -> VixReading | None:
        return vix_reading(self.hourly.get(VIX_SYMBOL), vix, now)

    def correlations(
        self, symbols: Sequence[str], lookback: int, now: datetime
    ) -> CorrelationMatrix | None:
        return self.cache.get(self.hourly, symbols, lookback, now)


class _Bot:
    """The loop's state: the runner over the in-memory store (``Ledger``), the simulated
    venue and the candle readings, and the strategy's whole-series signal rows."""

    def __init__(
        self,
        *,
        config: SimConfig,
        series: Mapping[str, Series],
        hourly: Mapping[str, Series],
        funding: Mapping[str, Sequence[tuple[datetime, Decimal]]],
        ledger: Ledger,
        step: timedelta,
        strategy: Strategy,
        rows: Mapping[str, _SignalRows],
        start: datetime,
    ) -> None:
        self.config = config
        self.series = series
        self.ledger = ledger
        self.step = step
        self.strategy = strategy
        self.rows = rows
        self.limit = max(strategy.warmup_candles, strategy.min_candles)  # the live window
        self.min_candles = strategy.min_candles
        self.custom_stop = type(strategy).custom_stop is not Strategy.custom_stop
        self.venue = SimVenue(config, series, funding, ledger, step, start)
        self.runner = CycleRunner(
            profile=config.profile,
            symbols=config.symbols,
            store=ledger,
            venue=self.venue,
            market=SimMarket(hourly),
            instruments=config.instruments.__getitem__,
            run=_await,
            now=start,
            log=QUIET,
        )
        self.interval = config.timeframe
        self.index = 0  # the candle of the cycle under way
        self.configs: dict[Decimal, CycleConfig] = {}

    @property
    def profile(self) -> BotProfile:
        return self.config.profile

    def equity(self) -> Decimal:
        return self.venue.equity()

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

    def _decide(
        self, symbol: str, open_time: int, position: PositionView | None, equity: Decimal
    ) -> Decision | None:
        return self.decide(symbol, self.index, position)

    def _configure(self, equity: Decimal) -> CycleConfig:
        # the strategy and the slippage manager hold no state: one instance serves every cycle
        return self.profile.cycle_config(equity, strategy=self.strategy)

    def _window(self, symbol: str, open_time: int) -> Klines:
        return self.window(symbol, self.index)

    def external(self, signal: Any) -> SignalResult:
        """Act on a past webhook signal at its time, after the last candle closed before it
        (``signal_step``, as a worker acts on one)."""
        series = self.series.get(signal.symbol)
        if series is None:
            return SignalResult("rejected", f"bot does not trade {signal.symbol}")
        at = datetime_to_ms(signal.time)
        index = series.upto(at - int(self.step.total_seconds() * 1000)) - 1
        if index < 0:
            return SignalResult("failed", f"no {signal.symbol} candles to trade on")
        self.venue.open(signal.time)
        self.runner.now = max(signal.time, self.venue.clock())
        self.index = index
        try:
            return signal_step(
                self.runner,
                key=f"s{signal.line}",
                action=signal.action,
                payload=signal.payload,
                sent_at=signal.time,
                symbol=signal.symbol,
                interval=self.interval,
                open_time=int(series.klines.open_time[index]),
                wall=signal.time,
                configure=self._configure,
                window=self._window,
            )
        except SignalRefused as exc:
            return SignalResult(exc.outcome, str(exc), None, exc.blocked_by)
        except ExchangeError as exc:
            return SignalResult("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self.venue.save()

    def cycle(self, symbol: str, index: int, open_time: int) -> CycleStep:
        """One cycle through the runner at candle ``index`` (opened at ``open_time`` ms);
        "flatten" ends the run."""
        candle = self.series[symbol].candles[index]
        now = candle.open_time + self.step
        self.venue.open(now)
        self.runner.now = now
        self.index = index
        step = self.runner.cycle(
            symbol,
            open_time,
            interval=self.interval,
            candle=candle,
            decide=self._decide,
            configure=self._configure,
            window=self._window,
        )
        self.venue.save()
        return step


def _external(bot: _Bot, signal: Any, outcomes: list[tuple[Any, SignalResult]] | None) -> None:
    result = bot.external(signal)
    if outcomes is not None:
        outcomes.append((signal, result))


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
        due.extend((t, symbol, i) for i, t in enumerate(times[first:last].tolist(), first))
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
    external: Sequence[Any] = (),
    external_outcomes: list[tuple[Any, SignalResult]] | None = None,
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
    compare them). ``external``: past webhook signals (``signals.PastSignal``, oldest first)
    acted on at their times between the candle cycles; what came of each is appended to
    ``external_outcomes`` (see ``signals.run_signal_backtest``).
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
    due = _schedule(series, config.symbols, start_ms, end_ms)
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
        start=ms_to_datetime(due[0][0]) + step if due else ms_to_datetime(start_ms),
    )
    outcomes: Counter[str] = Counter()
    times: list[int] = []
    equity: list[Decimal] = []
    stopped = ""
    cycles = 0
    pending = list(external)
    pending.reverse()  # (popped oldest first)
    step_ms = interval_to_ms(config.timeframe)
    for open_time, symbol, index in due:
        while pending and datetime_to_ms(pending[-1].time) < open_time + step_ms:
            _external(bot, pending.pop(), external_outcomes)
        try:
            done = bot.cycle(symbol, index, open_time)
        except StrategyError as exc:
            outcomes["error"] += 1
            stopped = f"strategy error: {exc}"
            break
        cycles += 1
        outcome = done.kind
        outcomes[outcome] += 1
        after = done.unchanged_equity if done.unchanged_equity is not None else bot.equity()
        if times and times[-1] == open_time:
            equity[-1] = after
        else:
            times.append(open_time)
            equity.append(after)
        if outcome == "flatten":
            stopped = "circuit breaker: flattened and halted"
            break
    last = due[-1][0] + step_ms if due and not stopped else None
    while pending:
        signal = pending.pop()
        if last is not None and datetime_to_ms(signal.time) < last + step_ms:
            _external(bot, signal, external_outcomes)
        elif external_outcomes is not None:
            why = f"bot stopped: {stopped}" if stopped else "after the last candle"
            external_outcomes.append((signal, SignalResult("rejected", why)))
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
