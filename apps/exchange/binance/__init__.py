"""The Binance USDT-M futures adapter: the only package that imports python-binance.

    exchange = await BinanceFuturesExchange.create(BinanceConfig(api_key=..., api_secret=...))
    ...
    await exchange.close()

`BinanceConfig(environment="testnet")` targets the futures testnet, `environment="demo"` the demo
venue, and `base_url="http://127.0.0.1:PORT"` (plus `stream_url="ws://127.0.0.1:PORT/"`) any
local server such as the fake Binance used in tests.
"""

from .adapter import BinanceFuturesExchange
from .config import BinanceConfig, RateLimits
from .limiter import InProcessLimiter, Limiter, RedisLimiter, make_limiter

__all__ = [
    "BinanceConfig",
    "BinanceFuturesExchange",
    "InProcessLimiter",
    "Limiter",
    "RateLimits",
    "RedisLimiter",
    "make_limiter",
]
