"""The aiohttp application: request pipeline (rate limits, faults, auth), routes, websockets."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from . import admin, errors, routes_market, routes_trade
from .auth import check_api_key, parse_params, verify
from .exchange import Exchange
from .faults import SERVER_ERROR_BODIES, Faults
from .ratelimit import RateLimitConfig, RateLimiter, request_weight
from .routes import NONE, SIGNED, Route
from .streams import StreamHub

LISTEN_KEY_TTL_MS = 60 * 60 * 1000


class FakeBinance:
    """A fake Binance USDT-M futures venue served over HTTP and websockets on 127.0.0.1.

    Start with ``await fb.start()`` (port 0 picks a free port) or ``async with FakeBinance(...)``;
    ``fb.url`` is then the REST base and ``fb.ws_url`` the stream base (with trailing slash).
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-api-key",
        api_secret: str = "fake-api-secret",  # noqa: S107 - a test double's default
        data_dir: Path | str | None = None,
        seed: int = 0,
        wallet: Decimal | str = "10000",
        rate_limits: RateLimitConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_api: bool = True,
        request_log_size: int | None = None,
    ) -> None:
        self.api_keys = {api_key: api_secret}
        self.api_key, self.api_secret = api_key, api_secret
        self.host, self.port = host, port
        self.exchange = Exchange(data_dir=data_dir, seed=seed, wallet=wallet)
        self.limiter = RateLimiter(rate_limits or RateLimitConfig(), self.exchange.now)
        self.listen_key: str | None = None
        self._listen_key_expiry = 0
        self.hub = StreamHub(self.exchange, self._listen_key_ok)
        self.faults = Faults(self.exchange, self.hub)
        # every request as (method, path, params), for tests to inspect; bounded if asked
        self.requests: deque[tuple[str, str, dict[str, str]]] = deque(maxlen=request_log_size)
        self._runner: web.AppRunner | None = None
        self.app = self._build_app(admin_api)

    # -- lifecycle --------------------------------------------------------------------------------
    def _build_app(self, admin_api: bool) -> web.Application:
        app = web.Application()
        for route in routes_market.ROUTES + routes_trade.ROUTES:
            app.router.add_route(route.method, route.path, self._wrap(route))
        for prefix in ("", "/{category:public|market|private}"):
            app.router.add_get(prefix + "/ws", self.hub.handle)
            app.router.add_get(prefix + "/ws/{tail:.*}", self.hub.handle)
            app.router.add_get(prefix + "/stream", self.hub.handle)
        if admin_api:
            admin.register(app, self)
        return app

    async def start(self) -> str:
        """Serve on ``host:port``; return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = addresses[0][1]
        return self.url

    async def stop(self) -> None:
        await self.hub.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBinance:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    # -- conveniences for tests -------------------------------------------------------------------
    def set_price(
        self, symbol: str, price: Decimal | str, mark: Decimal | str | None = None
    ) -> None:
        self.exchange.set_price(symbol, price, mark)

    def price(self, symbol: str) -> Decimal:
        return self.exchange.market(symbol).last

    # -- listen key -----------------------------------------------------------------------------
    def _listen_key_ok(self, key: str) -> bool:
        return key == self.listen_key and self._listen_key_expiry > self.exchange.now()

    def listen_key_get_or_create(self) -> str:
        if self.listen_key is None or not self._listen_key_ok(self.listen_key):
            self.listen_key = secrets.token_urlsafe(48)[:64]
        self._listen_key_expiry = self.exchange.now() + LISTEN_KEY_TTL_MS
        return self.listen_key

    def listen_key_keepalive(self, key: str | None) -> None:
        if not key or not self._listen_key_ok(key):
            raise errors.err(errors.LISTEN_KEY)
        self._listen_key_expiry = self.exchange.now() + LISTEN_KEY_TTL_MS

    def listen_key_close(self, key: str | None) -> None:
        if not key or not self._listen_key_ok(key):
            raise errors.err(errors.LISTEN_KEY)
        self.listen_key = None
        self.hub.close_user_streams(key)

    # -- request pipeline -------------------------------------------------------------------------
    def _wrap(self, route: Route) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._dispatch(request, route)

        return handler

    async def _dispatch(self, request: web.Request, route: Route) -> web.StreamResponse:
        ip = request.remote or "127.0.0.1"
        body = await request.text() if request.can_read_body else ""
        query = request.rel_url.raw_query_string
        p = parse_params(query, body)
        method, path = route.method, route.path
        self.requests.append((method, path, p))
        headers: dict[str, str] = {}
        api_key = request.headers.get("X-MBX-APIKEY", "")
        try:
            self.limiter.check_ban(ip)
            try:
                self.limiter.add_weight(ip, request_weight(method, path, p))
            finally:
                headers["X-MBX-USED-WEIGHT-1M"] = str(self.limiter.used_weight(ip))
            fault = self.faults.take("status", method, path)
            if fault is not None:
                text = fault.body or SERVER_ERROR_BODIES.get(fault.status, SERVER_ERROR_BODIES[500])
                ctype = "application/json" if text.startswith("{") else "text/html"
                return web.Response(
                    status=fault.status, text=text, content_type=ctype, headers=headers
                )
            if route.security != NONE:
                secret = check_api_key(api_key, self.api_keys)
                if route.security == SIGNED:
                    if self.faults.take("timestamp", method, path) is not None:
                        raise errors.BinanceError(
                            -1021, "Timestamp for this request is outside of the recvWindow."
                        )
                    verify(
                        secret=secret,
                        query=query,
                        body=body,
                        params=p,
                        server_time=self.exchange.now(),
                    )
            delay = self.faults.take("delay", method, path)
            if delay is not None:  # a slow backend: accepted now, processed later
                await asyncio.sleep(delay.seconds)
            if route.counts_order:
                try:
                    self.limiter.add_order(api_key)
                finally:
                    c10, c60 = self.limiter.order_counts(api_key)
                    headers["X-MBX-ORDER-COUNT-10S"] = str(c10)
                    headers["X-MBX-ORDER-COUNT-1M"] = str(c60)
            result = route.handler(self, p)
            unknown = self.faults.take("unknown", method, path)
            if unknown is not None:
                return web.Response(
                    status=503,
                    text=unknown.body or "",
                    content_type="application/json",
                    headers=headers,
                )
            return web.Response(
                text=json.dumps(result, default=str),
                content_type="application/json",
                headers=headers,
            )
        except errors.BinanceError as exc:
            if exc.retry_after is not None:
                headers["Retry-After"] = str(exc.retry_after)
            return web.Response(
                status=exc.status,
                text=json.dumps(exc.body()),
                content_type="application/json",
                headers=headers,
            )
