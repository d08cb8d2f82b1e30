"""The cycle context: the per-bot lease, the runner over the database store, constants."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.bots.lease import BotLease, CycleBusy, LeaseLost, bot_lock
from apps.bots.models import Bot
from apps.orders.models import Order
from apps.risk.domain.vix import VolatilityBand
from apps.risk.models import RiskSettings
from apps.risk.validation import validate_volatility_bands
from apps.trading.domain.profile import BREAKER_ACTIONS as BREAKER_ACTIONS
from apps.trading.domain.profile import MAX_SLIPPAGE_BPS as MAX_SLIPPAGE_BPS
from apps.trading.domain.profile import BotProfile, breaker_tiers
from apps.trading.domain.runner import CycleRunner, OrderInFlight
from apps.trading.engine.store import DbMarket, DbStore, Instruments
from apps.trading.models import Trade
from apps.trading.venues import Runner, Venue

logger = logging.getLogger(__name__)

__all__ = ["BotLease", "CycleBusy", "LeaseLost", "OrderInFlight", "bot_lock"]

FAILURES_KEY = "bot-failures:"
CRITICAL_PREFIX = "critical error:"
RESTART_BASE_SECONDS = 60
RESTART_MAX_SECONDS = 3600


@dataclass
class _Context:
    """A bot's cycle (or signal) under its lease: the runner over the database store."""

    bot: Bot
    risk: RiskSettings
    venue: Venue
    run: Runner
    now: datetime
    lease: BotLease
    _runner: CycleRunner | None = field(default=None, init=False, repr=False)

    @property
    def runner(self) -> CycleRunner:
        if self._runner is None:
            self._runner = CycleRunner(
                profile=bot_profile(self.bot, self.risk),
                symbols=self.bot.symbols,
                store=DbStore(self.bot),
                venue=self.venue,
                market=DbMarket(self.bot.name),
                instruments=Instruments(),
                run=self.run,
                now=self.now,
                name=self.bot.name,
                guard=self.lease.check,  # raise LeaseLost once the kill switch took the bot
                recover_stops=self.bot.trading_mode != Bot.TradingMode.PAPER,
            )
        return self._runner


def _send(
    ctx: _Context,
    request: Any,
    *,
    purpose: str,
    expected: Decimal | None = None,
    trade: Trade | None = None,
) -> Order:
    """Record the order, then send it, once (``CycleRunner.send``)."""
    order: Order = ctx.runner.send(request, purpose=purpose, expected=expected, trade=trade)
    return order


def bot_profile(bot: Bot, risk: RiskSettings) -> BotProfile:
    """The bot's settings as the pure kernel's ``BotProfile`` (the exchange-mode backtest takes
    the same object, so a backtest of a bot runs with exactly its settings)."""
    return BotProfile(
        bot_key=f"b{bot.pk}",
        strategy_kind=bot.strategy.kind,
        strategy_params=bot.strategy.parameters,
        mode=bot.strategy.mode,
        leverage=bot.leverage,
        margin_type=bot.margin_type,
        risk_per_trade=risk.risk_per_trade,
        max_exposure=risk.max_exposure,
        max_open_positions=risk.max_open_positions,
        correlation_threshold=risk.correlation_threshold,
        correlation_lookback=risk.correlation_lookback,
        daily_loss_limit=risk.daily_loss_limit or None,  # 0: no limit
        breaker_tiers=breaker_tiers(risk.breaker_tiers),
        volatility_bands=volatility_bands(risk),
        exit_levels=bot.exit_take_profit_levels(),
        break_even=bot.break_even_after_first_exit,
        trailing=bot.trailing,
        trailing_callback=bot.trailing_callback,
        trailing_activation=bot.trailing_activation,
    )


def volatility_bands(risk: RiskSettings) -> tuple[VolatilityBand, ...]:
    """The bot's CryptoVIX bands (validated; raise ``RiskSettingsError`` when malformed)."""
    return tuple(
        VolatilityBand(float(b["max_score"]), Decimal(b["size_multiplier"]))
        for b in validate_volatility_bands(risk.volatility_bands)
    )
