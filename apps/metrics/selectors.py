"""Reads behind the state gauges: one snapshot of what the platform holds, per bot and symbol.

Equity, PnL and the breaker tier are the cockpit's own figures (``apps.dashboard.cockpit``), so
Grafana and the cockpit never disagree; the drawdown is the performance review's definition
(fall of cumulative net PnL from its peak, in starting equity) against the bot's alert rule.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Max

from apps.bots.models import Bot
from apps.dashboard.cockpit.figures import breaker_by_bot, cockpit_bots, vix_reading
from apps.exchange.domain.types import datetime_to_ms
from apps.market.models import Kline
from apps.market.selectors import kline_last_closed_open_time
from apps.metrics.domain.drawdown import drawdown_ratio
from apps.monitoring.models import AlertRule
from apps.risk.domain.circuit_breaker import BreakerAction
from apps.risk.models import RiskSettings
from apps.trading.models import Position, Trade
from apps.trading.selectors import pnl_by_bot

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
VIX_SYMBOL, VIX_INTERVAL = "BTCUSDT", "1h"  # the platform's CryptoVIX (the risk gate's)


@dataclass
class BotFigures:
    name: str
    state: str
    cause: str
    enabled: bool
    mode: str
    open_positions: int = 0
    exposure: Decimal = ZERO
    exposure_limit: Decimal | None = None
    equity: Decimal = ZERO
    realized: Decimal = ZERO  # net PnL of every trade so far (closed and partial exits)
    unrealized: Decimal = ZERO
    drawdown: Decimal = ZERO
    drawdown_limit: Decimal | None = None
    breaker_tier: int = 0


@dataclass
class PositionFigures:
    bot: str
    symbol: str
    side: str
    quantity: Decimal
    notional: Decimal
    unrealized: Decimal


@dataclass
class StateSnapshot:
    bots: list[BotFigures] = field(default_factory=list)
    positions: list[PositionFigures] = field(default_factory=list)
    vix_score: float | None = None
    market_lag_s: dict[tuple[str, str], float] = field(default_factory=dict)


def breaker_severity(action: str) -> int:
    """0 (clear) to 4 (FLATTEN): the breaker's last action as a number to alert on."""
    try:
        return BreakerAction(action).severity
    except ValueError:
        return 0


def _drawdown_limits(bots: list[Bot]) -> dict[int, Decimal | None]:
    """Each bot's drawdown limit as a fraction, as ``alert_rule_for`` picks the rule (the
    bot's own, else the default row, else the model's defaults); none if the rule is off."""
    rules = {rule.bot_id: rule for rule in AlertRule.objects.filter(bot__in=bots)}
    default = AlertRule.objects.filter(bot__isnull=True).first() or AlertRule()
    out: dict[int, Decimal | None] = {}
    for bot in bots:
        rule = rules.get(bot.pk, default)
        pct = rule.max_drawdown_pct if rule.enabled else None
        out[bot.pk] = None if pct is None else Decimal(pct) / 100
    return out


def _closed_nets(bots: list[Bot]) -> dict[int, list[Decimal]]:
    rows = (
        Trade.objects.filter(bot__in=bots, status=Trade.Status.CLOSED)
        .order_by("exit_time", "id")
        .annotate(net=F("realized_pnl") - F("fees") - F("funding"))
        .values_list("bot_id", "net")
    )
    out: dict[int, list[Decimal]] = defaultdict(list)
    for bot_id, net in rows:
        out[bot_id].append(Decimal(net))
    return out


def market_lags(*, bots: list[Bot], now: datetime) -> dict[tuple[str, str], float]:
    """Seconds the stored candles of each (symbol, interval) the enabled bots trade lag behind
    the last candle closed at ``now`` (0: up to date; infinity: none stored)."""
    pairs = {
        (symbol, bot.strategy.timeframe)
        for bot in bots
        if bot.enabled
        for symbol in (bot.symbols or [])
    }
    now_ms = datetime_to_ms(now)
    out = {}
    for symbol, interval in sorted(pairs):
        try:
            due = kline_last_closed_open_time(interval=interval, now_ms=now_ms)
        except (KeyError, ValueError):
            continue
        latest = Kline.objects.filter(symbol=symbol, interval=interval).aggregate(
            latest=Max("open_time")
        )["latest"]
        out[(symbol, interval)] = float("inf") if latest is None else max(0, due - latest) / 1000
    return out


def state_snapshot(*, now: datetime) -> StateSnapshot:
    """Every bot's figures, the open positions, the CryptoVIX and the market-data lag at
    ``now`` (market time: the replay clock in the embedded demo)."""
    bots = cockpit_bots()
    snapshot = StateSnapshot()
    if bots:
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        pnl = pnl_by_bot(bots=bots, day_start=day_start)
        breaker = breaker_by_bot(bots=bots)
        limits = _drawdown_limits(bots)
        exposure_limits = dict(
            RiskSettings.objects.filter(bot__in=bots).values_list("bot_id", "max_exposure")
        )
        nets = _closed_nets(bots)
        figures = {
            bot.pk: BotFigures(
                name=bot.name,
                state=bot.state,
                cause=bot.state_cause,
                enabled=bot.enabled,
                mode=bot.trading_mode,
                exposure_limit=exposure_limits.get(bot.pk),
                realized=pnl[bot.pk].total,
                drawdown_limit=limits[bot.pk],
                breaker_tier=breaker_severity(breaker[bot.pk]["tier"]),
            )
            for bot in bots
        }
        positions = Position.objects.filter(bot__in=bots).exclude(quantity=0)
        for position in positions:
            row = figures[position.bot_id]
            price = position.mark_price or position.entry_price
            notional = abs(position.quantity) * price
            row.open_positions += 1
            row.exposure += notional
            row.unrealized += position.unrealized_pnl
            snapshot.positions.append(
                PositionFigures(
                    bot=row.name,
                    symbol=position.symbol,
                    side=position.side or "FLAT",
                    quantity=position.quantity,
                    notional=notional,
                    unrealized=position.unrealized_pnl,
                )
            )
        for bot in bots:
            row = figures[bot.pk]
            start = bot.account.paper_starting_balance
            row.equity = start + row.realized + row.unrealized
            closed = nets.get(bot.pk, [])
            open_pnl = row.realized - sum(closed, ZERO) + row.unrealized
            row.drawdown = drawdown_ratio(start=start, closed_nets=closed, open_pnl=open_pnl)
            snapshot.bots.append(row)
        snapshot.market_lag_s = market_lags(bots=bots, now=now)
    reading, why = vix_reading(now=now)
    if reading is not None:
        snapshot.vix_score = reading.score
    else:
        logger.debug("no CryptoVIX for the metrics: %s", why)
    return snapshot
