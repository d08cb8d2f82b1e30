"""Websocket streams as domain events, with reconnection and REST gap fill.

    streams = BinanceStreams(exchange)
    async with contextlib.aclosing(streams.candles("BTCUSDT", "1m")) as candles:
        async for event in candles: ...          # CandleClosed (closed candles only)

`user_events()` yields OrderUpdated / OrderFilled (ORDER_TRADE_UPDATE), OrderUpdated for
conditional orders (ALGO_UPDATE) and AccountUpdated; `book_tickers()` BookTicker; `depth()`
OrderBook snapshots. Each stream yields a StreamReconnected after it was down and came back.

Reconnection is ours, not python-binance's: its ReconnectingWebsocket retries 5 times and then
goes quiet, queueing `{"e": "error"}` dicts. Each socket here is built with `MAX_RECONNECTS = 0`,
so any drop ends it at once; the error dicts are filtered, the socket is rebuilt (a fresh
socket manager, the same subscriptions) with jittered exponential backoff without limit, and
once the new connection is up the gap is filled over REST: klines from the last closed candle
seen, order states for open orders and for orders that were open before the drop, a fresh book
snapshot. Duplicates between the REST fill and the new socket are dropped.

The listen key is created through the adapter (limiter and error tree), kept alive every
`keepalive_interval_s` (Binance expires it after 60 min), and replaced when the keepalive fails
or a `listenKeyExpired` event arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apps.exchange.domain.errors import ExchangeError
from apps.exchange.domain.events import OrderFilled, OrderUpdated
from apps.exchange.domain.types import OrderReport, datetime_to_ms, ms_to_datetime

from . import events as ev
from .client import socket_manager

if TYPE_CHECKING:
    from .adapter import BinanceFuturesExchange

log = logging.getLogger(__name__)
_RECONNECTED = object()


@dataclass(frozen=True, slots=True)
class StreamConfig:
    reconnect_base_s: float = 0.5
    reconnect_max_s: float = 30.0
    read_timeout_s: float = 1.0  # python-binance's recv/read-loop poll; bounds close() time
    keepalive_interval_s: float = 30 * 60.0
    kline_page: int = 1000


class _Resilient:
    """One logical subscription over a sequence of python-binance sockets."""

    def __init__(self, name: str, open_socket: Callable[[], Any], config: StreamConfig) -> None:
        self.name = name
        self.open_socket = open_socket
        self.config = config
        self.current: Any = None
        self.connects = 0

    def _backoff(self, attempt: int) -> float:
        cap = min(self.config.reconnect_max_s, self.config.reconnect_base_s * 2 ** (attempt - 1))
        return cap / 2 + random.random() * cap / 2

    async def drop(self) -> None:
        """Close the current socket; `messages()` then reconnects."""
        socket = self.current
        if socket is not None:
            socket.ws_state = _exiting_state()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.__aexit__(None, None, None), 5)

    async def messages(self) -> AsyncIterator[Any]:
        """Yield payload dicts, and `_RECONNECTED` after each reconnection."""
        failures = 0
        while True:
            socket = self.open_socket()
            socket.MAX_RECONNECTS = 0  # a drop ends this socket; we rebuild it
            socket.TIMEOUT = self.config.read_timeout_s
            try:
                await socket.__aenter__()
            except Exception as exc:
                failures += 1
                delay = self._backoff(failures)
                log.warning("stream %s: connect failed (%s); retry in %.2fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.current = socket
            self.connects += 1
            failures = 0
            try:
                if self.connects > 1:
                    yield _RECONNECTED
                async for payload in _read(socket, self.config.read_timeout_s):
                    yield payload
            finally:
                self.current = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(socket.__aexit__(None, None, None), 5)
            failures += 1
            delay = self._backoff(failures)
            log.warning("stream %s: connection lost; reconnecting in %.2fs", self.name, delay)
            await asyncio.sleep(delay)


def _exiting_state() -> Any:
    from binance.ws.constants import WSListenerState

    return WSListenerState.EXITING


def _payload(msg: Any) -> dict[str, Any] | None:
    """The payload of a queued message; None for python-binance's error dicts and junk."""
    if not isinstance(msg, dict) or msg.get("e") == "error":
        return None
    return msg.get("data", msg) if "stream" in msg and "data" in msg else msg


