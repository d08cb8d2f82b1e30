"""Fixtures of the experiment tests: a paper base bot on ema_cross 9/21, real BTCUSDT hours,
a live (testnet) bot to promote to, and the replayed market clock set by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from apps.experiments.models import Experiment, Variant
from apps.experiments.services import experiment_variants_build
from apps.market.services import klines_import
from apps.risk.models import RiskSettings
from apps.strategies.models import Strategy
from tests.factories import make_ema_paper_bot

START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def btc_hours(shared_data) -> None:
    klines_import(
        path=shared_data / "futures" / "BTCUSDT-1h.csv.gz",
        since_ms=_ms(START) - 600 * HOUR_MS,
        until_ms=_ms(START + timedelta(days=6)),
    )


@pytest.fixture
def base_bot(db) -> Bot:
    return make_ema_paper_bot("base-ema", account="paper-base", symbols=("BTCUSDT",))


@pytest.fixture
def live_bot(base_bot) -> Bot:
    account = ExchangeAccount.objects.create(
        name="live-testnet", environment=ExchangeAccount.Environment.TESTNET
    )
    strategy = Strategy.objects.create(
        name="live-ema", kind="ema_cross", timeframe="1h", parameters={"fast": 9, "slow": 21}
    )
    bot = Bot.objects.create(
        name="live-btc",
        account=account,
        strategy=strategy,
        symbols=["BTCUSDT"],
        leverage=2,
        trading_mode=Bot.TradingMode.LIVE,
    )
    RiskSettings.objects.create(bot=bot)
    return bot


@pytest.fixture
def set_market_time(settings) -> Callable[[datetime], None]:
    """Put the replayed market clock at a moment (the platform's own clock, at speed 1)."""

    def set_to(moment: datetime) -> None:
        settings.MARKET_REPLAY_SPEED = 1.0
        settings.MARKET_REPLAY_START = moment.isoformat()

    return set_to


@pytest.fixture
def built_experiment(base_bot) -> Experiment:
    """A draft with control A (the base bot's settings) and B (faster EMAs, more risk)."""
    experiment = Experiment.objects.create(
        name="ema-speed", base_bot=base_bot, capital=Decimal("5000"), resamples=500
    )
    Variant.objects.create(experiment=experiment, label="A")
    Variant.objects.create(
        experiment=experiment,
        label="B",
        parameters={"fast": 5, "slow": 13},
        risk={"risk_per_trade": "0.02"},
        leverage=5,
    )
    experiment_variants_build(experiment=experiment)
    return experiment
