"""One trading decision, from closed candles to an execution plan (pure; no I/O, no clock).

The same function serves the live and paper loops (AutoTradingService), replays and backtests:

    candles -> strategy.decide -> (AI filter hook) -> risk gate -> SlippageManager plan
            -> ExecutionPlan (entry slices, protective stop, partial take-profits, trailing)

The adapter gathers the inputs (candles, position, book, risk context) and carries out the
outcome against an exchange; everything that decides lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import (
    BookTicker,
    InstrumentInfo,
    OrderBook,
    OrderRequest,
    OrderType,
    Side,
)
from apps.execution.domain.partial_exit import PartialExitManager, TakeProfitLevel
from apps.execution.domain.plan import ExecutionPlan, TrailingMode
from apps.execution.domain.slippage import EntryRefused, SlippageManager
from apps.execution.domain.trailing import TrailingConfig
from apps.risk.domain.gate import EntryIntent, RiskContext, RiskGate
from apps.risk.domain.types import Direction
from apps.strategies.domain.base import Action, CandleArrays, Decision, PositionView, Strategy

__all__ = [
    "CycleConfig",
    "CycleInputs",
    "CycleOutcome",
    "OutcomeKind",
    "decide_cycle",
    "decision_outcome",
    "intent_id",
    "strategy_target",
]

# An AI filter sees the decision and the candles and may veto it (returns False) - the hook the
# AI issue fills in (HybridAI). The default lets every decision through.
DecisionFilter = Callable[[Decision, CandleArrays], bool]


class OutcomeKind(StrEnum):
    NOTHING = "nothing"
    ENTER = "enter"
    EXIT = "exit"
    ADJUST_STOP = "adjust_stop"
    BLOCKED = "blocked"  # the risk gate or the AI filter said no
    REFUSED = "refused"  # execution could not place it within its limits


@dataclass(frozen=True, slots=True)
class CycleConfig:
    bot_key: str  # stable identifier of the bot, the prefix of every client order id
    strategy: Strategy
    gate: RiskGate
    slippage: SlippageManager
    exits: PartialExitManager | None = None
    trailing: TrailingConfig | None = None
    trailing_mode: TrailingMode = TrailingMode.NATIVE
    default_stop_distance: Decimal = Decimal("0.02")  # when a strategy gives no stop
    size_multiplier: Decimal = Decimal(1)  # e.g. a circuit-breaker "reduce size" tier
    ai_filter: DecisionFilter | None = None


@dataclass(frozen=True, slots=True)
class CycleInputs:
    symbol: str
    candles: CandleArrays  # closed candles only, oldest first
    info: InstrumentInfo
    book: OrderBook
    ticker: BookTicker
    risk: RiskContext
    now: datetime  # the cycle's clock reading (candle close in replays), UTC-aware
    position: PositionView | None = None


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    kind: OutcomeKind
    reason: str = ""
    decision: Decision | None = None
    plan: ExecutionPlan | None = None
    exit_order: OrderRequest | None = None
    new_stop: Decimal | None = None
    blocked_by: str = ""
    reasons: tuple[str, ...] = field(default_factory=tuple)


def intent_id(bot_key: str, symbol: str, open_time: int | str, action: str) -> str:
    """The intent of one decision: the same bot, symbol, candle and action give the same id, so
    a retried cycle re-sends the same client order ids and the exchange refuses a duplicate."""
    return client_order_id(bot_key, symbol, open_time, action)


def _default_stop(decision: Decision, distance: Decimal) -> Decimal:
    if decision.side is Side.BUY:
        return decision.price * (1 - distance)
    return decision.price * (1 + distance)


def strategy_target(decision: Decision) -> PartialExitManager | None:
    """The strategy's own take-profit (``Decision.take_profit``: ``ema_cross.tp``,
    ``bollinger_scalp.take_profit_atr``, ``ai.tp``, a webhook signal's ``take_profit`` or
    ``signal.default_tp``) as one take-profit for the whole position, at the same distance
    from the entry as from the decision's price; used when the bot has no partial exit levels
    (``Bot.exit_levels`` empty), which otherwise take the profits. None when the decision has
    none, or one that is not on the profit side."""
    target, price = decision.take_profit, decision.price
    if target is None or price <= 0:
        return None
    distance = (target - price) / price * (1 if decision.side is Side.BUY else -1)
    if distance <= 0:
        return None
    return PartialExitManager((TakeProfitLevel(distance, Decimal(1)),))


def decide_cycle(inputs: CycleInputs, config: CycleConfig) -> CycleOutcome:
    """Decide what one bot does in one symbol at the last closed candle.

    Raises ``StrategyError`` (from the strategy) on bad data; everything else is an outcome.
    """
    decision = config.strategy.decide(inputs.candles, inputs.position)
    if decision is None:
        return CycleOutcome(OutcomeKind.NOTHING, "no signal")
    return decision_outcome(inputs, config, decision)


def decision_outcome(
    inputs: CycleInputs,
    config: CycleConfig,
    decision: Decision,
    *,
    intent_key: int | str | None = None,
) -> CycleOutcome:
    """The rest of a cycle for a decision already made (by the strategy's candles, or by an
    external signal through ``SignalStrategy.on_signal``): AI hook, risk gate, execution plan.

    ``intent_key`` names the decision in its client order ids (default: the decision's candle
    open time); an external signal passes its own id, so two signals never share an order id.
    A decision carrying a ``quantity`` (an external signal's requested size) is sized at that
    quantity, capped by what the risk gate allows.
    """
    key = decision.open_time if intent_key is None else intent_key
    vetoed = (
        config.ai_filter is not None
        and decision.is_entry
        and not config.ai_filter(decision, inputs.candles)
    )
    if vetoed:
        return CycleOutcome(
            OutcomeKind.BLOCKED, "AI filter vetoed the entry", decision, blocked_by="ai_filter"
        )
    if decision.action in (Action.EXIT_LONG, Action.EXIT_SHORT):
        return _exit(inputs, config, decision, key)
    if decision.action is Action.ADJUST_STOP:
        return CycleOutcome(
            OutcomeKind.ADJUST_STOP, decision.reason, decision, new_stop=decision.stop_price
        )
    return _enter(inputs, config, decision, key)


def _exit(
    inputs: CycleInputs, config: CycleConfig, decision: Decision, key: int | str
) -> CycleOutcome:
    position = inputs.position
    if position is None or position.quantity <= 0:
        return CycleOutcome(OutcomeKind.NOTHING, "exit signal while flat", decision)
    order = OrderRequest(
        symbol=inputs.symbol,
        side=position.side.opposite,
        type=OrderType.MARKET,
        quantity=position.quantity,
        reduce_only=True,
        client_order_id=client_order_id(intent_id(config.bot_key, inputs.symbol, key, "exit"), "x"),
    )
    return CycleOutcome(
        OutcomeKind.EXIT, decision.reason or "exit signal", decision, exit_order=order
    )


def _enter(
    inputs: CycleInputs, config: CycleConfig, decision: Decision, key: int | str
) -> CycleOutcome:
    side = decision.side
    stop = decision.stop_price or _default_stop(decision, config.default_stop_distance)
    gate_decision = config.gate.evaluate(
        EntryIntent(
            symbol=inputs.symbol,
            direction=Direction.LONG if side is Side.BUY else Direction.SHORT,
            entry_price=decision.price,
            stop_price=stop,
            at=inputs.now,
        ),
        inputs.risk,
    )
    if not gate_decision.allowed:
        rule = gate_decision.blocked_by.value if gate_decision.blocked_by else "risk"
        return CycleOutcome(
            OutcomeKind.BLOCKED,
            "; ".join(gate_decision.reasons) or f"blocked by {rule}",
            decision,
            blocked_by=rule,
            reasons=gate_decision.reasons,
        )
    quantity = gate_decision.quantity * config.size_multiplier
    reasons = gate_decision.reasons
    if decision.quantity is not None:
        if decision.quantity > quantity:
            reasons = (*reasons, f"requested {decision.quantity} capped to {quantity} by risk")
        else:
            reasons = (*reasons, f"size {decision.quantity} as requested (risk allows {quantity})")
        quantity = min(quantity, decision.quantity)
    intent = intent_id(config.bot_key, inputs.symbol, key, "entry")
    try:
        entry = config.slippage.plan_entry(
            intent_id=intent,
            book=inputs.book,
            ticker=inputs.ticker,
            side=side,
            quantity=quantity,
            info=inputs.info,
        )
        plan = ExecutionPlan(
            entry=entry,
            stop_price=stop,
            info=inputs.info,
            exits=config.exits if config.exits is not None else strategy_target(decision),
            trailing=config.trailing,
            trailing_mode=config.trailing_mode,
        )
    except (EntryRefused, ValueError) as exc:
        return CycleOutcome(OutcomeKind.REFUSED, str(exc), decision, reasons=reasons)
    return CycleOutcome(
        OutcomeKind.ENTER,
        decision.reason or f"{decision.action}",
        decision,
        plan=plan,
        reasons=reasons,
    )