async def _read(socket: Any, poll_s: float) -> AsyncIterator[dict[str, Any]]:
    """Payloads of one socket until it fails; python-binance's error dicts end it.

    Reads the socket's queue directly instead of `recv()`: on Python 3.11 `recv()`'s
    `asyncio.wait_for` can swallow a cancellation that races with an arriving message, which
    leaves a cancelled consumer running forever; and `recv()` refuses to drain the queue once
    the read loop has ended.
    """
    queue: asyncio.Queue[Any] = socket._queue
    while True:
        if socket._handle_read_loop is None and queue.empty():
            return  # the read loop ended (connection lost) and everything was delivered
        getter = asyncio.ensure_future(queue.get())
        try:
            await asyncio.wait({getter}, timeout=poll_s)
        finally:
            if not getter.done():
                getter.cancel()
        if not getter.done() or getter.cancelled():
            continue
        msg = getter.result()
        if isinstance(msg, dict) and msg.get("e") == "error":
            return
        payload = _payload(msg)
        if payload is not None:
            yield payload


class BinanceStreams:
    """Domain-event streams of one adapter (market data and the account's user stream)."""

    def __init__(
        self, exchange: BinanceFuturesExchange, config: StreamConfig | None = None
    ) -> None:
        self.exchange = exchange
        self.config = config or StreamConfig()
        self.links: dict[str, _Resilient] = {}

    def _manager(self) -> Any:
        return socket_manager(self.exchange.client, self.exchange.config)

    def _multiplex(self, name: str, streams: list[str], category: str) -> _Resilient:
        link = _Resilient(
            name,
            lambda: self._manager().futures_multiplex_socket(streams, category=category),
            self.config,
        )
        self.links[name] = link
        return link

    async def drop(self, name: str) -> None:
        """Force a reconnect of one stream (for tests and operators)."""
        link = self.links.get(name)
        if link is not None:
            await link.drop()

    # --- market streams ------------------------------------------------------------------------
    async def candles(
        self, symbol: str, interval: str, *, since: datetime | None = None
    ) -> AsyncIterator[ev.CandleClosed]:
        """Closed candles of `symbol`; after a reconnect (or from `since`) the missed ones."""
        name = f"{symbol.lower()}@kline_{interval}"
        link = self._multiplex(name, [name], "market")
        last_open = datetime_to_ms(since) - 1 if since is not None else None
        first = since is not None
        async for item in link.messages():
            if item is _RECONNECTED or first:
                first = False
                missed = await self._missed_candles(symbol, interval, last_open)
                for candle in missed:
                    last_open = datetime_to_ms(candle.open_time)
                    yield ev.CandleClosed(symbol, interval, candle, gap_fill=True)
                if item is _RECONNECTED:
                    yield ev.StreamReconnected(name, len(missed), datetime.now(UTC))
                    continue
            k = item.get("k") if isinstance(item, dict) else None
            if not k or not k.get("x"):
                continue  # only closed candles
            if last_open is not None and int(k["t"]) <= last_open:
                continue  # already delivered by the gap fill
            last_open = int(k["t"])
            yield ev.CandleClosed(symbol, interval, ev.kline_candle(k))

    async def _missed_candles(self, symbol: str, interval: str, last_open: int | None) -> list:
        """Closed candles after `last_open` over REST (the newest row is in progress: dropped)."""
        if last_open is None:
            return []
        out = []
        start = last_open + 1
        page = self.config.kline_page
        while True:
            rows = await self.exchange.klines(
                symbol, interval, start=ms_to_datetime(start), limit=page
            )
            out += rows
            if len(rows) < page:
                break
            start = datetime_to_ms(rows[-1].open_time) + 1
        return out[:-1]

    async def book_tickers(self, symbol: str) -> AsyncIterator[Any]:
        """BookTicker updates; after a reconnect a REST snapshot first."""
        name = f"{symbol.lower()}@bookTicker"
        async for item in self._multiplex(name, [name], "public").messages():
            if item is _RECONNECTED:
                yield ev.StreamReconnected(name, 1, datetime.now(UTC))
                yield await self.exchange.get_book_ticker(symbol)
            elif item.get("e") == "bookTicker":
                yield ev.book_ticker_event(item)

    async def depth(self, symbol: str, levels: int = 20) -> AsyncIterator[Any]:
        """Partial-depth snapshots (5, 10 or 20 levels); after a reconnect a REST snapshot."""
        name = f"{symbol.lower()}@depth{levels}@100ms"
        async for item in self._multiplex(name, [name], "public").messages():
            if item is _RECONNECTED:
                yield ev.StreamReconnected(name, 1, datetime.now(UTC))
                yield await self.exchange.get_orderbook(symbol, levels)
            elif item.get("e") == "depthUpdate":
                yield ev.depth_event(item, symbol)

    # --- user data stream ----------------------------------------------------------------------
    async def user_events(self, symbols: list[str] | None = None) -> AsyncIterator[Any]:
        """Order and account events of the account; after a reconnect, order gap fill."""
        name = "user"
        tracker = _OrderTracker()
        link = _Resilient(name, self._user_socket, self.config)
        self.links[name] = link
        key = await self.exchange.listen_key()
        keepalive = asyncio.create_task(self._keep_alive(link, lambda: key))
        try:
            async for item in link.messages():
                if item is _RECONNECTED:
                    key = await self.exchange.listen_key()
                    recovered = await self._missed_orders(tracker, symbols)
                    for event in recovered:
                        yield event
                    yield ev.StreamReconnected(name, len(recovered), datetime.now(UTC))
                    continue
                kind = item.get("e")
                if kind == "ORDER_TRADE_UPDATE":
                    event = ev.order_event(item)
                elif kind == "ALGO_UPDATE":
                    event = ev.algo_event(item)
                elif kind == "ACCOUNT_UPDATE":
                    yield ev.account_event(item)
                    continue
                elif kind == "listenKeyExpired":
                    await link.drop()  # reconnect with a new key
                    continue
                else:
                    continue
                if tracker.update(event.order):
                    yield event
        finally:
            keepalive.cancel()
            with contextlib.suppress(BaseException):
                await keepalive

    def _user_socket(self) -> Any:
        return self._manager().futures_user_socket()

    async def _keep_alive(self, link: _Resilient, key: Callable[[], str]) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive_interval_s)
            try:
                await self.exchange.keepalive_listen_key(key())
            except ExchangeError as exc:
                log.warning("listen key keepalive failed (%s): reconnecting with a new key", exc)
                await link.drop()

    async def _missed_orders(
        self, tracker: _OrderTracker, symbols: list[str] | None
    ) -> list[OrderUpdated]:
        """Order states that changed while the user stream was down."""
        now = datetime.now(UTC)
        found: list[OrderReport] = []
        for symbol in symbols or [None]:
            found += await self.exchange.open_orders(symbol)
        open_ids = {o.client_order_id for o in found}
        for cid, last in list(tracker.open.items()):
            if cid not in open_ids and (symbols is None or last.symbol in symbols):
                with contextlib.suppress(ExchangeError):
                    found.append(await self.exchange.get_order(last.symbol, cid))
        return [OrderUpdated(order=o, time=now) for o in found if tracker.update(o)]


class _OrderTracker:
    """The last state seen per client order id; drops repeats (REST fill vs. socket)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.last: dict[str, tuple[str, str]] = {}
        self.open: dict[str, OrderReport] = {}
        self.limit = limit

    def update(self, order: OrderReport) -> bool:
        key = (order.status.value, f"{order.filled_qty.normalize():f}")
        if self.last.get(order.client_order_id) == key:
            return False
        self.last[order.client_order_id] = key
        if order.is_open:
            self.open[order.client_order_id] = order
        else:
            self.open.pop(order.client_order_id, None)
        if len(self.last) > self.limit:
            self.last.pop(next(iter(self.last)))
        return True


__all__ = ["BinanceStreams", "OrderFilled", "OrderUpdated", "StreamConfig"]
