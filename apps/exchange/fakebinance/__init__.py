"""A local fake of Binance USDT-M futures (REST + websockets) for tests and demos.

No Django here: the management command ``fakebinance`` is a thin wrapper around ``FakeBinance``.
"""

from .errors import BinanceError
from .exchange import Exchange
from .ratelimit import RateLimitConfig
from .server import FakeBinance
from .testing import client_class, fb_client, running_fake_binance, socket_manager

__all__ = [
    "BinanceError",
    "Exchange",
    "FakeBinance",
    "RateLimitConfig",
    "client_class",
    "fb_client",
    "running_fake_binance",
    "socket_manager",
]
