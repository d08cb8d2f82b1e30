"""What the kill switch takes from the engine: the open trade.

Cancelling a bot's open orders on the venue (``cancel_orders``: the cycle's exits,
reconciliation, the kill switch), stop moves (break-even, managed and strategy trailing,
replace place-first), exit orders that must die with their trade, a missing stop re-placed
(``protect_open_position``: the live cycle and reconciliation) and flattening are written once,
in ``apps.trading.domain.runner.CycleRunner``.
"""

from __future__ import annotations

from apps.trading.engine.context import _Context
from apps.trading.models import Trade
from apps.trading.selectors import trade_get_open

__all__ = ["_open_trade"]


def _open_trade(ctx: _Context, symbol: str) -> Trade | None:
    return trade_get_open(bot=ctx.bot, symbol=symbol)
