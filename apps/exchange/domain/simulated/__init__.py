"""The simulated exchange: paper trading and backtests behind the Exchange protocol."""

from ..fees import FeeSchedule
from .book import DepthModel, candle_path, walk_book
from .exchange import SimulatedExchange

__all__ = ["DepthModel", "FeeSchedule", "SimulatedExchange", "candle_path", "walk_book"]
