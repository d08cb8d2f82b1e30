"""The cycle context: the per-bot lock, constants, and sending one order."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.cache import cache

from apps.bots.models import Bot
from apps.exchange.domain.errors import RejectedError
from apps.exchange.domain.types import Side
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_create, order_reject
from apps.risk.domain.vix import VolatilityBand
from apps.risk.models import RiskSettings
from apps.risk.validation import validate_volatility_bands
from apps.strategies.domain.base import PositionView
from apps.trading.domain.profile import BREAKER_ACTIONS as BREAKER_ACTIONS
from apps.trading.domain.profile import MAX_SLIPPAGE_BPS as MAX_SLIPPAGE_BPS
from apps.trading.domain.profile import BotProfile, breaker_tiers
from apps.trading.models import Position
from apps.trading.venues import Runner, Venue

logger = logging.getLogger(__name__)

LOCK_SECONDS = 300
FAILURES_KEY = "bot-failures:"
CRITICAL_PREFIX = "critical error:"
RESTART_BASE_SECONDS = 60
RESTART_MAX_SECONDS = 3600


class CycleBusy(Exception):
    """Another cycle of the same bot holds the lock; the task retries later."""


@contextmanager
def bot_lock(bot_id: int, *, seconds: int = LOCK_SECONDS) -> Iterator[None]:
    """One cycle of a bot at a time, across processes (the cache is Redis when configured)."""
    key, token = f"bot-lock:{bot_id}", uuid.uuid4().hex
    if not cache.add(key, token, timeout=seconds):
        raise CycleBusy(f"bot {bot_id} is already running a cycle")
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


@dataclass
class _Context:
    bot: Bot
    risk: RiskSettings
    venue: Venue
    run: Runner
    now: datetime


def _send(ctx: _Context, request: Any, *, purpose: str, expected: Decimal | None = None) -> Order:
    order = order_create(bot=ctx.bot, request=request, purpose=purpose, expected_price=expected)
    if order.status != Order.Status.PENDING_NEW:
        return order  # sent before (a retried cycle): never twice
    mark = ctx.venue.mark()
    try:
        report = ctx.run(ctx.venue.exchange.place_order(request))
    except RejectedError as exc:
        return order_reject(order=order, at=ctx.now, reason=str(exc)[:255], code=exc.code)
    order = order_apply_report(order=order, report=report, at=ctx.now)
    ctx.venue.after_place(order=order, report=report, mark=mark)
    order.refresh_from_db()
    return order


def _equity(ctx: _Context) -> Decimal:
    balances = ctx.run(ctx.venue.exchange.balances())
    usdt = next((b for b in balances if b.asset == "USDT"), None)
    return (usdt.wallet_balance + usdt.unrealized_pnl) if usdt else Decimal(0)


def _position_view(bot: Bot, symbol: str) -> PositionView | None:
    row = Position.objects.filter(bot=bot, symbol=symbol).exclude(quantity=0).first()
    if row is None:
        return None
    side = Side.BUY if row.side == "LONG" else Side.SELL
    return PositionView(side, row.entry_price, abs(row.quantity), row.stop_price)


def bot_profile(bot: Bot, risk: RiskSettings) -> BotProfile:
    """The bot's settings as the pure kernel's ``BotProfile`` (the exchange-mode backtest takes
    the same object, so a backtest of a bot runs with exactly its settings)."""
    return BotProfile(
        bot_key=f"b{bot.pk}",
        strategy_kind=bot.strategy.kind,
        strategy_params=bot.strategy.parameters,
        mode=bot.strategy.mode,
        leverage=bot.leverage,
        risk_per_trade=risk.risk_per_trade,
        max_exposure=risk.max_exposure,
        max_open_positions=risk.max_open_positions,
        correlation_threshold=risk.correlation_threshold,
        correlation_lookback=risk.correlation_lookback,
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
