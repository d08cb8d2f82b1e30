"""Acting on one external signal (a TradingView alert) through the trading runner.

The same steps for a webhook signal on a worker (``apps.trading.engine.signals``, the database
store) and for a file of past signals backtested over candles
(``apps.backtest.exchange_mode.domain``, the in-memory store):

    bring the venue up to date -> break-even moves -> equity -> circuit breaker
    -> ``SignalStrategy.on_signal`` (staleness, side, stop / take-profit sanity)
    -> requested size (quantity, quote amount or percent of equity) -> the pure kernel's
    ``decision_outcome`` (AI hook, the same RiskGate, the same SlippageManager plan)
    -> the runner's execution (IOC entry slices, protective stop, partial take-profits,
    trailing).

A ``limit`` signal is an entry priced no worse than its ``price``: the IOC slices are bounded
by it (the SlippageManager's maximum slippage is set from it), and nothing rests on the book.
Client order ids derive from the signal's key (``s<id>``), so a retried signal re-sends the
same ids and never places twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from apps.exchange.domain.types import BookTicker, Side
from apps.execution.domain.slippage import SlippageManager, reference_price
from apps.strategies.domain.signal import ExternalSignal, SignalRejected, SignalStrategy
from apps.trading.domain.cycle import CycleConfig, OutcomeKind, decision_outcome
from apps.trading.domain.runner import Configure, CycleRunner, Window

__all__ = [
    "MAX_LIMIT_BPS",
    "SignalRefused",
    "SignalResult",
    "limit_config",
    "requested_quantity",
    "signal_step",
]

MAX_LIMIT_BPS = Decimal(1000)  # the SlippageManager's hard bound: 10 % from the reference
_OUTCOMES = {
    OutcomeKind.ENTER: "placed",
    OutcomeKind.EXIT: "placed",
    OutcomeKind.BLOCKED: "blocked",
    OutcomeKind.REFUSED: "rejected",
    OutcomeKind.NOTHING: "ignored",
}


class SignalRefused(Exception):
    """The signal cannot be acted on now; the message is recorded on it (``outcome``: a
    ``Signal.outcome`` value)."""

    def __init__(self, outcome: str, message: str, blocked_by: str = "") -> None:
        super().__init__(message)
        self.outcome, self.blocked_by = outcome, blocked_by


@dataclass(frozen=True, slots=True)
class SignalResult:
    """What came of a signal: its ``Signal.outcome`` value, why, the first order sent."""

    outcome: str
    detail: str
    order: Any = None
    blocked_by: str = ""


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def requested_quantity(
    payload: Mapping[str, Any], equity: Decimal, price: Decimal
) -> Decimal | None:
    """The size the signal asks for, in base units (None: the risk gate sizes it)."""
    if (quantity := _decimal(payload.get("quantity"))) is not None:
        return quantity
    if (quote := _decimal(payload.get("quote_amount"))) is not None:
        return quote / price
    if (percent := _decimal(payload.get("percent_equity"))) is not None:
        return equity * percent / 100 / price
    return None


def limit_config(
    config: CycleConfig, side: Side, limit: Decimal, ticker: BookTicker
) -> CycleConfig:
    """Bound the entry's IOC slices by the signal's limit price (raise ``SignalRefused``
    when nothing would fill now)."""
    ref = reference_price(ticker, side, config.slippage.config.reference)
    gap = (limit - ref) if side is Side.BUY else (ref - limit)
    if gap < 0:
        touch = ticker.ask_price if side is Side.BUY else ticker.bid_price
        raise SignalRefused(
            "rejected",
            f"limit {limit} is {'below the ask' if side is Side.BUY else 'above the bid'} "
            f"({touch}): nothing would fill now, and signal entries never rest on the book",
        )
    bps = min(MAX_LIMIT_BPS, (gap / ref * 10_000).quantize(Decimal("0.01"), ROUND_DOWN))
    slippage = SlippageManager(replace(config.slippage.config, max_slippage_bps=bps))
    return replace(config, slippage=slippage)


def signal_step(
    runner: CycleRunner,
    *,
    key: str,
    action: str,
    payload: Mapping[str, Any],
    sent_at: datetime,
    symbol: str,
    interval: str,
    open_time: int,
    wall: datetime,
    configure: Configure,
    window: Window,
    decided: Callable[[], None] | None = None,
) -> SignalResult:
    """Act on one signal (``action``: buy / sell / close, ``payload``: the alert's fields,
    ``sent_at``: when it was sent) after the candle opened at ``open_time``; ``key`` names its
    orders, ``wall`` is the time its age is judged by. ``decided`` is called once the kernel
    has decided (the database records what the AI said). Raise ``SignalRefused``."""
    purposes = runner.caught_up(symbol, interval, open_time)
    runner.break_even(symbol, purposes)
    equity = runner.equity()
    breaker = runner.breaker(equity)
    config = configure(equity)
    strategy = config.strategy
    if not isinstance(strategy, SignalStrategy):
        raise SignalRefused("rejected", f"bot {runner.name} does not take signals")
    inputs = runner.inputs(
        symbol,
        window(symbol, open_time),
        equity,
        breaker,
        runner.correlations(symbol),
        runner.position_view(symbol),
    )
    side = Side.SELL if action == "sell" else Side.BUY
    limit = _decimal(payload.get("price")) if payload.get("order_type") == "limit" else None
    market_ref = reference_price(inputs.ticker, side, config.slippage.config.reference)
    try:
        decision = strategy.on_signal(
            ExternalSignal.parse(payload, time=sent_at),
            symbol=symbol,
            now=wall,
            reference_price=limit or market_ref,
            position=inputs.position,
        )
    except SignalRejected as exc:
        raise SignalRefused("rejected", str(exc)) from None
    if decision is None:
        held = "flat" if inputs.position is None else f"{inputs.position.side} already"
        return SignalResult("ignored", f"nothing to do: {action} while {held}")
    if decision.is_entry:
        decision = replace(
            decision, quantity=requested_quantity(payload, equity, limit or market_ref)
        )
        if limit is not None:
            config = limit_config(config, side, limit, inputs.ticker)
    outcome = decision_outcome(inputs, config, decision, intent_key=key)
    if decided is not None:
        decided()
    order = runner.execute(symbol, outcome, config)
    detail = "; ".join(dict.fromkeys(r for r in (outcome.reason, *outcome.reasons) if r))
    if order is not None and order.status == "REJECTED":
        reason = getattr(order, "reject_reason", "")
        return SignalResult("failed", f"exchange rejected the order: {reason}", order)
    return SignalResult(_OUTCOMES.get(outcome.kind, "ignored"), detail, order, outcome.blocked_by)
