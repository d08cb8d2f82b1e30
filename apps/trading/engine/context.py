"""The cycle context: the per-bot lease, constants, and sending one order."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.bots.lease import BotLease, CycleBusy, LeaseLost, bot_lock
from apps.bots.models import Bot
from apps.exchange.domain.errors import (
    DuplicateClientOrderIdError,
    OrderNotFoundError,
    RejectedError,
)
from apps.exchange.domain.types import Side
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_record, order_reject
from apps.risk.domain.vix import VolatilityBand
from apps.risk.models import RiskSettings
from apps.risk.validation import validate_volatility_bands
from apps.strategies.domain.base import PositionView
from apps.trading.domain.profile import BREAKER_ACTIONS as BREAKER_ACTIONS
from apps.trading.domain.profile import MAX_SLIPPAGE_BPS as MAX_SLIPPAGE_BPS
from apps.trading.domain.profile import BotProfile, breaker_tiers
from apps.trading.models import Position, Trade
from apps.trading.venues import Runner, Venue

logger = logging.getLogger(__name__)

__all__ = ["BotLease", "CycleBusy", "LeaseLost", "OrderInFlight", "bot_lock"]

FAILURES_KEY = "bot-failures:"
CRITICAL_PREFIX = "critical error:"
RESTART_BASE_SECONDS = 60
RESTART_MAX_SECONDS = 3600


class OrderInFlight(Exception):
    """An order recorded by an earlier attempt is not on the venue (yet): it may still land,
    so nothing that depends on it is decided now; the cycle is retried."""


@dataclass
class _Context:
    bot: Bot
    risk: RiskSettings
    venue: Venue
    run: Runner
    now: datetime
    lease: BotLease


def _send(
    ctx: _Context,
    request: Any,
    *,
    purpose: str,
    expected: Decimal | None = None,
    trade: Trade | None = None,
) -> Order:
    """Record the order (committed first on a live venue), then send it, once.

    The intent (client id, side, size, purpose) is recorded before anything leaves, so a crash
    after sending leaves a row that recovery finds on the venue by its client id. Only the
    attempt that recorded the row sends it: a row recorded by an earlier attempt is looked up
    on the venue instead (raise ``OrderInFlight`` when it is not there yet). Raise
    ``LeaseLost`` when the kill switch took the bot over: nothing more is sent.
    """
    ctx.lease.check()
    order, created = order_record(
        bot=ctx.bot, request=request, purpose=purpose, trade=trade, expected_price=expected
    )
    if not created:
        if order.status == Order.Status.PENDING_NEW:
            return _resolve_recorded(ctx, order)
        return order  # sent and settled before (a retried cycle): never twice
    mark = ctx.venue.mark()
    try:
        report = ctx.run(ctx.venue.exchange.place_order(request))
    except DuplicateClientOrderIdError:  # it is on the venue already: take its state
        return _resolve_recorded(ctx, order)
    except RejectedError as exc:
        return order_reject(order=order, at=ctx.now, reason=str(exc)[:255], code=exc.code)
    order = order_apply_report(order=order, report=report, at=ctx.now)
    ctx.venue.after_place(order=order, report=report, mark=mark)
    order.refresh_from_db()
    return order


def _resolve_recorded(ctx: _Context, order: Order) -> Order:
    """Bring an order recorded by an earlier attempt up to the venue."""
    try:
        report = ctx.run(ctx.venue.exchange.get_order(order.symbol, order.client_order_id))
    except OrderNotFoundError:
        raise OrderInFlight(
            f"order {order.client_order_id} was recorded but is not on the venue (yet)"
        ) from None
    order = order_apply_report(order=order, report=report, at=ctx.now)
    ctx.venue.after_place(order=order, report=report, mark=ctx.venue.mark())
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
