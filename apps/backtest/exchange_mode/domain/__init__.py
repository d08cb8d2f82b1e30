"""Exchange-mode backtest: a bot's cycles through the trading runner (same strategy, risk gate,
execution plan and simulated exchange) over candles, on the in-memory store; candles (``loop``)
or a file of past webhook signals (``signals``); see docs/architecture.md."""

from apps.backtest.exchange_mode.domain.loop import SimConfig, SimResult, run_exchange_backtest
from apps.backtest.exchange_mode.domain.market import candles_from_klines, candles_from_rows
from apps.backtest.exchange_mode.domain.records import SimOrder, SimPosition, SimTrade
from apps.backtest.exchange_mode.domain.signals import run_signal_backtest, signals_parse

__all__ = [
    "SimConfig",
    "SimOrder",
    "SimPosition",
    "SimResult",
    "SimTrade",
    "candles_from_klines",
    "candles_from_rows",
    "run_exchange_backtest",
    "run_signal_backtest",
    "signals_parse",
]
