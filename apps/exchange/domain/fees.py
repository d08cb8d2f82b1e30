"""The fee schedule: what a fill costs, as a fraction of its notional, from one place.

Binance USDT-M charges the maker rate on a fill of a resting order (a limit order that was in the
book, e.g. a take-profit limit) and the taker rate on one that takes liquidity (market orders,
stops, a limit order that crosses). ``DEFAULT_FEES`` is the platform's default, the one the docs
quote (a 0.04 % taker fee, README and ``docs/benchmarks.md``): VIP 0 as it stood for years,
0.02 % maker, 0.04 % taker. Every backtest mode (the vectorised kernels, the exchange-mode
simulation, the optimiser, walk-forward and the AI environment), paper trading and the fake
Binance server start from it; a user overrides it per run (``--fee`` / ``--maker-fee``, the API's
``fee`` / ``maker_fee``) or per simulated exchange (``SimulatedExchange(fees=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DEFAULT_FEES", "DEFAULT_MAKER_FEE", "DEFAULT_TAKER_FEE", "FeeSchedule"]


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of notional: ``maker`` for resting orders, ``taker`` otherwise."""

    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0004")

    @property
    def maker_rate(self) -> float:
        """The maker rate as a float, for the vectorised kernels."""
        return float(self.maker)

    @property
    def taker_rate(self) -> float:
        """The taker rate as a float, for the vectorised kernels."""
        return float(self.taker)


DEFAULT_FEES = FeeSchedule()
#: Float views of ``DEFAULT_FEES`` for the float kernels' defaults.
DEFAULT_MAKER_FEE: float = DEFAULT_FEES.maker_rate
DEFAULT_TAKER_FEE: float = DEFAULT_FEES.taker_rate
