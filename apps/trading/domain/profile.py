"""A bot's settings as plain values, and the rules around a decision that every loop applies.

The live and paper loop (``apps.trading.engine``) reads the settings from the ``Bot`` and
``RiskSettings`` rows (``engine.context.bot_profile``); the exchange-mode backtest
(``apps.backtest.exchange_mode.domain``) takes a ``BotProfile`` as it is. Both then build the same
``CycleConfig`` (strategy, risk gate, slippage manager, partial exits, trailing), evaluate the
same circuit breaker from the closed trades, and move stops with the same break-even and managed
trailing rules and the same client order ids: pure, no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import InstrumentInfo, OrderRequest, OrderType, Side
from apps.execution.domain.partial_exit import BreakEvenRule, PartialExitManager, TakeProfitLevel
from apps.execution.domain.plan import TrailingMode
from apps.execution.domain.slippage import SlippageConfig, SlippageManager
from apps.execution.domain.trailing import TrailingConfig, TrailingStop, stop_market_order
from apps.risk.domain.circuit_breaker import (
    BreakerAction,
    BreakerDecision,
    BreakerTier,
    CircuitBreaker,
)
from apps.risk.domain.gate import RiskConfig, RiskGate
from apps.risk.domain.sizing import SizingLimits
from apps.risk.domain.vix import DEFAULT_BANDS, VolatilityBand
from apps.strategies.domain.base import Strategy
from apps.strategies.domain.registry import build_strategy
from apps.trading.domain.cycle import CycleConfig

__all__ = [
    "BREAKER_ACTIONS",
    "MAX_SLIPPAGE_BPS",
    "BotProfile",
    "break_even_stop",
    "breaker_decide",
    "breaker_tiers",
    "breaker_window",
    "flatten_order",
    "managed_trail_stop",
    "replacement_stop_order",
    "utc_day_start",
]

MAX_SLIPPAGE_BPS = Decimal(30)
BREAKER_ACTIONS = {
    "warn": BreakerAction.WARN,
    "reduce_size": BreakerAction.REDUCE_SIZE,
    "halt": BreakerAction.HALT_ENTRIES,
    "flatten": BreakerAction.FLATTEN,
}
TRAILING_NONE, TRAILING_MANAGED, TRAILING_NATIVE = "none", "managed", "native"


@dataclass(frozen=True, slots=True)
class BotProfile:
    """What decides a bot's trades: strategy, leverage, risk settings, exits and trailing.

    Defaults are those of a new ``Bot`` / ``RiskSettings`` row.
    """

    bot_key: str  # the prefix of every client order id ("b<bot id>")
    strategy_kind: str
    strategy_params: Mapping[str, Any] = field(default_factory=dict)
    mode: str = "SWING"  # the strategy's trading mode, recorded on the trades
    leverage: int = 3
    margin_type: str = "ISOLATED"  # set on the venue with the leverage before an entry from flat
    risk_per_trade: Decimal = Decimal("0.01")
    max_exposure: Decimal = Decimal(5000)  # USDT of open notional
    max_open_positions: int = 3
    correlation_threshold: Decimal = Decimal("0.8")
    correlation_lookback: int = 100
    daily_loss_limit: Decimal | None = None  # USDT lost since 00:00 UTC; None: no limit
    breaker_tiers: tuple[BreakerTier, ...] = ()
    volatility_bands: tuple[VolatilityBand, ...] = DEFAULT_BANDS
    exit_levels: tuple[TakeProfitLevel, ...] = ()
    break_even: bool = True
    trailing: str = TRAILING_MANAGED  # none | managed | native
    trailing_callback: Decimal = Decimal("0.015")
    trailing_activation: Decimal = Decimal("0.015")

    @property
    def trailing_config(self) -> TrailingConfig | None:
        if self.trailing == TRAILING_NONE:
            return None
        return TrailingConfig(callback=self.trailing_callback, activation=self.trailing_activation)

    def cycle_config(
        self,
        equity: Decimal,
        size_multiplier: Decimal = Decimal(1),
        *,
        strategy: Strategy | None = None,
    ) -> CycleConfig:
        """The kernel's configuration at this equity (the exposure cap is a multiple of it);
        ``strategy``: an instance already built from ``strategy_kind`` / ``strategy_params``."""
        if strategy is None:
            strategy = build_strategy(self.strategy_kind, dict(self.strategy_params))
        leverage = Decimal(self.leverage)
        gate = RiskGate(
            RiskConfig(
                sizing=SizingLimits(
                    risk_pct=self.risk_per_trade,
                    max_leverage=leverage,
                    # the bot's exposure cap (USDT) as a multiple of equity, never above leverage
                    max_exposure_multiple=min(
                        leverage, self.max_exposure / equity if equity > 0 else leverage
                    ),
                    max_open_positions=self.max_open_positions,
                ),
                correlation_threshold=float(self.correlation_threshold),
                daily_loss_limit=self.daily_loss_limit,
                block_on_missing_correlation=False,
            )
        )
        exits = (
            PartialExitManager(
                self.exit_levels, break_even=BreakEvenRule() if self.break_even else None
            )
            if self.exit_levels
            else None
        )
        mode = TrailingMode.NATIVE if self.trailing == TRAILING_NATIVE else TrailingMode.MANAGED
        return CycleConfig(
            bot_key=self.bot_key,
            strategy=strategy,
            gate=gate,
            slippage=SlippageManager(SlippageConfig(max_slippage_bps=MAX_SLIPPAGE_BPS)),
            exits=exits,
            trailing=self.trailing_config,
            trailing_mode=mode,
            size_multiplier=size_multiplier,
        )


# --- circuit breaker ------------------------------------------------------------------------
def breaker_tiers(raw: Iterable[Mapping[str, Any]]) -> tuple[BreakerTier, ...]:
    """The tiers of ``RiskSettings.breaker_tiers`` (JSON objects) as ``BreakerTier``s."""
    return tuple(
        BreakerTier(
            name=t["name"],
            window_minutes=t["window_minutes"],
            action=BREAKER_ACTIONS[t["action"]],
            loss_limit=Decimal(t["loss_limit"]),
            size_multiplier=Decimal(t.get("size_multiplier", "1")),
        )
        for t in raw
    )


def utc_day_start(now: datetime) -> datetime:
    """00:00 UTC of ``now``'s day: where the daily loss limit's day begins."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def breaker_window(tiers: Sequence[BreakerTier]) -> timedelta:
    """How far back closed trades count: the longest tier window."""
    return timedelta(minutes=max(t.window_minutes for t in tiers))


