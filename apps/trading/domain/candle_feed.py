"""Candles into a simulated exchange: the one rule of paper trading (``apps.trading.paper``,
candles from the ``Kline`` table) and of the exchange-mode backtest
(``apps.backtest.exchange_mode.domain.loop.SimVenue``, candles handed in).

Before a cycle decides the candle opened at ``decided``, the exchange is fed every candle of the
symbol after the last one fed, up to the decided one; on a symbol's first cycle only the decided
candle (the exchange starts from there). Before each candle the clock moves to the candle's close
(never back), so resting orders, stops, take-profits, funding and liquidations happen where and
when the market went. ``fed`` (symbol -> open time in ms of the last candle fed) is kept by the
caller: paper trading stores it with the pickled exchange, the backtest in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from datetime import timedelta

from apps.core.domain.clock import SettableClock
from apps.exchange.domain.events import ExchangeEvent
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import Candle, datetime_to_ms

__all__ = ["candles_feed", "feed_from"]


def feed_from(*, fed: MutableMapping[str, int], symbol: str, decided: int) -> int:
    """The open time (ms) from which to feed ``symbol`` before deciding the candle opened at
    ``decided``: just after the last candle fed, or ``decided`` on the symbol's first cycle."""
    last = fed.get(symbol)
    return decided if last is None else last + 1


def candles_feed(
    *,
    exchange: SimulatedExchange,
    clock: SettableClock,
    fed: MutableMapping[str, int],
    symbol: str,
    candles: Iterable[Candle],
    step: timedelta,
) -> list[ExchangeEvent]:
    """Feed ``candles`` (oldest first, each ``step`` long) to ``exchange``; return the events
    they caused (fills, order updates, funding, liquidations). ``fed[symbol]`` follows each
    candle, so an error part-way leaves it naming the last candle the exchange has seen."""
    start = len(exchange.events)
    for candle in candles:
        clock.set(max(clock(), candle.open_time + step))
        exchange.on_candle(symbol, candle)
        fed[symbol] = datetime_to_ms(candle.open_time)
    return exchange.events[start:]
