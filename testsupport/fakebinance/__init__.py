"""A local fake of Binance USDT-M futures (REST + websockets on 127.0.0.1) for tests and demos.

Start it in the test's event loop and point the unmodified python-binance client at it::

    async with running_fake_binance(seed=1, rate_limits=RateLimitConfig(orders_per_10s=5)) as fb:
        client = await fb_client(fb)   # AsyncClient subclass with API_URL/FUTURES_URL -> fb.url
        bm = socket_manager(fb, client)  # FSTREAM_URL -> fb.ws_url
        fb.set_price("BTCUSDT", "100000")            # move the market: fills, triggers, streams
        fb.exchange.replay("BTCUSDT", "1m", start=t, count=60)   # or replay shipped candles
        fb.exchange.advance_time(8 * 3_600_000)      # market clock: settles funding
        fb.faults.fail_next("/fapi/v1/order", status=502)        # see faults.Faults
        await client.close_connection()

Module map: server (aiohttp app and request pipeline), routes_market / routes_trade (endpoints),
auth (API key, HMAC, recvWindow), ratelimit, faults, streams (websockets), exchange (state and
clocks), engine (LIMIT/MARKET matching), algo (conditional orders), book (synthetic depth),
accounts (wallet, positions, fees, funding), symbols (filters), data (shipped klines/funding),
tape (trade counts, trade ids and taker volumes derived from the OHLCV files), admin (/_fake/
HTTP control), testing / pytest_plugin (helpers). Responses carry the fields Binance documents,
with realistic values (tests/exchange/test_fake_fidelity.py checks them with an independent
client). No Django here: the management
command ``fakebinance`` is a thin wrapper around ``FakeBinance``.
"""

from .errors import BinanceError
from .exchange import Exchange
from .ratelimit import RateLimitConfig
from .server import FakeBinance
from .testing import (
    client_class,
    fast_close,
    fb_client,
    next_event,
    running_fake_binance,
    socket_manager,
    wait_until,
)

__all__ = [
    "BinanceError",
    "Exchange",
    "FakeBinance",
    "RateLimitConfig",
    "client_class",
    "fast_close",
    "fb_client",
    "next_event",
    "running_fake_binance",
    "socket_manager",
    "wait_until",
]
