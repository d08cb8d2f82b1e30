"""A synthetic, deterministic order book around the current price.

Depth model (per symbol, rebuilt whenever the price is set):
- best bid = price rounded down to the tick, best ask = best bid + one tick (one-tick spread);
- ``levels`` levels per side; level k sits ``k * gap`` ticks beyond the best price, where
  ``gap = max(1, round(price * 0.00002 / tick))`` (about 0.2 bp, so BTC at 114k has levels
  every 2.3 USDT, ADA at 0.58 every tick);
- level k holds ``notional_k / price`` base units, rounded down to the step (at least one step),
  with ``notional_k = level_notional * (1 + 0.15 k) * u`` and ``u`` uniform in [0.5, 1.5) drawn
  from ``random.Random(f"{seed}:{symbol}:{version}")``, so the same seed and the same sequence of
  prices give the same book.
Taker fills consume level quantities; the consumed liquidity comes back when the price is next set.
Levels are laid out lazily (on first use after a price change), so replaying candles with nobody
looking at the book stays cheap; the layout depends only on (seed, symbol, version, price).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from .symbols import SymbolSpec

LEVEL_NOTIONAL = Decimal(40_000)
DEFAULT_LEVELS = 100
# Book update ids (depth lastUpdateId, stream U/u/pu) start where Binance USDⓈ-M's were in 2025
# (about 8e12) and grow by one per change, so clients never see a placeholder-small id.
FIRST_UPDATE_ID = 8_000_000_000_000


@dataclass
class SyntheticBook:
    spec: SymbolSpec
    seed: int
    levels: int = DEFAULT_LEVELS
    level_notional: Decimal = LEVEL_NOTIONAL
    version: int = 0
    update_id: int = FIRST_UPDATE_ID
    price: Decimal = Decimal(0)
    _bids: list[list[Decimal]] = field(default_factory=list)  # [[price, qty]] best first
    _asks: list[list[Decimal]] = field(default_factory=list)
    _built: bool = True

    def rebuild(self, price: Decimal) -> None:
        """Move the book to ``price`` (levels are laid out on first use)."""
        self.price = price
        self.version += 1
        self.update_id += 1
        self._built = False

    @property
    def bids(self) -> list[list[Decimal]]:
        self._ensure()
        return self._bids

    @property
    def asks(self) -> list[list[Decimal]]:
        self._ensure()
        return self._asks

    def _ensure(self) -> None:
        if self._built:
            return
        self._built = True
        spec, price = self.spec, self.price
        rng = random.Random(f"{self.seed}:{spec.symbol}:{self.version}")
        best_bid = max(spec.round_price_down(price), spec.tick_size)
        best_ask = best_bid + spec.tick_size
        gap = max(1, int((price * Decimal("0.00002") / spec.tick_size).to_integral_value()))
        self._bids, self._asks = [], []
        for k in range(self.levels):
            offset = spec.tick_size * gap * k
            for side, px in ((self._bids, best_bid - offset), (self._asks, best_ask + offset)):
                if px <= 0:
                    continue
                notional = self.level_notional * (1 + Decimal("0.15") * k)
                notional *= Decimal(str(round(0.5 + rng.random(), 4)))
                qty = max(spec.round_qty_down(notional / px), spec.step_size)
                side.append([px, qty])

    def best_bid(self) -> Decimal:
        return self.bids[0][0] if self.bids else Decimal(0)

    def best_ask(self) -> Decimal:
        return self.asks[0][0] if self.asks else Decimal(0)

    def take(self, side: str, qty: Decimal, limit: Decimal | None) -> list[tuple[Decimal, Decimal]]:
        """Consume liquidity for a taker ``side`` order; return [(price, qty)] fills."""
        book = self.asks if side == "BUY" else self.bids
        fills: list[tuple[Decimal, Decimal]] = []
        remaining = qty
        while remaining > 0 and book:
            px, avail = book[0]
            if limit is not None and (px > limit if side == "BUY" else px < limit):
                break
            q = min(avail, remaining)
            fills.append((px, q))
            remaining -= q
            if q == avail:
                book.pop(0)
            else:
                book[0][1] = avail - q
        if fills:
            self.update_id += 1
        return fills

    def available(self, side: str, limit: Decimal | None) -> Decimal:
        """Return the quantity a taker ``side`` order could fill up to ``limit``."""
        book = self.asks if side == "BUY" else self.bids
        total = Decimal(0)
        for px, q in book:
            if limit is not None and (px > limit if side == "BUY" else px < limit):
                break
            total += q
        return total

    def snapshot(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        spec = self.spec
        bids = [[spec.fmt_price(p), spec.fmt_qty(q)] for p, q in self.bids[:limit]]
        asks = [[spec.fmt_price(p), spec.fmt_qty(q)] for p, q in self.asks[:limit]]
        return bids, asks
