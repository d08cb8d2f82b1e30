"""Factories for test records, in one place."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from apps.exchange.reference_data import MAX_LEVERAGE, exchange_info_symbols
from apps.exchange.services import instruments_sync
from apps.orders.models import Order
from apps.strategies.models import Strategy


def make_instruments() -> None:
    instruments_sync(symbols=exchange_info_symbols(), max_leverage=MAX_LEVERAGE)


def make_bot(name: str = "bot-1", **overrides: Any) -> Bot:
    make_instruments()
    account, _ = ExchangeAccount.objects.get_or_create(name="paper-test")
    strategy, _ = Strategy.objects.get_or_create(
        name="ema", defaults={"kind": "ema_cross", "mode": "SWING", "parameters": {}}
    )
    fields: dict[str, Any] = {
        "account": account,
        "strategy": strategy,
        "symbols": ["BTCUSDT"],
        "leverage": 3,
    }
    fields.update(overrides)
    return Bot.objects.create(name=name, **fields)


def make_order(bot: Bot, client_order_id: str = "t-entry-1", **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "type": Order.Type.LIMIT,
        "side": Order.Side.BUY,
        "time_in_force": Order.TimeInForce.IOC,
        "price": Decimal("60000.0"),
        "quantity": Decimal("0.010"),
    }
    fields.update(overrides)
    return Order.objects.create(bot=bot, client_order_id=client_order_id, **fields)


def make_ema_paper_bot(
    name: str,
    *,
    account: str,
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
    trailing: str = "managed",
    break_even: bool = True,
    bands: Any = None,
    tiers: Any = None,
    daily_loss_limit: Any = None,
) -> Bot:
    """A paper bot on `ema_cross` 9/21 (1h, sl 2 %, tp 4 %) with its risk settings: the bot the
    seed scenarios and the replay/backtest parity run on real candles."""
    from apps.risk.models import RiskSettings

    make_instruments()
    strategy, _ = Strategy.objects.get_or_create(
        name="ema-9-21",
        defaults={
            "kind": "ema_cross",
            "mode": "SWING",
            "timeframe": "1h",
            "parameters": {"fast": 9, "slow": 21, "warmup": 50, "sl": 0.02, "tp": 0.04},
        },
    )
    paper, _ = ExchangeAccount.objects.get_or_create(name=account)
    bot = Bot.objects.create(
        name=name,
        account=paper,
        strategy=strategy,
        symbols=list(symbols),
        leverage=3,
        trailing=trailing,
        break_even_after_first_exit=break_even,
    )
    risk = RiskSettings.objects.create(bot=bot)
    if bands is not None:
        risk.volatility_bands = bands
    if tiers is not None:
        risk.breaker_tiers = tiers
    if daily_loss_limit is not None:
        risk.daily_loss_limit = Decimal(daily_loss_limit)
    risk.full_clean()
    risk.save()
    return bot


def make_fake_live_bot(fake: Any, *, name: str, strategy: Strategy, key: str, secret: str) -> Bot:
    """A running live (testnet) BTCUSDT bot whose account points at a fake Binance server."""
    make_instruments()
    account = ExchangeAccount.objects.create(
        name="fake-testnet",
        environment="testnet",
        base_url=fake.url,
        api_key=key,
        api_secret=secret,
    )
    bot = Bot.objects.create(
        name=name,
        account=account,
        strategy=strategy,
        symbols=["BTCUSDT"],
        leverage=3,
        trading_mode=Bot.TradingMode.LIVE,
        state=Bot.State.RUNNING,
        trailing="none",
    )
    bot.full_clean()
    return bot


def make_ai_paper_bot(
    name: str,
    *,
    role: str,
    account: str = "paper-ai",
    symbols: tuple[str, ...] = ("BTCUSDT",),
    mode: str = "ppo_only",
    min_confidence: str = "0",
    **models: Any,
) -> Bot:
    """A 1h paper bot using the AI: ``role`` driver (strategy kind ``ai``, sl 2 %) or filter
    (the ema 9/21 bot whose entries the AI must confirm); ``models``: agent, predictor,
    ensemble (registered ``ModelArtifact`` rows)."""
    from apps.ai.models import BotAi

    if role == "filter":
        bot = make_ema_paper_bot(
            name, account=account, symbols=symbols, trailing="none", break_even=False
        )
    else:
        from apps.risk.models import RiskSettings

        make_instruments()
        strategy, _ = Strategy.objects.get_or_create(
            name="ai-driver",
            defaults={"kind": "ai", "timeframe": "1h", "parameters": {"sl": 0.02, "tp": 0.0}},
        )
        paper, _ = ExchangeAccount.objects.get_or_create(name=account)
        bot = Bot.objects.create(
            name=name, account=paper, strategy=strategy, symbols=list(symbols), leverage=3
        )
        RiskSettings.objects.create(bot=bot)
    BotAi.objects.create(
        bot=bot, role=role, mode=mode, min_confidence=Decimal(min_confidence), **models
    )
    return bot
