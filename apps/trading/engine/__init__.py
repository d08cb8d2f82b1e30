"""AutoTradingService: one bot, one symbol, one closed candle, from data to database rows.

A cycle: load the bot -> bring its venue up to date (paper: feed the simulated exchange the
candles it has not seen; live: query open orders and fills on Binance) -> break-even and trailing
stop moves -> circuit breaker -> strategy + AI hook + risk gate + execution plan (the pure
``apps.trading.domain.cycle.decide_cycle``) -> send the orders -> orders, fills, trades and
positions written through the order services (one transaction per change, dashboard events after
commit) -> the cycle row. Cycles are unique per (bot, symbol, candle) and run under a per-bot
lock, so a retried or duplicated task never acts twice.

The steps of a cycle are written once in ``apps.trading.domain.runner.CycleRunner`` (shared with
the exchange-mode backtests); here are the database adapter and the task side. Modules:
``context`` (lock, cycle context, the runner over the database store), ``store`` (``DbStore``,
``DbMarket``), ``exits`` (what the kill switch takes from the runner), ``cycle`` (one cycle:
cycle row, lease, retries, errors), ``signals`` (webhook signals), ``schedule`` (which candles
are due), ``killswitch``.
"""

from apps.trading.engine.context import CRITICAL_PREFIX, CycleBusy, bot_lock
from apps.trading.engine.cycle import CycleResult, bot_cycle_run, restart_delay
from apps.trading.engine.killswitch import EmergencyReport, bot_emergency_close, killswitch_engage
from apps.trading.engine.schedule import bot_catch_up, bot_due_candles

__all__ = [
    "CRITICAL_PREFIX",
    "CycleBusy",
    "CycleResult",
    "EmergencyReport",
    "bot_catch_up",
    "bot_cycle_run",
    "bot_due_candles",
    "bot_emergency_close",
    "bot_lock",
    "killswitch_engage",
    "restart_delay",
]
