"""One fee schedule: every backtest mode, paper trading and the fake start from ``DEFAULT_FEES``.

A fast and an exchange-mode backtest of one strategy used to disagree by default (0.04 % on
every fill in the kernels, 0.02 % maker / 0.05 % taker in the simulated exchange).
"""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from apps.ai.domain.env import EnvConfig
from apps.ai.walkforward import WalkForwardConfig
from apps.backtest.apis import BacktestStartSerializer
from apps.backtest.exchange_mode.domain import SimConfig, candles_from_rows, run_exchange_backtest
from apps.backtest.management.commands.backtest import Command as BacktestCommand
from apps.backtest.management.commands.optimize import Command as OptimizeCommand
from apps.backtest.models import BacktestRun, OptimizationRun
from apps.backtest.optimisation.optimizer import ParameterOptimizer
from apps.backtest.research.domain.ema_cross import EmaCrossParams
from apps.backtest.research.domain.engine import backtest_strategy
from apps.backtest.research.domain.kernel import EXIT_REASONS
from apps.backtest.research.domain.signal_kernel import ExecutionParams
from apps.exchange.domain.fees import (
    DEFAULT_FEES,
    DEFAULT_MAKER_FEE,
    DEFAULT_TAKER_FEE,
    FeeSchedule,
)
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import datetime_to_ms
from apps.exchange.models import Instrument
from apps.market.data import load_klines
from apps.risk.models import RiskSettings
from apps.strategies.domain.registry import build_strategy
from apps.trading.engine.context import bot_profile
from apps.trading.paper import instrument_info, paper_session_load
from tests.factories import make_bot, make_ema_paper_bot
from testsupport.fakebinance.accounts import Account

MAKER, TAKER = DEFAULT_FEES.maker, DEFAULT_FEES.taker
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)


def test_default_fee_schedule_is_the_documented_binance_usdtm_one() -> None:
    assert FeeSchedule(maker=Decimal("0.0002"), taker=Decimal("0.0004")) == DEFAULT_FEES
    assert (DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE) == (0.0002, 0.0004)


def test_fast_and_exchange_mode_backtests_with_default_arguments_use_one_fee_schedule() -> None:
    fast = ExecutionParams()
    ema = EmaCrossParams().bracket()
    exchange = SimulatedExchange([], clock=lambda: START)  # exchange mode and paper build it so

    assert (fast.effective_maker_fee, fast.fee) == (DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE)
    assert (ema.effective_maker_fee, ema.fee) == (DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE)
    assert exchange.fees == DEFAULT_FEES


def test_entry_points_with_default_arguments_use_the_platform_fee_schedule() -> None:
    backtest = BacktestCommand().create_parser("manage.py", "backtest").parse_args([])
    optimize = OptimizeCommand().create_parser("manage.py", "optimize").parse_args([])
    api = BacktestStartSerializer(data={"data": ["futures/BTCUSDT-1h.csv.gz"]})
    assert api.is_valid(), api.errors

    assert (backtest.maker_fee, backtest.fee) == (DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE)
    assert optimize.fee == DEFAULT_TAKER_FEE
    assert (api.validated_data["maker_fee"], api.validated_data["fee"]) == (MAKER, TAKER)
    assert ParameterOptimizer().fee == DEFAULT_TAKER_FEE
    assert EnvConfig().fee == WalkForwardConfig().fee == DEFAULT_TAKER_FEE
    assert Decimal(str(BacktestRun().fee)) == OptimizationRun().fee == TAKER
    account = Account()  # the fake Binance server's
    assert (account.maker_fee, account.taker_fee) == (MAKER, TAKER)


@pytest.mark.django_db
def test_paper_exchange_with_default_arguments_uses_the_platform_fee_schedule() -> None:
    session = paper_session_load(bot=make_bot(), now=START)

    assert session.exchange.fees == DEFAULT_FEES


def _within_schedule(quantity, entry_price, exit_price, fees, tolerance) -> bool:
    """Entry at the taker fee; the exits between all-maker (take-profits) and all-taker."""
    entry, exit_ = quantity * entry_price, quantity * exit_price
    low = TAKER * entry + MAKER * exit_
    high = TAKER * (entry + exit_)
    return low - tolerance <= fees <= high + tolerance


@pytest.mark.django_db
def test_fast_and_exchange_mode_backtests_of_one_bot_charge_the_same_rates(shared_data) -> None:
    bot = make_ema_paper_bot("fees-bot", account="paper-fees", symbols=("ETHUSDT",))
    profile = bot_profile(bot, RiskSettings.objects.get(bot=bot))
    path = shared_data / "futures" / "ETHUSDT-1h.csv.gz"
    warm_ms, end_ms = datetime_to_ms(START - timedelta(days=10)), datetime_to_ms(END)
    with gzip.open(path, "rt") as handle:
        candles = candles_from_rows(csv.DictReader(handle), "1h", warm_ms, end_ms)
    config = SimConfig(
        profile=profile,
        symbols=("ETHUSDT",),
        timeframe="1h",
        instruments={"ETHUSDT": instrument_info(Instrument.objects.get(symbol="ETHUSDT"))},
        start=START,
        end=END,
    )

    exchange_mode = run_exchange_backtest(config, {"ETHUSDT": candles}).closed_trades
    klines = load_klines(path)
    kept = np.flatnonzero((klines.open_time >= warm_ms) & (klines.open_time < end_ms))
    fast = backtest_strategy(
        klines.slice(int(kept[0]), int(kept[-1]) + 1),
        build_strategy(profile.strategy_kind, dict(profile.strategy_params)),
        ExecutionParams(),
    ).trades

    assert len(exchange_mode) >= 5 and len(fast) >= 5
    for t in exchange_mode:  # fills rounded to 1e-8 each
        assert _within_schedule(t.quantity, t.entry_price, t.exit_price, t.fees, Decimal("1e-6"))
    tp = EXIT_REASONS.index("take_profit")
    for q, entry, exit_, fees, reason in zip(
        fast.quantity, fast.entry_price, fast.exit_price, fast.fees, fast.reason, strict=True
    ):
        rate = DEFAULT_MAKER_FEE if reason == tp else DEFAULT_TAKER_FEE
        assert fees == pytest.approx(DEFAULT_TAKER_FEE * q * entry + rate * q * exit_)
