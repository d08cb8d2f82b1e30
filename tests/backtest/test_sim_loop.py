"""The exchange-mode backtest's loop: signals read once per symbol give the live windows' run.

``run_exchange_backtest(signals="series")`` (the default) evaluates a built-in strategy once
over each symbol's candles and reads each cycle's decision from that frame; ``"window"`` runs
``Strategy.decide`` on every cycle's live window, as paper trading does. Both must trade alike,
order for order (the parity test holds ``"series"`` to the paper-trading replay itself).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from apps.backtest.exchange_mode.domain import (
    SimConfig,
    SimResult,
    candles_from_rows,
    run_exchange_backtest,
)
from apps.exchange.domain.types import Candle, InstrumentInfo
from apps.exchange.models import Instrument
from apps.exchange.reference_data import MAX_LEVERAGE, exchange_info_symbols
from apps.exchange.services import instrument_values
from apps.execution.domain.partial_exit import TakeProfitLevel
from apps.strategies.domain.base import Strategy
from apps.strategies.domain.registry import STRATEGIES
from apps.trading.domain.profile import BotProfile
from apps.trading.paper import instrument_info

D = Decimal


def _info(symbol: str) -> InstrumentInfo:
    entry = next(e for e in exchange_info_symbols() if e["symbol"] == symbol)
    values = instrument_values(entry, max_leverage=MAX_LEVERAGE[symbol])
    return instrument_info(Instrument(symbol=symbol, **values))


def _candles(
    data: Path, symbol: str, interval: str, start: datetime, end: datetime
) -> list[Candle]:
    with gzip.open(data / "futures" / f"{symbol}-{interval}.csv.gz", "rt") as handle:
        rows = csv.DictReader(handle)
        return candles_from_rows(rows, interval, _ms(start), _ms(end))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _run(
    data: Path,
    *,
    kind: str,
    symbols: tuple[str, ...],
    interval: str,
    start: datetime,
    end: datetime,
    warm: timedelta,
    signals: str,
    **profile: Any,
) -> SimResult:
    candles = {s: _candles(data, s, interval, start - warm, end) for s in symbols}
    hourly = {
        s: _candles(data, s, "1h", start - warm - timedelta(days=10), end)
        for s in {*symbols, "BTCUSDT"}
    }
    config = SimConfig(
        profile=BotProfile(bot_key="b3", strategy_kind=kind, **profile),
        symbols=symbols,
        timeframe=interval,
        instruments={s: _info(s) for s in symbols},
        seed=3,
        start=start,
        end=end,
    )
    return run_exchange_backtest(config, candles, hourly=hourly, signals=signals)  # type: ignore[arg-type]


def _record(result: SimResult) -> tuple[Any, ...]:
    return (
        result.trades,
        result.orders,
        result.equity,
        result.equity_time.tolist(),
        result.outcomes,
        result.stopped,
    )


SCENARIOS = {
    "ema_cross 1h, partial take-profit": dict(
        kind="ema_cross",
        symbols=("BTCUSDT",),
        interval="1h",
        start=datetime(2024, 2, 1, tzinfo=UTC),
        end=datetime(2024, 4, 1, tzinfo=UTC),
        warm=timedelta(days=10),
        strategy_params={"fast": 9, "slow": 21, "warmup": 50},
        exit_levels=(TakeProfitLevel(D("0.02"), D("0.5")),),
    ),
    "bollinger_scalp 5m, two symbols": dict(
        kind="bollinger_scalp",
        symbols=("BTCUSDT", "ETHUSDT"),
        interval="5m",
        start=datetime(2025, 2, 1, tzinfo=UTC),
        end=datetime(2025, 2, 4, tzinfo=UTC),
        warm=timedelta(days=3),
    ),
    "trend_swing 1h, native trailing, short warm-up": dict(
        kind="trend_swing",
        symbols=("ETHUSDT", "SOLUSDT"),
        interval="1h",
        start=datetime(2024, 3, 1, tzinfo=UTC),
        end=datetime(2024, 5, 1, tzinfo=UTC),
        warm=timedelta(days=5),  # under the 1,000-candle window: the first windows are short
        trailing="native",
    ),
}


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The lengths of the candle series the strategy evaluates."""
    seen: list[int] = []
    evaluate = Strategy.evaluate

    def counted(self: Strategy, candles: Any) -> Any:
        seen.append(len(candles.close))
        return evaluate(self, candles)

    monkeypatch.setattr(Strategy, "evaluate", counted)
    yield seen


@pytest.mark.parametrize("name", SCENARIOS)
def test_exchange_backtest_with_series_signals_trades_like_the_live_windows(
    name: str, shared_data: Path, evaluations: list[int]
) -> None:
    scenario = SCENARIOS[name]
    series = _run(shared_data, signals="series", **scenario)
    whole = list(evaluations)
    window = _run(shared_data, signals="window", **scenario)

    assert series.outcomes.get("enter", 0) >= 5
    assert _record(series) == _record(window)
    # "series": one evaluation per symbol, no window; "window": one per cycle
    windows = evaluations[len(whole) :]
    series_runs = [n for n in whole if n > max(windows)]
    assert len(series_runs) == len(scenario["symbols"])
    assert len(windows) == window.cycles
    # a strategy that moves its own stop (``custom_stop``) reads the live window in a
    # position, as live does; any other strategy reads none
    moves_stop = STRATEGIES[scenario["kind"]].custom_stop is not Strategy.custom_stop
    assert (len(whole) > len(series_runs)) is moves_stop


def test_exchange_backtest_with_windows_shorter_than_the_strategy_needs_stops_as_live(
    shared_data: Path,
) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    outcomes = [
        _run(
            shared_data,
            kind="trend_swing",
            symbols=("BTCUSDT",),
            interval="1h",
            start=start,
            end=start + timedelta(days=2),
            warm=timedelta(hours=10),  # trend_swing needs 51 candles
            signals=signals,
        )
        for signals in ("series", "window")
    ]

    assert _record(outcomes[0]) == _record(outcomes[1])
    assert outcomes[0].stopped.startswith("strategy error: trend_swing: needs at least")
