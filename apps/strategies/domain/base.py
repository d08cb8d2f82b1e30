"""The strategy interface: one required method, optional hooks with safe defaults.

A strategy implements `signals(candles) -> SignalFrame`: boolean arrays `enter_long`, `exit_long`,
`enter_short`, `exit_short` (and optional float arrays `stop_price`, `take_profit`,
`trail_distance`, meaningful where an entry is signalled) computed vectorised over the whole
window. The candles must all be CLOSED: the adapter drops the forming candle, and the value at
index `i` may only depend on candles `0..i` (`lookahead.find_lookahead` checks it).

Backtests read the whole arrays; live trading calls `decide(candles, position)`, which evaluates
the same `signals` on the rolling window and reads the LAST candle's row, so both run one code
path. Recursive indicators (EMA, Wilder) are seeded at the start of the window: a live window of
`warmup_candles` or more gives the same values as the whole history (the seed has decayed below
float precision), which the tests check.

Errors: bad data (too few candles, non-finite prices, unordered times) and anything the
indicators raise become `StrategyError` with a one-line reason; the adapter applies the class's
`on_error` policy (by default: pause the bot with that reason).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from apps.exchange.domain.types import Side

from .params import validate_parameters

__all__ = [
    "BOOL_COLUMNS",
    "FLOAT_COLUMNS",
    "OHLCV",
    "Action",
    "CandleArrays",
    "Decision",
    "ErrorPolicy",
    "PositionView",
    "SignalFrame",
    "Strategy",
    "StrategyError",
    "check_candles",
    "decide",
    "to_decimal",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
BOOL_COLUMNS = ("enter_long", "exit_long", "enter_short", "exit_short")
FLOAT_COLUMNS = ("stop_price", "take_profit", "trail_distance")


class StrategyError(ValueError):
    """A strategy cannot decide on these candles; the message is a one-line reason."""


class ErrorPolicy(StrEnum):
    PAUSE = "PAUSE"  # pause the bot with the reason (the default)
    SKIP = "SKIP"  # log the reason and skip this candle


class CandleArrays(Protocol):
    """What a strategy reads: ms open times and float64 OHLCV arrays of equal length.

    `apps.market.data.Klines`, `apps.backtest.research.domain.candles.Candles` and `OHLCV` all fit.
    """

    @property
    def open_time(self) -> NDArray[np.int64]: ...
    @property
    def open(self) -> FloatArray: ...
    @property
    def high(self) -> FloatArray: ...
    @property
    def low(self) -> FloatArray: ...
    @property
    def close(self) -> FloatArray: ...
    @property
    def volume(self) -> FloatArray: ...


@dataclass(frozen=True, slots=True, eq=False)
class OHLCV:
    """A plain candle window (views into the caller's arrays)."""

    open_time: NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.close.size)

    @classmethod
    def of(cls, candles: CandleArrays, start: int | None = None, stop: int | None = None) -> OHLCV:
        """Return candles `[start:stop]` of any `CandleArrays` (views, no copy)."""
        s = slice(start, stop)
        return cls(
            np.asarray(candles.open_time)[s],
            np.asarray(candles.open, dtype=np.float64)[s],
            np.asarray(candles.high, dtype=np.float64)[s],
            np.asarray(candles.low, dtype=np.float64)[s],
            np.asarray(candles.close, dtype=np.float64)[s],
            np.asarray(candles.volume, dtype=np.float64)[s],
        )


@dataclass(frozen=True, slots=True, eq=False)
class SignalFrame:
    """Per-candle signals; the float columns are `nan` where they do not apply."""

    enter_long: BoolArray
    exit_long: BoolArray
    enter_short: BoolArray
    exit_short: BoolArray
    stop_price: FloatArray | None = None
    take_profit: FloatArray | None = None
    trail_distance: FloatArray | None = None

    def __post_init__(self) -> None:
        n = self.enter_long.size
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if value.ndim != 1 or value.size != n:
                raise ValueError(f"signal column {f.name} has shape {value.shape}, expected ({n},)")
            if f.name in BOOL_COLUMNS and value.dtype != np.bool_:
                raise ValueError(f"signal column {f.name} must be boolean, got {value.dtype}")

    def __len__(self) -> int:
        return int(self.enter_long.size)

    @classmethod
    def empty(cls, n: int) -> SignalFrame:
        """A frame of `n` candles without any signal."""
        return cls(
            np.zeros(n, dtype=np.bool_),
            np.zeros(n, dtype=np.bool_),
            np.zeros(n, dtype=np.bool_),
            np.zeros(n, dtype=np.bool_),
        )

    def columns(self) -> dict[str, NDArray[Any]]:
        """The present columns by name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def value(self, column: str, index: int) -> float | None:
        """The float column's value at `index`, or None when absent or `nan`."""
        array = getattr(self, column)
        if array is None:
            return None
        value = float(array[index])
        return None if math.isnan(value) else value


