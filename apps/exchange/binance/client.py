"""Build a python-binance `AsyncClient` pointed at the configured venue."""

from __future__ import annotations

from typing import Any

from binance import AsyncClient, BinanceSocketManager

from .config import BinanceConfig

_REST_ATTRS = ("API_URL", "API_TESTNET_URL", "API_DEMO_URL")
_FUTURES_ATTRS = ("FUTURES_URL", "FUTURES_TESTNET_URL", "FUTURES_DEMO_URL")
_DATA_ATTRS = ("FUTURES_DATA_URL", "FUTURES_DATA_TESTNET_URL")
_STREAM_ATTRS = ("FSTREAM_URL", "FSTREAM_TESTNET_URL", "FSTREAM_DEMO_URL")


def client_class(config: BinanceConfig) -> type[AsyncClient]:
    """Return an `AsyncClient` subclass whose URL attributes follow `config`.

    URLs are class attributes (formatted with the tld in `__init__`), so overriding them on a
    subclass makes `AsyncClient.create()` (spot ping and time) reach the same host too.
    """
    attrs: dict[str, Any] = {"REQUEST_TIMEOUT": config.request_timeout_s}
    if config.base_url:
        base = config.base_url.rstrip("/")
        attrs.update({name: f"{base}/api" for name in _REST_ATTRS})
        attrs.update({name: f"{base}/fapi" for name in _FUTURES_ATTRS})
        attrs.update({name: f"{base}/futures/data" for name in _DATA_ATTRS})
    return type("ConfiguredAsyncClient", (AsyncClient,), attrs)


def new_client(config: BinanceConfig) -> AsyncClient:
    """Construct the client (no I/O; call inside the running event loop)."""
    cls = client_class(config)
    return cls(
        config.api_key or None,
        config.api_secret or None,
        testnet=config.environment == "testnet",
        demo=config.environment == "demo",
    )


def socket_manager(client: AsyncClient, config: BinanceConfig) -> BinanceSocketManager:
    """A socket manager whose futures stream URLs follow `config.stream_url` when set."""
    # The user socket's own keepalive timer is pushed out of the way: streams.py keeps the
    # listen key alive itself, through the limiter and the error tree.
    manager = BinanceSocketManager(client, user_timeout=10**9)
    if config.stream_url:
        url = config.stream_url if config.stream_url.endswith("/") else config.stream_url + "/"
        for name in _STREAM_ATTRS:
            setattr(manager, name, url)
    return manager
