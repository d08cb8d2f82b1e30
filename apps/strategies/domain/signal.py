"""`signal`: act on external signals (the TradingView-style webhook).

An external signal says `buy`, `sell` or `close`, optionally with a stop-loss, a take-profit and
a size. `SignalStrategy.on_signal` turns a validated signal into a `Decision`:

| action | flat          | long        | short        |
|--------|---------------|-------------|--------------|
| buy    | ENTER_LONG    | nothing     | EXIT_SHORT   |
| sell   | ENTER_SHORT   | EXIT_LONG   | nothing      |
| close  | nothing       | EXIT_LONG   | EXIT_SHORT   |

An entry without a stop / take-profit gets `reference * (1 -/+ default_sl)` and
`reference * (1 +/- default_tp)`. A signal older than `max_signal_age_s` (by the injected `now`),
one for another symbol, or with a stop / take-profit on the wrong side of the reference price is
refused with `SignalRejected` (a one-line reason for the webhook's answer); it never pauses the
bot. Candles do not drive this strategy: `signals` returns a frame without signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from apps.exchange.domain.types import Side

from .base import OHLCV, Action, Decision, PositionView, SignalFrame, Strategy

__all__ = ["ExternalSignal", "SignalAction", "SignalRejected", "SignalStrategy"]


class SignalRejected(ValueError):
    """An external signal is malformed, stale or inconsistent; one-line reason."""


class SignalAction(StrEnum):
    BUY = "buy"
    SELL = "sell"
    CLOSE = "close"


def _positive(raw: Mapping[str, Any], key: str) -> Decimal | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SignalRejected(f"{key} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SignalRejected(f"{key} must be a number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise SignalRejected(f"{key} must be a positive number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ExternalSignal:
    action: SignalAction
    symbol: str
    time: datetime
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    size: Decimal | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise SignalRejected(f"signal time must be UTC-aware, got naive {self.time!r}")

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, time: datetime) -> ExternalSignal:
        """Build from a webhook body (`action`, `symbol`, optional `stop_loss`,
        `take_profit`, `size`); `time` is when it was sent. Raise SignalRejected."""
        action = str(raw.get("action", "")).strip().lower()
        if action not in {a.value for a in SignalAction}:
            raise SignalRejected(f"action must be buy, sell or close, got {raw.get('action')!r}")
        symbol = str(raw.get("symbol", "")).strip().upper()
        if not symbol:
            raise SignalRejected("symbol is required")
        return cls(
            action=SignalAction(action),
            symbol=symbol,
            time=time,
            stop_loss=_positive(raw, "stop_loss"),
            take_profit=_positive(raw, "take_profit"),
            size=_positive(raw, "size"),
        )


class SignalStrategy(Strategy):
    kind = "signal"

    @property
    def min_candles(self) -> int:
        return 1

    def signals(self, candles: OHLCV) -> SignalFrame:
        return SignalFrame.empty(len(candles))

    def on_signal(
        self,
        signal: ExternalSignal,
        *,
        symbol: str,
        now: datetime,
        reference_price: Decimal,
        position: PositionView | None = None,
    ) -> Decision | None:
        """Return the decision for `signal` on the bot trading `symbol`, or None when it asks
        for nothing new (buy while long, close while flat). Raise SignalRejected."""
        if signal.symbol != symbol.upper():
            raise SignalRejected(f"signal is for {signal.symbol}, this bot trades {symbol}")
        age = (now - signal.time).total_seconds()
        if age > self.params["max_signal_age_s"]:
            raise SignalRejected(
                f"signal is {age:.0f} s old, more than {self.params['max_signal_age_s']} s"
            )
        if age < -5:
            raise SignalRejected(f"signal time is {-age:.0f} s in the future")
        if reference_price <= 0:
            raise SignalRejected(f"reference price must be > 0, got {reference_price}")
        held = None if position is None else position.side
        action = _ACTIONS.get((signal.action, held))
        if action is None:
            return None
        stamp = int(signal.time.timestamp() * 1000)
        reason = f"signal: {signal.action} {signal.symbol}"
        if action not in (Action.ENTER_LONG, Action.ENTER_SHORT):
            return Decision(action, -1, stamp, reference_price, reason=reason)
        long = action is Action.ENTER_LONG
        sl, tp = Decimal(str(self.params["default_sl"])), Decimal(str(self.params["default_tp"]))
        stop = signal.stop_loss or reference_price * (1 - sl if long else 1 + sl)
        take = signal.take_profit or reference_price * (1 + tp if long else 1 - tp)
        if (stop >= reference_price) if long else (stop <= reference_price):
            raise SignalRejected(
                f"stop_loss {stop} is on the wrong side of {reference_price} for a "
                f"{'long' if long else 'short'}"
            )
        if (take <= reference_price) if long else (take >= reference_price):
            raise SignalRejected(
                f"take_profit {take} is on the wrong side of {reference_price} for a "
                f"{'long' if long else 'short'}"
            )
        return Decision(
            action,
            -1,
            stamp,
            reference_price,
            stop_price=stop,
            take_profit=take,
            quantity=signal.size,
            reason=reason,
        )


_ACTIONS: dict[tuple[SignalAction, Side | None], Action] = {
    (SignalAction.BUY, None): Action.ENTER_LONG,
    (SignalAction.BUY, Side.SELL): Action.EXIT_SHORT,
    (SignalAction.SELL, None): Action.ENTER_SHORT,
    (SignalAction.SELL, Side.BUY): Action.EXIT_LONG,
    (SignalAction.CLOSE, Side.BUY): Action.EXIT_LONG,
    (SignalAction.CLOSE, Side.SELL): Action.EXIT_SHORT,
}
