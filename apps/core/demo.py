"""The demo set-up loaded on first start: a paper account, instruments, strategies and bots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction

from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from apps.exchange.reference_data import MAX_LEVERAGE, exchange_info_symbols
from apps.exchange.services import instruments_sync
from apps.risk.models import RiskSettings
from apps.strategies.domain.params import validate_parameters
from apps.strategies.models import Strategy

DEMO_ACCOUNT = "paper-demo"


@dataclass(frozen=True, slots=True)
class DemoBot:
    name: str
    strategy: str
    kind: str
    mode: str
    timeframe: str
    symbols: tuple[str, ...]
    leverage: int
    description: str


DEMO_BOTS: tuple[DemoBot, ...] = (
    DemoBot(
        "demo-scalp",
        "scalp-bollinger-5m",
        "bollinger_scalp",
        "SCALP",
        "5m",
        ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
        3,
        "Bollinger/RSI mean reversion on 5-minute candles.",
    ),
    DemoBot(
        "demo-swing",
        "swing-trend-1h",
        "trend_swing",
        "SWING",
        "1h",
        ("BTCUSDT", "ETHUSDT", "XRPUSDT", "ADAUSDT"),
        2,
        "EMA trend filter with breakout entries on 1-hour candles.",
    ),
    DemoBot(
        "demo-ai",
        "ai-hybrid-1h",
        "ai",
        "SWING",
        "1h",
        ("BTCUSDT",),
        2,
        "HybridAI (PPO agent + LSTM predictor, the shipped demo models) trading BTCUSDT 1h.",
    ),
    DemoBot(
        "demo-signal",
        "tradingview-signals",
        "signal",
        "SWING",
        "1h",
        ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"),
        2,
        "Acts on TradingView-style webhook signals.",
    ),
)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    instruments: int
    strategies_created: int
    bots_created: int
    candles: int = 0
    data_note: str = ""


# Candles the demo needs around the replayed month: the warm-up of each strategy before it.
DEMO_DATA_WARMUP = {"5m": timedelta(days=5), "1h": timedelta(days=45)}
DEMO_DATA_LENGTH = timedelta(days=31)


def demo_market_data_load(*, start: datetime, data_dir: Path | None = None) -> tuple[int, str]:
    """Import the shipped candles the demo bots (and CryptoVIX) need around ``start``."""
    from apps.trading.replay import ReplayError, ensure_klines

    needed: set[tuple[str, str]] = {("BTCUSDT", "1h")}
    for spec in DEMO_BOTS:
        needed.update((symbol, spec.timeframe) for symbol in spec.symbols)
    rows = 0
    try:
        for symbol, interval in sorted(needed):
            rows += ensure_klines(
                symbol=symbol,
                interval=interval,
                start=start - DEMO_DATA_WARMUP[interval],
                end=start + DEMO_DATA_LENGTH,
                data_dir=data_dir,
            )
    except ReplayError as exc:
        return rows, f"demo market data incomplete: {exc}"
    return rows, ""


def demo_load(*, running: bool = False, replay_start: datetime | None = None) -> DemoSummary:
    """Create the demo records; existing ones are left as the user changed them (idempotent).

    ``running``: the demo bots start running (the embedded default, which replays the shipped
    data); otherwise they are created paused. ``replay_start``: also import the candles.
    """
    with transaction.atomic():
        instruments = instruments_sync(symbols=exchange_info_symbols(), max_leverage=MAX_LEVERAGE)
        account, _ = ExchangeAccount.objects.get_or_create(
            name=DEMO_ACCOUNT,
            defaults={
                "environment": ExchangeAccount.Environment.PAPER,
                "notes": "Paper account of the demo bots: simulated fills, no keys.",
            },
        )
        strategies_created = bots_created = 0
        ai_note = ""
        for spec in DEMO_BOTS:
            strategy, created = Strategy.objects.get_or_create(
                name=spec.strategy,
                defaults={
                    "kind": spec.kind,
                    "mode": spec.mode,
                    "timeframe": spec.timeframe,
                    "parameters": validate_parameters(spec.kind, {}),
                    "description": spec.description,
                },
            )
            strategies_created += created
            bot, created = Bot.objects.get_or_create(
                name=spec.name,
                defaults={
                    "account": account,
                    "strategy": strategy,
                    "symbols": list(spec.symbols),
                    "leverage": spec.leverage,
                    "trading_mode": Bot.TradingMode.PAPER,
                    "state": Bot.State.RUNNING if running else Bot.State.PAUSED,
                    "state_reason": (
                        "demo bot, paper trading the replayed market"
                        if running
                        else "demo bot: resume it in the admin to start trading"
                    ),
                },
            )
            if created:
                bot.full_clean()
            bots_created += created
            RiskSettings.objects.get_or_create(bot=bot)
            if spec.kind == "ai":
                from apps.ai.demo import demo_ai_attach

                ai_note = demo_ai_attach(bot)
    candles, note = (0, "")
    if replay_start is not None:
        candles, note = demo_market_data_load(start=replay_start)
    note = "; ".join(n for n in (note, ai_note and f"demo-ai paused: {ai_note}") if n)
    return DemoSummary(len(instruments), strategies_created, bots_created, candles, note)
