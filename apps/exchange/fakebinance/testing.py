"""Helpers for tests: run the fake in the test's event loop and point python-binance at it.

async with running_fake_binance(seed=1) as fb:
    client = await fb_client(fb)                 # AsyncClient.create() against the fake
    bm = socket_manager(fb, client)              # BinanceSocketManager with FSTREAM_URL redirected
    ...
    await client.close_connection()
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
