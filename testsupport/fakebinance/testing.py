"""Helpers for tests: run the fake in the test's event loop and point python-binance at it.

async with running_fake_binance(seed=1) as fb:
    client = await fb_client(fb)                 # AsyncClient.create() against the fake
    bm = socket_manager(fb, client)              # BinanceSocketManager with FSTREAM_URL redirected
    ...
    await client.close_connection()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from .ratelimit import RateLimitConfig
from .server import FakeBinance


def client_class(base_url: str, base: type | None = None) -> type:
    """Return an ``AsyncClient`` subclass whose REST URLs (live, testnet and demo) point at
    ``base_url`` (e.g. ``http://127.0.0.1:8123``); ``AsyncClient.create()`` then works."""
    if base is None:
        from binance import AsyncClient

        base = AsyncClient
    attrs = {
        "API_URL": f"{base_url}/api",
        "API_TESTNET_URL": f"{base_url}/api",
        "API_DEMO_URL": f"{base_url}/api",
        "FUTURES_URL": f"{base_url}/fapi",
        "FUTURES_TESTNET_URL": f"{base_url}/fapi",
        "FUTURES_DEMO_URL": f"{base_url}/fapi",
        "FUTURES_DATA_URL": f"{base_url}/futures/data",
        "FUTURES_DATA_TESTNET_URL": f"{base_url}/futures/data",
    }
    return type("FakeBinanceAsyncClient", (base,), attrs)


async def fb_client(
    fb: FakeBinance, *, api_key: str | None = None, api_secret: str | None = None, **kwargs: Any
) -> Any:
    """Return ``await <redirected AsyncClient>.create(key, secret)``; close it when done."""
    cls = client_class(fb.url)
    return await cls.create(api_key or fb.api_key, api_secret or fb.api_secret, **kwargs)


def socket_manager(fb: FakeBinance, client: Any, **kwargs: Any) -> Any:
    """Return a ``BinanceSocketManager`` whose futures stream URLs point at ``fb``."""
    from binance import BinanceSocketManager

    bm = BinanceSocketManager(client, **kwargs)
    bm.FSTREAM_URL = bm.FSTREAM_TESTNET_URL = bm.FSTREAM_DEMO_URL = fb.ws_url
    return bm


@asynccontextmanager
async def running_fake_binance(**kwargs: Any) -> AsyncIterator[FakeBinance]:
    """Start a ``FakeBinance(**kwargs)`` on a free 127.0.0.1 port; stop it on exit."""
    fb = FakeBinance(**kwargs)
    await fb.start()
    try:
        yield fb
    finally:
        await fb.stop()


async def wait_until(predicate: Callable[[], Any], *, within: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms until it is truthy; raise AssertionError after ``within``
    seconds (a safety net against hangs, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def next_event(stream: Any, event: str, *, within: float = 5.0) -> dict[str, Any]:
    """Read from a python-binance socket until a payload with ``e == event`` arrives (combined
    streams are unwrapped); raise TimeoutError after ``within`` seconds."""

    async def read() -> dict[str, Any]:
        while True:
            msg = await stream.recv()
            data = msg.get("data", msg) if isinstance(msg, dict) else msg
            if isinstance(data, dict) and data.get("e") == event:
                return data

    return await asyncio.wait_for(read(), within)


def fast_close(socket: Any) -> Any:
    """Shorten a python-binance socket's 10 s read timeout so leaving ``async with`` is quick
    (its read loop only notices the exit between messages or timeouts)."""
    socket.TIMEOUT = 0.1
    return socket


class FakeInThread:
    """Run a FakeBinance in a background thread with its own event loop, for sync callers
    (Django tests, benchmarks) whose code opens its own event loops."""

    def __init__(self, limits: RateLimitConfig | None = None, **kwargs: Any) -> None:
        self.limits = limits
        self.kwargs = kwargs
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.fb: FakeBinance | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        options = {"seed": 1, **self.kwargs}
        if self.limits is not None:
            options["rate_limits"] = self.limits
        self.fb = FakeBinance(**options)
        self.loop.run_until_complete(self.fb.start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> FakeBinance:
        self.thread.start()
        self.ready.wait(30)
        assert self.fb is not None
        return self.fb

    def __exit__(self, *exc: object) -> None:
        assert self.fb is not None
        asyncio.run_coroutine_threadsafe(self.fb.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
