"""Websocket streams: market streams and the user data stream.

URL forms (each also under /public, /market and /private): ``/ws/<stream>`` (raw payloads),
``/stream?streams=a/b`` (wrapped as {"stream", "data"}), ``/ws?listenKey=K`` and ``/ws/<K>``
(user data). SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS requests are answered.

Market streams are pushed when the fake's price changes (not on a timer): ``<s>@bookTicker``,
``<s>@depth<5|10|20>[@100ms|@250ms|@500ms]``, ``<s>@markPrice[@1s]``, ``<s>@kline_1m`` and
``<s>_perpetual@continuousKline_1m`` (live 1m candle; replayed candles of any interval are sent
closed with ``x`` true).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from .accounts import fmt
from .symbols import SymbolSpec
from .tape import QUOTE_PLACES

if TYPE_CHECKING:
    from .exchange import Exchange

CLOSE = "\x00close"  # queue marker: close the socket once everything before it is sent
DEPTH_RE = re.compile(r"^depth(5|10|20)(@\d+ms)?$")


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    request: web.Request
    streams: list[str]
    wrapped: bool
    listen_key: str | None = None
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class StreamHub:
    def __init__(self, exchange: Exchange, listen_key_valid: Callable[[str], bool]) -> None:
        self.ex = exchange
        self.listen_key_valid = listen_key_valid
        self.connections: list[Connection] = []
        exchange.user_sinks.append(self.publish_user)
        exchange.market_sinks.append(self.publish_market)

    # -- aiohttp handler ---------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        listen_key = request.query.get("listenKey")
        wrapped = request.path.rstrip("/").endswith("/stream")
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        if tail:
            streams = [s for s in tail.split("/") if s]
        if listen_key is None:
            keys = [s for s in streams if self.listen_key_valid(s)]
            if keys:
                listen_key = keys[0]
                streams = [s for s in streams if s != listen_key]
        if listen_key is not None and not self.listen_key_valid(listen_key):
            return web.json_response({"code": -1125, "msg": "Invalid listenKey."}, status=400)
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        conn = Connection(ws, request, streams, wrapped, listen_key)
        self.connections.append(conn)
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._control(conn, msg.data)
        finally:
            with contextlib.suppress(ValueError):
                self.connections.remove(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer
        return ws

    async def _writer(self, conn: Connection) -> None:
        while True:
            msg = await conn.queue.get()
            if msg is None or conn.ws.closed:
                return
            try:
                if msg is CLOSE:
                    await conn.ws.close()
                    return
                await conn.ws.send_str(msg)
            except (ConnectionError, RuntimeError):
                return

    def _control(self, conn: Connection, text: str) -> None:
        try:
            req = json.loads(text)
            method, ident = req.get("method"), req.get("id")
        except (ValueError, AttributeError):
            return
        result: Any = None
        if method == "SUBSCRIBE":
            conn.streams.extend(s for s in req.get("params", []) if s not in conn.streams)
        elif method == "UNSUBSCRIBE":
            conn.streams = [s for s in conn.streams if s not in req.get("params", [])]
        elif method == "LIST_SUBSCRIPTIONS":
            result = list(conn.streams)
        conn.queue.put_nowait(json.dumps({"result": result, "id": ident}))

    async def drop_all(self, *, abrupt: bool = False) -> int:
        conns = list(self.connections)
        for conn in conns:
            if abrupt and conn.request.transport is not None:
                conn.request.transport.close()
            else:
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by fake")
        return len(conns)

    def close_user_streams(self, listen_key: str) -> None:
        """Send ``listenKeyExpired`` to the key's user streams, then close them (in order)."""
        for conn in [c for c in self.connections if c.listen_key == listen_key]:
            event = {"e": "listenKeyExpired", "E": self.ex.now(), "listenKey": listen_key}
            wrapped = {"stream": listen_key, "data": event} if conn.wrapped else event
            conn.queue.put_nowait(json.dumps(wrapped))
            conn.queue.put_nowait(CLOSE)

    # -- publishing --------------------------------------------------------------------------------
    def publish_user(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        for conn in self.connections:
            if conn.listen_key and self.listen_key_valid(conn.listen_key):
                if conn.wrapped:
                    conn.queue.put_nowait(json.dumps({"stream": conn.listen_key, "data": event}))
                else:
                    conn.queue.put_nowait(text)

    def publish_market(self, symbol: str, closed_kline: dict[str, Any] | None) -> None:
        low = symbol.lower()
        for conn in self.connections:
            for stream in conn.streams:
                name, _, kind = stream.partition("@")
                if name not in (low, f"{low}_perpetual"):
                    continue
                payload = self.payload(symbol, name, kind, closed_kline)
                if payload is None:
                    continue
                text = json.dumps({"stream": stream, "data": payload} if conn.wrapped else payload)
                conn.queue.put_nowait(text)

    def payload(
        self, symbol: str, name: str, kind: str, closed: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        market = self.ex.market(symbol)
        now = self.ex.now()
        book = market.book
        if kind == "bookTicker" and closed is None:
            bids, asks = book.snapshot(1)
            return {
                "e": "bookTicker",
                "u": book.update_id,
                "s": symbol,
                "b": bids[0][0],
                "B": bids[0][1],
                "a": asks[0][0],
                "A": asks[0][1],
                "T": now,
                "E": now,
            }
        depth = DEPTH_RE.match(kind)
        if depth and closed is None:
            bids, asks = book.snapshot(int(depth.group(1)))
            return {
                "e": "depthUpdate",
                "E": now,
                "T": now,
                "s": symbol,
                "U": book.update_id,
                "u": book.update_id,
                "pu": book.update_id - 1,
                "b": bids,
                "a": asks,
            }
        if kind in ("markPrice", "markPrice@1s") and closed is None:
            p = self.ex.premium_index(symbol)
            return {
                "e": "markPriceUpdate",
                "E": now,
                "s": symbol,
                "p": p["markPrice"],
                "i": p["indexPrice"],
                "P": p["estimatedSettlePrice"],
                "r": p["lastFundingRate"],
                "T": p["nextFundingTime"],
            }
        kline = closed if closed is not None else market.kline
        if not kline:
            return None
        spec = market.spec
        k = {
            "t": kline["t"],
            "T": kline["T"],
            "s": symbol,
            "i": kline["i"],
            "f": kline["f"],
            "L": kline["L"],
            "o": kline["o"],
            "c": kline["c"],
            "h": kline["h"],
            "l": kline["l"],
            "v": _qty(spec, kline["v"]),
            "n": kline["n"],
            "x": kline["x"],
            "q": _quote(kline["q"]),
            "V": _qty(spec, kline["V"]),
            "Q": _quote(kline["Q"]),
            "B": "0",  # "Ignore" in Binance's docs; Binance sends "0"
        }
        if kind == f"kline_{kline['i']}" and name == symbol.lower():
            return {"e": "kline", "E": now, "s": symbol, "k": k}
        if kind == f"continuousKline_{kline['i']}" and name.endswith("_perpetual"):
            k.pop("s")
            return {"e": "continuous_kline", "E": now, "ps": symbol, "ct": "PERPETUAL", "k": k}
        return None


def _qty(spec: SymbolSpec, value: Decimal | str) -> str:
    """A base-asset volume: shipped strings as they are, live sums at the symbol's precision."""
    return value if isinstance(value, str) else spec.fmt_qty(value)


def _quote(value: Decimal | str) -> str:
    return value if isinstance(value, str) else fmt(value, QUOTE_PLACES)