def breaker_decide(
    tiers: Sequence[BreakerTier],
    latched: Mapping[str, str],
    closed: Iterable[tuple[datetime, Decimal]],
    now: datetime,
    equity: Decimal,
) -> tuple[BreakerDecision, dict[str, Any]]:
    """Evaluate the breaker from the net PnL (realized - fees - funding) of the trades closed in
    ``(now - breaker_window, now]`` and the stored latches (``to_state()["latched"]``); return
    the decision and the state to store."""
    breaker = CircuitBreaker.from_state(tiers, {"version": 1, "events": [], "latched": latched})
    for exit_time, net in closed:
        breaker.record_pnl(exit_time, net)
    decision = breaker.evaluate(now, equity)
    return decision, breaker.to_state()


# --- stop moves and flattening ---------------------------------------------------------------
def managed_trail_stop(
    config: TrailingConfig,
    *,
    bot_key: str,
    symbol: str,
    quantity: Decimal,
    entry_price: Decimal,
    stop_price: Decimal,
    info: InstrumentInfo,
    high: Decimal,
    low: Decimal,
    close: Decimal,
) -> Decimal | None:
    """The managed trailing stop ratcheted with the last closed candle: the new stop of the
    position (signed ``quantity``) when it moves, else None."""
    trail = TrailingStop(
        config,
        intent_id=client_order_id(bot_key, symbol, "trail"),
        side=Side.BUY if quantity > 0 else Side.SELL,
        entry_price=entry_price,
        info=info,
        initial_stop=stop_price,
    )
    update = trail.update_candle(high, low, close)
    return update.new_stop if update.replace else None


def break_even_stop(
    *, quantity: Decimal, entry_price: Decimal, stop_price: Decimal | None
) -> Decimal | None:
    """The break-even stop (the entry price) when it is better than the current stop."""
    long = quantity > 0
    better = stop_price is None or (entry_price > stop_price if long else entry_price < stop_price)
    return entry_price if better else None


def replacement_stop_order(
    *,
    bot_key: str,
    symbol: str,
    quantity: Decimal,
    stop_price: Decimal,
    info: InstrumentInfo,
    sequence: int,
) -> OrderRequest:
    """The stop-market that replaces the protective stop of a position (signed ``quantity``);
    ``sequence`` is one more than the stop-market stops placed in the symbol so far."""
    return stop_market_order(
        intent_id=client_order_id(bot_key, symbol, "stop"),
        side=Side.BUY if quantity > 0 else Side.SELL,
        quantity=abs(quantity),
        stop_price=stop_price,
        info=info,
        sequence=sequence,
    )


def flatten_order(
    *, bot_key: str, symbol: str, quantity: Decimal, now: datetime, attempt: int = 0
) -> OrderRequest:
    """The reduce-only market order that closes a position (signed ``quantity``) now;
    ``attempt`` > 0 names a further try of the same close (its own client id)."""
    parts: tuple[str | int, ...] = (bot_key, symbol, "flat", now.isoformat())
    return OrderRequest(
        symbol=symbol,
        side=Side.SELL if quantity > 0 else Side.BUY,
        type=OrderType.MARKET,
        quantity=abs(quantity),
        reduce_only=True,
        client_order_id=client_order_id(*parts, attempt) if attempt else client_order_id(*parts),
    )
