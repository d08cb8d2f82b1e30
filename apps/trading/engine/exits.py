"""What the kill switch takes from the runner: cancel one order, the open trade.

Stop moves (break-even, managed trailing, replace place-first), exit orders that must die with
their trade, a missing stop re-placed and flattening are written once, in
``apps.trading.domain.runner.CycleRunner``.
"""

from __future__ import annotations

from apps.orders.models import Order
from apps.trading.domain.runner import Canceled
from apps.trading.engine.context import _Context
from apps.trading.models import Trade
from apps.trading.selectors import trade_get_open

__all__ = ["Canceled", "_cancel", "_open_trade"]


def _open_trade(ctx: _Context, symbol: str) -> Trade | None:
    return trade_get_open(bot=ctx.bot, symbol=symbol)


def _cancel(ctx: _Context, order: Order) -> Canceled:
    """Cancel one order on the venue and record its final state (``CycleRunner.cancel``)."""
    return ctx.runner.cancel(order)
