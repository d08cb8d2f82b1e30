"""Exchange-mode backtest: the paper-trading loop (same strategy, risk gate, execution plan and
simulated exchange) over candles in memory; see ``loop`` and docs/architecture.md."""

from apps.backtest.domain.sim.loop import SimConfig, SimResult, run_exchange_backtest
from apps.backtest.domain.sim.market import candles_from_klines, candles_from_rows
from apps.backtest.domain.sim.records import SimOrder, SimPosition, SimTrade

__all__ = [
    "SimConfig",
    "SimOrder",
    "SimPosition",
    "SimResult",
    "SimTrade",
    "candles_from_klines",
    "candles_from_rows",
    "run_exchange_backtest",
]
