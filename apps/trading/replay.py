"""Replays: a bot's real paper-trading loop over historical candles, as fast as it runs.

``replay_bot`` copies the bot (strategy, symbols, leverage, risk settings) into a rehearsal bot
in paper mode, makes sure the candles are in the database (importing the shipped files when
needed), and runs the same cycles the scheduler runs (``bot_catch_up``: the same services,
database writes and simulated exchange), decided at each candle's close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum

from apps.ai.models import BotAi
from apps.ai.services import ArtifactError, bot_hybrid
from apps.bots.models import Bot
from apps.bots.services import bot_pause
from apps.exchange.domain.types import datetime_to_ms, ms_to_datetime
from apps.market.models import Kline
from apps.market.selectors import interval_ms
from apps.market.services import funding_import, klines_import
from apps.risk.models import RiskSettings
from apps.strategies.domain.registry import build_strategy
from apps.trading.engine import bot_catch_up
from apps.trading.engine.ai import ai_strategy_for
from apps.trading.models import BotCycle, Signal, Trade

Progress = Callable[[int, int], None]
VIX_SYMBOL, VIX_INTERVAL = "BTCUSDT", "1h"


class ReplayError(ValueError):
    """The replay cannot run (unknown bot, no data for the period, bad dates)."""


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    bot: str
    cycles: int
    outcomes: dict[str, int]
    trades: int
    closed: int
    wins: int
    net_pnl: Decimal
    fees: Decimal
    blocked: dict[str, int]

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.closed if self.closed else None


def ensure_klines(
    *, symbol: str, interval: str, start: datetime, end: datetime, data_dir: Path | None = None
) -> int:
    """Import the shipped candles of [start, end) when the database lacks them; return rows."""
    folder = (data_dir or settings.SHARED_DATA_DIR) / "futures"
    funding = folder / f"{symbol}-funding.csv.gz"
    if funding.exists():  # paper positions then pay the funding history too (idempotent)
        funding_import(path=funding, since_ms=datetime_to_ms(start), until_ms=datetime_to_ms(end))
    have = Kline.objects.filter(
        symbol=symbol,
        interval=interval,
        open_time__gte=datetime_to_ms(start),
        open_time__lt=datetime_to_ms(end),
    ).count()
    expected = (datetime_to_ms(end) - datetime_to_ms(start)) // interval_ms(interval)
    if have >= expected:
        return have
    path = folder / f"{symbol}-{interval}.csv.gz"
    if not path.exists():
        raise ReplayError(f"no candles for {symbol} {interval} in the database and no file {path}")
    klines_import(path=path, since_ms=datetime_to_ms(start), until_ms=datetime_to_ms(end))
    return Kline.objects.filter(
        symbol=symbol,
        interval=interval,
        open_time__gte=datetime_to_ms(start),
        open_time__lt=datetime_to_ms(end),
    ).count()


def rehearsal_bot(*, bot: Bot, label: str) -> Bot:
    """A paper copy of ``bot`` (same strategy, symbols, leverage and risk settings), running
    for the replay alone: marked ``rehearsal``, the platform's scheduler never runs it."""
    with transaction.atomic():
        copy = Bot.objects.get(pk=bot.pk)  # every setting as stored ...
        copy.symbols = list(bot.symbols)  # ... but the symbols asked for
        copy.pk = None
        copy.name = f"{bot.name}-{label}"[:64]
        copy.trading_mode = Bot.TradingMode.PAPER
        copy.rehearsal = True
        copy.enabled = True
        copy.state = Bot.State.RUNNING
        copy.state_reason = f"replay of {bot.name}"
        copy.state_cause = Bot.Cause.REPLAY
        copy.save()
        risk = RiskSettings.objects.filter(bot=bot).first()
        if risk is not None:
            risk.pk = None
            risk.bot = copy
            risk.save()
        else:
            RiskSettings.objects.create(bot=copy)
        ai = BotAi.objects.filter(bot=bot).first()
        if ai is not None:  # the same models in the same role
            ai.pk = None
            ai.bot = copy
            ai.retrain_every_days = 0  # a rehearsal is never re-trained
            ai.save()
    return copy


