"""The market-data streamer: exchange websocket streams into the database and the cache.

One streamer per exchange account (``manage.py stream_market``): closed candles are stored as
``Kline`` rows (where the scheduler finds them due) and appended to the live candle cache; book
tickers go to the cache (``apps.market.cache``), where dashboards and risk checks read them.
Reconnection, resubscription and the REST gap fill of missed candles are the adapter's streams'
job (``apps.exchange.binance.streams``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asgiref.sync import sync_to_async

from apps.exchange.binance.adapter import BinanceFuturesExchange
from apps.exchange.binance.events import CandleClosed
from apps.exchange.binance.streams import BinanceStreams, StreamConfig
from apps.exchange.domain.types import BookTicker
from apps.market.cache import book_ticker_set, candle_store_append
from apps.market.services import klines_store

logger = logging.getLogger(__name__)


@dataclass
class StreamStats:
    candles: int = 0
    book_tickers: int = 0
    reconnects: int = 0
    last: dict[str, str] = field(default_factory=dict)


def _store_candle(event: CandleClosed) -> None:
    klines_store(
        symbol=event.symbol,
        interval=event.interval,
        candles=[event.candle],
        now=datetime.now(tz=UTC),
    )
    candle_store_append(symbol=event.symbol, interval=event.interval, candle=event.candle)


async def stream_market(
    *,
    exchange: BinanceFuturesExchange,
    symbols: list[str],
    interval: str,
    stop: asyncio.Event,
    config: StreamConfig | None = None,
    on_event: Callable[[object], Awaitable[None]] | None = None,
) -> StreamStats:
    """Stream closed candles and book tickers of ``symbols`` until ``stop`` is set."""
    streams = BinanceStreams(exchange, config)
    stats = StreamStats()
    store_candle = sync_to_async(_store_candle, thread_sensitive=True)

    async def candles(symbol: str) -> None:
        async for event in streams.candles(symbol, interval):
            if isinstance(event, CandleClosed):
                await store_candle(event)
                stats.candles += 1
                stats.last[f"{symbol}-{interval}"] = event.candle.open_time.isoformat()
            else:
                stats.reconnects += 1
            if on_event is not None:
                await on_event(event)

    async def books(symbol: str) -> None:
        async for event in streams.book_tickers(symbol):
            if isinstance(event, BookTicker):
                book_ticker_set(ticker=event)
                stats.book_tickers += 1
            if on_event is not None:
                await on_event(event)

    tasks = [asyncio.create_task(candles(s)) for s in symbols]
    tasks += [asyncio.create_task(books(s)) for s in symbols]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    return stats
