"""Exchange-mode backtests of a bot from the shipped candle files: its candles, or a file of
past webhook signals, through the trading runner on the in-memory store (nothing is written).

``exchange_mode_inputs`` reads what ``run_exchange_backtest`` takes for a bot over a period (its
settings as ``BotProfile``, the candles with the strategy's warm-up, the 1h candles for
CryptoVIX and the correlation matrix, the funding rates); ``signal_backtest`` runs a signal file
through it; ``summary_lines`` is the report both commands print.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from apps.backtest.exchange_mode.domain import SimConfig, SimResult, candles_from_rows
from apps.backtest.exchange_mode.domain.signals import (
    PastSignal,
    SignalFileError,
    SignalRun,
    run_signal_backtest,
    signals_parse,
)
from apps.bots.models import Bot
from apps.exchange.domain.types import Candle, datetime_to_ms, ms_to_datetime
from apps.exchange.models import Instrument
from apps.market.data import MarketDataError, load_funding
from apps.market.domain.candles import interval_to_ms
from apps.risk.models import RiskSettings
from apps.strategies.domain.registry import build_strategy
from apps.trading.engine.context import bot_profile
from apps.trading.paper import instrument_info

__all__ = [
    "ExchangeModeError",
    "ExchangeModeInputs",
    "exchange_mode_inputs",
    "signal_backtest",
    "summary_lines",
]

VIX_SYMBOL = "BTCUSDT"


class ExchangeModeError(ValueError):
    """The backtest cannot run (bad period, missing data or instruments, bad signal file)."""


@dataclass(frozen=True, slots=True)
class ExchangeModeInputs:
    config: SimConfig
    candles: dict[str, list[Candle]]
    hourly: dict[str, list[Candle]]
    funding: dict[str, list[tuple[datetime, Decimal]]]


def _candles(path: Path, interval: str, start: datetime, end: datetime) -> list[Candle]:
    if not path.exists():
        raise ExchangeModeError(f"no candle file {path}")
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as handle:
        return candles_from_rows(
            csv.DictReader(handle), interval, datetime_to_ms(start), datetime_to_ms(end)
        )


def exchange_mode_inputs(
    *, bot: Bot, start: datetime, end: datetime, folder: Path
) -> ExchangeModeInputs:
    """What the exchange-mode backtest of ``bot`` over ``[start, end)`` reads from ``folder``
    (the shipped ``futures`` files). Raise ``ExchangeModeError``."""
    if end <= start:
        raise ExchangeModeError("the end must come after the start")
    risk = RiskSettings.objects.filter(bot=bot).first() or RiskSettings(bot=bot)
    profile = bot_profile(bot, risk)
    interval = bot.strategy.timeframe
    strategy = build_strategy(profile.strategy_kind, dict(profile.strategy_params))
    window = max(strategy.warmup_candles, strategy.min_candles)
    warm = timedelta(milliseconds=interval_to_ms(interval) * window)
    hour_warm = timedelta(hours=max(2 * profile.correlation_lookback, 240))
    instruments = {
        i.symbol: instrument_info(i) for i in Instrument.objects.filter(symbol__in=bot.symbols)
    }
    missing = sorted(set(bot.symbols) - set(instruments))
    if missing:
        raise ExchangeModeError(f"unknown instruments {', '.join(missing)}")
    candles = {
        s: _candles(folder / f"{s}-{interval}.csv.gz", interval, start - warm, end)
        for s in bot.symbols
    }
    hourly: dict[str, list[Candle]] = {}
    for symbol in sorted({*bot.symbols, VIX_SYMBOL}):
        path = folder / f"{symbol}-1h.csv.gz"
        if path.exists():  # without it: no CryptoVIX / correlation, as in paper trading
            hourly[symbol] = _candles(path, "1h", start - hour_warm, end)
    funding: dict[str, list[tuple[datetime, Decimal]]] = {}
    for symbol in bot.symbols:
        path = folder / f"{symbol}-funding.csv.gz"
        if not path.exists():
            continue
        try:
            rates = load_funding(path)
        except MarketDataError as exc:
            raise ExchangeModeError(str(exc)) from exc
        funding[symbol] = [
            (ms_to_datetime(t), Decimal(repr(r)))  # as funding_import stores them
            for t, r in zip(rates.funding_time.tolist(), rates.funding_rate.tolist(), strict=True)
            if datetime_to_ms(start - warm) <= t < datetime_to_ms(end)
        ]
    config = SimConfig(
        profile=profile,
        symbols=tuple(bot.symbols),
        timeframe=interval,
        instruments=instruments,
        balance=bot.account.paper_starting_balance,
        seed=bot.pk,
        start=start,
        end=end,
    )
    return ExchangeModeInputs(config, candles, hourly, funding)


def signals_read(path: Path) -> list[PastSignal]:
    """The signals of a JSON-lines or CSV file. Raise ``ExchangeModeError``."""
    if not path.exists():
        raise ExchangeModeError(f"no signal file {path}")
    try:
        return signals_parse(path.read_text(encoding="utf-8"))
    except (SignalFileError, UnicodeDecodeError) as exc:
        raise ExchangeModeError(f"{path.name}: {exc}") from exc


def signal_backtest(
    *, bot: Bot, path: Path, start: datetime, end: datetime, folder: Path
) -> tuple[SignalRun, int]:
    """Backtest the signals of ``path`` sent in ``[start, end)`` on ``bot`` (a ``signal``
    strategy) over the candles of ``folder``; return the run and how many signals of the file
    fell outside the period. Raise ``ExchangeModeError``."""
    if bot.strategy.kind != "signal":
        raise ExchangeModeError(
            f"bot {bot.name} trades the {bot.strategy.kind} strategy, not webhook signals"
        )
    signals = signals_read(path)
    inputs = exchange_mode_inputs(bot=bot, start=start, end=end, folder=folder)
    inside = [s for s in signals if start <= s.time < end]
    try:
        run = run_signal_backtest(
            inputs.config, inputs.candles, inside, inputs.funding, hourly=inputs.hourly
        )
    except ValueError as exc:
        raise ExchangeModeError(str(exc)) from exc
    return run, len(signals) - len(inside)


def summary_lines(
    *, what: str, name: str, start: datetime, end: datetime, result: SimResult, seconds: float
) -> list[str]:
    """The report of an exchange-mode run: cycles, trades, win rate, PnL, fees, metrics."""
    closed = result.closed_trades
    net = sum((t.net_pnl for t in closed), Decimal(0))
    fees = sum((t.fees for t in result.trades), Decimal(0))
    wins = sum(1 for t in closed if t.net_pnl > 0)
    rate = f"{wins / len(closed):.1%}" if closed else "n/a"
    lines = [
        f"{what} of {name} from {start:%Y-%m-%d} to {end:%Y-%m-%d}: "
        f"{result.cycles} cycles {result.outcomes} in {seconds:.1f} s; trades "
        f"{len(result.trades)} ({len(closed)} closed, win rate {rate}); net PnL {net:.2f} "
        f"USDT, fees {fees:.2f}" + (f"; stopped: {result.stopped}" if result.stopped else "")
    ]
    if result.metrics is not None:
        m = result.metrics
        lines.append(
            f"final equity {m.final_equity:.2f}, return {m.total_return:.2%}, "
            f"max drawdown {m.max_drawdown:.2%}, sharpe {m.sharpe:.2f}"
        )
    return lines


def trade_lines(result: SimResult) -> list[str]:
    return [
        f"{t.symbol} {t.side:5} {t.entry_time:%Y-%m-%d %H:%M} -> "
        f"{f'{t.exit_time:%Y-%m-%d %H:%M}' if t.exit_time else 'open':16} "
        f"qty {t.quantity.normalize()} entry {t.entry_price.normalize()} "
        f"exit {t.exit_price.normalize() if t.exit_price else '-'} "
        f"{t.exit_reason or '-':11} net {t.net_pnl:.2f}"
        for t in result.trades
    ]
