"""Figures shared by the cockpit pages: each bot's equity and PnL, open positions, open orders,
the breaker tier, the CryptoVIX reading and AI utilisation.

Equity of a bot = its account's starting balance + the net PnL of all its trades (realised PnL
less fees and funding, open trades' partial exits included) + the unrealised PnL of its open
positions. PnL today = net PnL of the trades closed since 00:00 UTC of market time (the day the
daily loss limit counts). Paper bots trade their own simulated sub-account, so the sum of bot
equities is the platform's equity; live bots sharing one account each count its balance.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, F, Min, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse

from apps.bots.models import Bot
from apps.dashboard.cockpit.numbers import Ticks, fmt_money, fmt_pct, plain, utc_text
from apps.orders.models import Order
from apps.risk.domain.vix import DEFAULT_BANDS, CryptoVIX, VixReading
from apps.risk.models import BreakerState, RiskSettings
from apps.trading.models import Position
from apps.trading.selectors import pnl_by_bot

logger = logging.getLogger(__name__)

OPEN_STATUSES = ("PENDING_NEW", "NEW", "TRIGGERED", "PARTIALLY_FILLED", "PENDING_CANCEL")
CONDITIONAL_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")  # algo orders
ZERO = Decimal(0)
_MONEY = DecimalField(max_digits=28, decimal_places=12)
_NET = F("realized_pnl") - F("fees") - F("funding")


def cockpit_bots(*, names: Iterable[str] | None = None) -> list[Bot]:
    """The bots the cockpit shows: every bot but the replays' rehearsal copies, by name."""
    bots = Bot.objects.filter(rehearsal=False).select_related("account", "strategy")
    if names is not None:
        bots = bots.filter(name__in=list(names))
    return list(bots.order_by("name"))


def open_positions(*, bots: list[Bot]) -> QuerySet[Position]:
    return (
        Position.objects.filter(bot__in=bots)
        .exclude(quantity=0)
        .select_related("bot")
        .order_by("bot__name", "symbol")
    )


def with_placed_at(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Annotate ``placed_at``: the market time of the order's first status change (a replay
    records rows at wall-clock time but its events at market time)."""
    return orders.annotate(placed_at=Coalesce(Min("events__at"), F("status_changed_at")))


def open_orders(*, bots: list[Bot]) -> QuerySet[Order]:
    orders = Order.objects.filter(bot__in=bots, status__in=OPEN_STATUSES).select_related("bot")
    return with_placed_at(orders).order_by("bot__name", "symbol", "placed_at", "id")


def position_row(position: Position, ticks: Ticks) -> dict[str, Any]:
    symbol = position.symbol
    quantity = abs(position.quantity)
    notional = position.notional
    return {
        "bot": position.bot.name,
        "symbol": symbol,
        "side": position.side,
        "quantity": ticks.qty(symbol, quantity),
        "quantity_raw": plain(position.quantity),
        "entry": ticks.price(symbol, position.entry_price),
        "entry_raw": plain(position.entry_price),
        "mark": ticks.price(symbol, position.mark_price),
        "mark_raw": plain(position.mark_price),
        "unrealized": fmt_money(position.unrealized_pnl, sign=True),
        "unrealized_raw": plain(position.unrealized_pnl),
        "stop": ticks.price(symbol, position.stop_price),
        "liquidation": ticks.price(symbol, position.liquidation_price),
        "leverage": position.leverage,
        "notional": fmt_money(notional),
        "notional_raw": plain(notional),
        "updated": utc_text(position.updated_at),
        **ticks.of(symbol),
    }


def order_row(order: Order, ticks: Ticks) -> dict[str, Any]:
    symbol = order.symbol
    return {
        "id": order.pk,
        "bot": order.bot.name,
        "symbol": symbol,
        "client_order_id": order.client_order_id,
        "algo": bool(order.algo_id) or order.type in CONDITIONAL_TYPES,
        "purpose": order.purpose,
        "purpose_label": order.get_purpose_display(),
        "type": order.type,
        "side": order.side,
        "quantity": ticks.qty(symbol, order.quantity),
        "filled": ticks.qty(symbol, order.filled_quantity),
        "price": ticks.price(symbol, order.price),
        "trigger": ticks.price(symbol, order.trigger_price),
        "average": ticks.price(symbol, order.average_price),
        "status": order.status,
        "reduce_only": order.reduce_only or order.close_position,
        "created": utc_text(getattr(order, "placed_at", None) or order.created_at),
        "changed": utc_text(order.status_changed_at),
        "reject_reason": order.reject_reason,
    }


def breaker_by_bot(*, bots: list[Bot]) -> dict[int, dict[str, str]]:
    """The tier the breaker last reported (its action), or ``clear``."""
    out = {bot.pk: {"tier": "clear", "reason": ""} for bot in bots}
    for bot_id, action, reason in BreakerState.objects.filter(bot__in=bots).values_list(
        "bot_id", "last_action", "last_reason"
    ):
        out[bot_id] = {"tier": action or "clear", "reason": reason}
    return out


def vix_reading(*, now: datetime) -> tuple[VixReading | None, str]:
    """The platform's CryptoVIX (BTCUSDT 1h, cached 5 minutes), or None and why not."""
    from apps.risk.services import vix_current

    try:
        return vix_current(now=now), ""
    except ValueError as exc:  # RiskDataError: too few or stale candles
        return None, " ".join(str(exc).split())


