"""RiskGate: one pure decision on one entry intent, composed from the risk rules.

Rules run in this order; the first that blocks ends the evaluation and is named in
`RiskDecision.blocked_by`:

1. INVALID_INTENT: the stop must be on the losing side of the entry (below for LONG, above
   for SHORT);
2. KILL_SWITCH: the bot's kill switch is engaged (the adapter reads the bot's halt cause);
3. DAILY_LOSS: the net PnL of the trades closed since 00:00 UTC (the adapter sums it) against
   `daily_loss_limit` (USDT, ``RiskSettings.daily_loss_limit``); blocks when loss >= limit;
   no limit when it is None;
4. CIRCUIT_BREAKER: the `BreakerDecision` the adapter obtained from
   `CircuitBreaker.evaluate(now, equity)`; HALT_ENTRIES and FLATTEN block, REDUCE_SIZE passes
   its multiplier to sizing, WARN only adds a reason;
5. MAX_OPEN_POSITIONS;
6. CORRELATION: `portfolio.check_entry` against the open positions;
7. SIZING: `sizing.size_position` with the VIX and breaker multipliers; a refusal (below min
   qty / notional, exposure cap reached) blocks.

The gate holds no state and reads no clock: the breaker, VIX reading and correlation matrix
come in with the context, already computed (and cached) by the adapter. A missing VIX reading
means multiplier 1 unless `require_vix` is set; a missing breaker decision means "clear".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from apps.risk.domain.circuit_breaker import BreakerAction, BreakerDecision
from apps.risk.domain.portfolio import DEFAULT_THRESHOLD, CorrelationMatrix, check_entry
from apps.risk.domain.sizing import InstrumentFilters, SizingLimits, size_position
from apps.risk.domain.types import Direction, require_utc
from apps.risk.domain.vix import VixReading


class RiskRule(StrEnum):
    INVALID_INTENT = "INVALID_INTENT"
    KILL_SWITCH = "KILL_SWITCH"
    DAILY_LOSS = "DAILY_LOSS"
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    CORRELATION = "CORRELATION"
    SIZING = "SIZING"


@dataclass(frozen=True, slots=True)
class EntryIntent:
    symbol: str
    direction: Direction
    entry_price: Decimal
    stop_price: Decimal
    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))
        require_utc(self.at, "intent time")


@dataclass(frozen=True, slots=True)
class OpenPosition:
    symbol: str
    direction: Direction
    notional: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))


@dataclass(frozen=True, slots=True)
class RiskContext:
    equity: Decimal
    filters: InstrumentFilters
    open_positions: Sequence[OpenPosition] = ()
    kill_switch: bool = False
    kill_switch_reason: str = ""
    breaker: BreakerDecision | None = None
    vix: VixReading | None = None
    correlations: CorrelationMatrix | None = None
    daily_realized_pnl: Decimal = Decimal(0)  # net of fees and funding, since 00:00 UTC


@dataclass(frozen=True, slots=True)
class RiskConfig:
    sizing: SizingLimits = field(default_factory=SizingLimits)
    correlation_threshold: float = DEFAULT_THRESHOLD
    daily_loss_limit: Decimal | None = None  # USDT lost in a UTC day; None: no limit
    block_on_missing_correlation: bool = True
    require_vix: bool = False

    def __post_init__(self) -> None:
        if self.daily_loss_limit is not None and not self.daily_loss_limit > 0:
            raise ValueError(
                f"daily_loss_limit must be positive USDT (or None), got {self.daily_loss_limit}"
            )


@dataclass(frozen=True, slots=True)
class RiskDecision:
    allowed: bool
    quantity: Decimal
    notional: Decimal
    blocked_by: RiskRule | None
    reasons: tuple[str, ...]


class RiskGate:
    def __init__(self, config: RiskConfig | None = None) -> None:
        self.config = config or RiskConfig()

    def evaluate(self, intent: EntryIntent, context: RiskContext) -> RiskDecision:
        """Run the rules in order; return the first block, or the sized entry."""
        reasons: list[str] = []

        def block(rule: RiskRule, reason: str) -> RiskDecision:
            reasons.append(reason)
            return RiskDecision(False, Decimal(0), Decimal(0), rule, tuple(reasons))

        cfg = self.config
        if intent.direction is Direction.LONG and not intent.stop_price < intent.entry_price:
            return block(RiskRule.INVALID_INTENT, "LONG stop must be below the entry price")
        if intent.direction is Direction.SHORT and not intent.stop_price > intent.entry_price:
            return block(RiskRule.INVALID_INTENT, "SHORT stop must be above the entry price")

        if context.kill_switch:
            why = context.kill_switch_reason or "no reason given"
            return block(RiskRule.KILL_SWITCH, f"kill switch engaged: {why}")

        daily_loss = max(Decimal(0), -context.daily_realized_pnl)
        if cfg.daily_loss_limit is not None and daily_loss >= cfg.daily_loss_limit:
            return block(
                RiskRule.DAILY_LOSS,
                f"daily loss {daily_loss:.2f} USDT >= limit {cfg.daily_loss_limit:.2f} USDT "
                "(trades closed since 00:00 UTC; entries resume tomorrow)",
            )

        breaker = context.breaker
        breaker_multiplier = Decimal(1)
        if breaker is not None and breaker.tripped:
            if not breaker.allows_entries:
                return block(RiskRule.CIRCUIT_BREAKER, breaker.reason)
            if breaker.action is BreakerAction.REDUCE_SIZE:
                breaker_multiplier = breaker.size_multiplier
            reasons.append(breaker.reason)

        open_count = len(context.open_positions)
        if open_count >= cfg.sizing.max_open_positions:
            return block(
                RiskRule.MAX_OPEN_POSITIONS,
                f"max open positions reached: {open_count} >= {cfg.sizing.max_open_positions}",
            )

        gate = check_entry(
            intent.symbol,
            intent.direction,
            [(p.symbol, p.direction) for p in context.open_positions],
            context.correlations,
            cfg.correlation_threshold,
            cfg.block_on_missing_correlation,
        )
        if not gate.allowed:
            return block(RiskRule.CORRELATION, gate.reason)
        reasons.append(gate.reason)

        if context.vix is None:
            if cfg.require_vix:
                return block(RiskRule.SIZING, "no CryptoVIX reading and require_vix is set")
            vix_multiplier = Decimal(1)
            reasons.append("no CryptoVIX reading: volatility multiplier 1")
        else:
            vix_multiplier = context.vix.size_multiplier
            reasons.append(
                f"CryptoVIX {context.vix.score:.1f} ({context.vix.band.name or 'band'}, "
                f"vol {context.vix.annualised_vol:.0%}): size x{vix_multiplier}"
            )

        sizing = size_position(
            equity=context.equity,
            entry_price=intent.entry_price,
            stop_price=intent.stop_price,
            limits=cfg.sizing,
            filters=context.filters,
            open_notional=sum((abs(p.notional) for p in context.open_positions), Decimal(0)),
            open_positions=open_count,
            vix_multiplier=vix_multiplier,
            breaker_multiplier=breaker_multiplier,
        )
        reasons.extend(sizing.caps_applied)
        if not sizing.ok:
            assert sizing.refused_reason is not None
            return block(RiskRule.SIZING, sizing.refused_reason)
        reasons.append(
            f"size {sizing.quantity} {intent.symbol} (notional {sizing.notional}, "
            f"risk at stop {sizing.risk_amount})"
        )
        return RiskDecision(True, sizing.quantity, sizing.notional, None, tuple(reasons))