def replay_bot(
    *,
    bot: Bot,
    start: datetime,
    end: datetime,
    label: str,
    data_dir: Path | None = None,
    progress: Progress | None = None,
) -> ReplaySummary:
    if end <= start:
        raise ReplayError(f"the end ({end:%Y-%m-%d}) must come after the start ({start:%Y-%m-%d})")
    interval = bot.strategy.timeframe
    step = interval_ms(interval)
    try:
        ai = bot_hybrid(bot)
    except ArtifactError as exc:
        raise ReplayError(f"bot {bot.name}: {exc}") from exc
    kind = bot.strategy.kind
    strategy = build_strategy(kind, bot.strategy.parameters, ai=ai_strategy_for(kind, ai))
    lookback = ai.hybrid.lookback if ai is not None else 0
    warm = timedelta(
        milliseconds=step * max(strategy.warmup_candles, strategy.min_candles, lookback)
    )
    for symbol in bot.symbols:
        ensure_klines(
            symbol=symbol, interval=interval, start=start - warm, end=end, data_dir=data_dir
        )
        in_range = Kline.objects.filter(
            symbol=symbol,
            interval=interval,
            open_time__gte=datetime_to_ms(start),
            open_time__lt=datetime_to_ms(end),
        )
        if not in_range.exists():
            raise ReplayError(
                f"no {symbol} {interval} candles from {start:%Y-%m-%d} to {end:%Y-%m-%d} "
                f"(stored: {_stored_range(symbol, interval)}): nothing to replay"
            )
    ensure_klines(
        symbol=VIX_SYMBOL,
        interval=VIX_INTERVAL,
        start=start - timedelta(days=10),
        end=end,
        data_dir=data_dir,
    )
    copy = rehearsal_bot(bot=bot, label=label)
    total = len(bot.symbols) * ((datetime_to_ms(end) - datetime_to_ms(start)) // step)
    done = 0
    try:
        while True:
            results = bot_catch_up(
                bot_id=copy.pk, now=end, limit=500, start_ms=datetime_to_ms(start)
            )
            done += len(results)
            if progress:
                progress(min(done, total), total)
            if not results or results[-1].outcome in ("skipped", "halted", "error", "flatten"):
                break
    finally:  # the copy is kept for review, never left running
        copy.refresh_from_db()
        if copy.state == Bot.State.RUNNING:
            bot_pause(bot=copy, reason=f"replay of {bot.name} finished", cause=Bot.Cause.REPLAY)
    return replay_summary(bot=copy)


def _stored_range(symbol: str, interval: str) -> str:
    rows = Kline.objects.filter(symbol=symbol, interval=interval)
    first = rows.order_by("open_time").values_list("open_time", flat=True).first()
    last = rows.order_by("-open_time").values_list("open_time", flat=True).first()
    if first is None or last is None:
        return "none"
    return f"{ms_to_datetime(first):%Y-%m-%d} to {ms_to_datetime(last):%Y-%m-%d}"


def replay_summary(*, bot: Bot) -> ReplaySummary:
    cycles = BotCycle.objects.filter(bot=bot)
    outcomes = dict(
        cycles.values_list("outcome").annotate(n=Count("id")).values_list("outcome", "n")
    )
    trades = Trade.objects.filter(bot=bot)
    closed = [t for t in trades.filter(status=Trade.Status.CLOSED)]
    fees = trades.aggregate(f=Sum("fees"))["f"] or Decimal(0)
    blocked = dict(
        Signal.objects.filter(bot=bot, outcome=Signal.Outcome.BLOCKED)
        .values_list("blocked_by")
        .annotate(n=Count("id"))
        .values_list("blocked_by", "n")
    )
    return ReplaySummary(
        bot=bot.name,
        cycles=cycles.count(),
        outcomes=outcomes,
        trades=trades.count(),
        closed=len(closed),
        wins=sum(1 for t in closed if t.net_pnl > 0),
        net_pnl=sum((t.net_pnl for t in closed), Decimal(0)),
        fees=fees,
        blocked=blocked,
    )