class Action(StrEnum):
    ENTER_LONG = "ENTER_LONG"
    ENTER_SHORT = "ENTER_SHORT"
    EXIT_LONG = "EXIT_LONG"
    EXIT_SHORT = "EXIT_SHORT"
    ADJUST_STOP = "ADJUST_STOP"


@dataclass(frozen=True, slots=True)
class PositionView:
    """The open position a decision is taken for: `side` BUY = long, SELL = short."""

    side: Side
    entry_price: Decimal
    quantity: Decimal
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after the candle `index` of the window (open time `open_time`, ms UTC).

    `price` is that candle's close, the reference the prices were computed from (for an
    external signal: the reference price given, with `index` -1 and the signal's time);
    `trail_distance` is an absolute price distance; `quantity` is set by external signals only.
    """

    action: Action
    index: int
    open_time: int
    price: Decimal
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    trail_distance: Decimal | None = None
    quantity: Decimal | None = None
    reason: str = ""

    @property
    def side(self) -> Side:
        """The side of the order this decision sends."""
        buy = (Action.ENTER_LONG, Action.EXIT_SHORT)
        return Side.BUY if self.action in buy else Side.SELL

    @property
    def is_entry(self) -> bool:
        return self.action in (Action.ENTER_LONG, Action.ENTER_SHORT)


def to_decimal(value: float | None) -> Decimal | None:
    """Convert a float from a series to Decimal by its shortest repr; None for None / nan."""
    if value is None or not math.isfinite(value):
        return None
    return Decimal(repr(float(value)))


def check_candles(candles: CandleArrays, *, min_candles: int, name: str) -> OHLCV:
    """Return the candles as an `OHLCV`; raise StrategyError with a one-line reason."""
    try:
        window = OHLCV.of(candles)
    except (TypeError, ValueError) as exc:
        raise StrategyError(f"{name}: unreadable candles: {exc}") from exc
    n = len(window)
    for column in ("open_time", "open", "high", "low", "volume"):
        size = getattr(window, column).size
        if size != n:
            raise StrategyError(f"{name}: {column} has {size} values, close has {n}")
    if n < min_candles:
        raise StrategyError(f"{name}: needs at least {min_candles} closed candles, got {n}")
    for column in ("open", "high", "low", "close"):
        bad = ~np.isfinite(getattr(window, column))
        if bad.any():
            i = int(np.argmax(bad))
            raise StrategyError(
                f"{name}: {column} of candle {i} (open_time {int(window.open_time[i])}) is not "
                "a finite number"
            )
    if n > 1 and not bool(np.all(np.diff(window.open_time) > 0)):
        i = int(np.argmax(np.diff(window.open_time) <= 0)) + 1
        raise StrategyError(f"{name}: open times are not increasing at candle {i}")
    return window


HOOK_ERRORS = (ValueError, ArithmeticError, LookupError, TypeError, AttributeError)


def _hook(strategy: Strategy, name: str, hook: Any, *args: Any) -> Any:
    """Call one of the strategy's hooks; its bugs become a StrategyError naming the hook (the
    bot pauses with that reason instead of trading on a half-made decision)."""
    try:
        return hook(*args)
    except StrategyError:
        raise
    except HOOK_ERRORS as exc:
        raise StrategyError(f"{strategy.kind}: {name}: {type(exc).__name__}: {exc}") from exc


class Strategy(ABC):
    """Base of all strategies: build with raw parameters, validated by the kind's schema."""

    kind: ClassVar[str]
    on_error: ClassVar[ErrorPolicy] = ErrorPolicy.PAUSE
    # True when the signals at a candle depend only on the candles up to it and the live
    # window (``warmup_candles``) reproduces the whole-history values: a backtest may then
    # evaluate the whole series once and read each candle's row (tested per kind).
    whole_series: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = validate_parameters(self.kind, params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    @property
    def min_candles(self) -> int:
        """The fewest closed candles `signals` accepts."""
        return 2

    @property
    def warmup_candles(self) -> int:
        """The live window length that reproduces the whole-history values at its last candle."""
        return self.min_candles

    @abstractmethod
    def signals(self, candles: OHLCV) -> SignalFrame:
        """Return the signals of every candle of the window (closed candles only)."""

    # --- optional hooks -----------------------------------------------------------------

    def confirm_entry(self, decision: Decision, candles: OHLCV) -> bool:
        """Return False to veto an entry the signals asked for (live and backtest alike)."""
        return True

    def custom_stop(
        self, position: PositionView, candles: OHLCV, frame: SignalFrame
    ) -> Decimal | None:
        """Return a new stop price for an open position, or None to keep the stop."""
        return None

    # --- the shared code path -------------------------------------------------------------

    def confirmed(self, decision: Decision, candles: OHLCV) -> bool:
        """``confirm_entry``, guarded: an error or a non-bool answer is a StrategyError."""
        answer = _hook(self, "confirm_entry", self.confirm_entry, decision, candles)
        if not isinstance(answer, bool | np.bool_):
            raise StrategyError(
                f"{self.kind}: confirm_entry returned {type(answer).__name__}, not a bool"
            )
        return bool(answer)

    def checked_stop(
        self, position: PositionView, candles: OHLCV, frame: SignalFrame
    ) -> Decimal | None:
        """``custom_stop``, guarded: an error, a non-Decimal, or a stop on the wrong side of
        the last close (it would fire at once) is a StrategyError."""
        stop = _hook(self, "custom_stop", self.custom_stop, position, candles, frame)
        if stop is None:
            return None
        if not isinstance(stop, Decimal) or not stop.is_finite() or stop <= 0:
            raise StrategyError(
                f"{self.kind}: custom_stop returned {stop!r}, not a positive Decimal"
            )
        close = Decimal(repr(float(candles.close[-1])))
        long = position.side is Side.BUY
        if (long and stop >= close) or (not long and stop <= close):
            side = "above" if long else "below"
            raise StrategyError(
                f"{self.kind}: custom_stop {stop} is {side} the last close {close} of a "
                f"{'long' if long else 'short'} position"
            )
        return stop

    def evaluate(self, candles: CandleArrays) -> SignalFrame:
        """Check the candles, run `signals`, check its shape; raise StrategyError."""
        window = check_candles(candles, min_candles=self.min_candles, name=self.kind)
        frame: SignalFrame = _hook(self, "signals", self.signals, window)
        if len(frame) != len(window):
            raise StrategyError(
                f"{self.kind}: signals for {len(frame)} candles, the window has {len(window)}"
            )
        return frame

    def decide(
        self, candles: CandleArrays, position: PositionView | None = None
    ) -> Decision | None:
        """Return the decision at the last closed candle of `candles`, or None to do nothing.

        Flat: an entry when exactly one of `enter_long` / `enter_short` is set and
        `confirm_entry` agrees. In a position: its exit signal, else a `custom_stop` that
        tightens the stop. Raise StrategyError on bad data.
        """
        window = OHLCV.of(candles)
        frame = self.evaluate(window)
        i = len(frame) - 1
        if position is None:
            long, short = bool(frame.enter_long[i]), bool(frame.enter_short[i])
            if long == short:
                return None
            action = Action.ENTER_LONG if long else Action.ENTER_SHORT
            decision = self.decision_at(action, i, window, frame)
            return decision if self.confirmed(decision, window) else None
        exit_now = frame.exit_long[i] if position.side is Side.BUY else frame.exit_short[i]
        if exit_now:
            action = Action.EXIT_LONG if position.side is Side.BUY else Action.EXIT_SHORT
            return self.decision_at(action, i, window, frame)
        stop = self.checked_stop(position, window, frame)
        if stop is None:
            return None
        current = position.stop_price
        tighter = (
            current is None
            or (position.side is Side.BUY and stop > current)
            or (position.side is Side.SELL and stop < current)
        )
        if not tighter:
            return None
        return Decision(
            Action.ADJUST_STOP,
            i,
            int(window.open_time[i]),
            Decimal(repr(float(window.close[i]))),
            stop_price=stop,
            reason=f"{self.kind}: custom stop {stop}",
        )

    def decision_at(self, action: Action, i: int, window: OHLCV, frame: SignalFrame) -> Decision:
        """The decision ``action`` at row ``i`` of ``window`` / ``frame`` (its prices and the
        frame's stop, take-profit and trail): what ``decide`` returns, and what the backtests
        read from a whole-series frame."""
        entry = action in (Action.ENTER_LONG, Action.ENTER_SHORT)
        return Decision(
            action=action,
            index=i,
            open_time=int(window.open_time[i]),
            price=Decimal(repr(float(window.close[i]))),
            stop_price=to_decimal(frame.value("stop_price", i)) if entry else None,
            take_profit=to_decimal(frame.value("take_profit", i)) if entry else None,
            trail_distance=to_decimal(frame.value("trail_distance", i)) if entry else None,
            reason=f"{self.kind}: {action.lower()} at candle {int(window.open_time[i])}",
        )


def decide(
    strategy: Strategy, candles: CandleArrays, position: PositionView | None = None
) -> Decision | None:
    """`strategy.decide(candles, position)`, as a function for adapters that prefer one."""
    return strategy.decide(candles, position)