def _band_name(max_score: float) -> str:
    for band in DEFAULT_BANDS:
        if band.max_score == max_score and band.name:
            return band.name
    return f"≤{max_score:g}"


def vix_by_bot(
    *, bots: list[Bot], reading: VixReading | None, why: str
) -> dict[int, dict[str, str]]:
    """The score and, for each bot, the band its own volatility bands put it in."""
    from apps.trading.engine.context import volatility_bands

    if reading is None:
        return {bot.pk: {"text": "—", "detail": why} for bot in bots}
    risks = {r.bot_id: r for r in RiskSettings.objects.filter(bot__in=bots)}
    out = {}
    for bot in bots:
        try:
            bands = volatility_bands(risks[bot.pk]) if bot.pk in risks else DEFAULT_BANDS
            band = CryptoVIX(bands=bands).band_for(reading.score)
        except (ValueError, KeyError, TypeError) as exc:
            out[bot.pk] = {"text": f"{reading.score:.2f}", "detail": f"bands: {exc}"}
            continue
        out[bot.pk] = {
            "text": f"{reading.score:.2f} {_band_name(band.max_score)} "
            f"×{plain(band.size_multiplier)}",
            "detail": f"annualised volatility {fmt_pct(reading.annualised_vol)} over "
            f"{reading.candles} BTCUSDT 1h candles; size x{plain(band.size_multiplier)}",
        }
    return out


def vix_summary(reading: VixReading | None, why: str) -> dict[str, str]:
    if reading is None:
        return {"score": "—", "band": "", "detail": why}
    return {
        "score": f"{reading.score:.2f}",
        "band": reading.band.name or _band_name(reading.band.max_score),
        "detail": f"annualised volatility {fmt_pct(reading.annualised_vol)}, "
        f"size x{plain(reading.size_multiplier)}",
    }


def bot_rows(
    *,
    bots: list[Bot],
    now: datetime,
    positions: list[Position],
    ai: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per bot: state, equity, PnL, breaker tier, CryptoVIX band, AI utilisation."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    pnl = pnl_by_bot(bots=bots, day_start=day_start)
    unrealized: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for position in positions:
        unrealized[position.bot_id] += position.unrealized_pnl
    breaker = breaker_by_bot(bots=bots)
    reading, why = vix_reading(now=now)
    vix = vix_by_bot(bots=bots, reading=reading, why=why)
    ai_of = {row["bot"]: row for row in (ai_rows() if ai is None else ai)}
    rows = []
    for bot in bots:
        base = bot.account.paper_starting_balance + pnl[bot.pk].total
        equity = base + unrealized[bot.pk]
        ai_row = ai_of.get(bot.name)
        rows.append(
            {
                "name": bot.name,
                "id": bot.pk,
                "url": reverse("cockpit-bot", args=[bot.name]),
                "state": bot.state,
                "state_label": bot.get_state_display(),
                "cause": bot.state_cause,
                "cause_label": bot.get_state_cause_display() if bot.state_cause else "",
                "reason": bot.state_reason,
                "enabled": bot.enabled,
                "mode": bot.trading_mode,
                "strategy": bot.strategy.kind,
                "timeframe": bot.strategy.timeframe,
                "symbols": list(bot.symbols or []),
                "equity": fmt_money(equity),
                "equity_raw": plain(equity),
                "base_equity_raw": plain(base),
                "pnl_today": fmt_money(pnl[bot.pk].today, sign=True),
                "pnl_today_raw": plain(pnl[bot.pk].today),
                "pnl_total": fmt_money(pnl[bot.pk].total, sign=True),
                "pnl_total_raw": plain(pnl[bot.pk].total),
                "unrealized": fmt_money(unrealized[bot.pk], sign=True),
                "breaker": breaker[bot.pk]["tier"],
                "breaker_reason": breaker[bot.pk]["reason"],
                "vix": vix[bot.pk]["text"],
                "vix_detail": vix[bot.pk]["detail"],
                "ai": ai_row["utilisation"] if ai_row else "—",
                "ai_detail": f"{ai_row['role']} ({ai_row['mode']}), {ai_row['decisions']} decisions"
                if ai_row
                else "no AI",
                "actions": {
                    "pause": reverse("cockpit-bot-pause", args=[bot.name]),
                    "resume": reverse("cockpit-bot-resume", args=[bot.name]),
                    "kill": reverse("cockpit-bot-kill", args=[bot.name]),
                },
            }
        )
    return rows


def ai_rows() -> list[dict[str, Any]]:
    """The AI table (JSON-safe): role, mode, models, decisions, utilisation, last decision."""
    from apps.dashboard.selectors import ai_overview

    rows = []
    for row in ai_overview():
        last = row["last"]
        rows.append(
            {
                **{k: v for k, v in row.items() if k != "last"},
                "last": (
                    f"{last.action} {last.confidence:.2f} ({last.get_outcome_display()}, "
                    f"{last.latency_ms:.2f} ms, {last.at:%Y-%m-%d %H:%M})"
                )
                if last
                else "—",
            }
        )
    return rows
