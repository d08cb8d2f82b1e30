"""Order-book side of the simulator: the synthetic depth model, book walking, the candle path.

Depth model (used whenever the caller has not pushed a real snapshot with `set_book`)
------------------------------------------------------------------------------------
Given a reference price `ref` (the candle close, or a stop's trigger price) and the candle's
base-asset volume `V`:

- best bid `b1 = floor_to_tick(ref)`, best ask `a1 = ceil_to_tick(ref)`, and `a1 = b1 + tick`
  when both land on the same tick: the spread is one tick and `ref` lies inside it.
- `levels` levels per side spaced `s = max(tick, floor_to_tick(ref * spacing_bps / 10_000))`
  apart: bids `b1 - i*s`, asks `a1 + i*s`, i = 0 .. levels-1.
- every level holds `q = max(V * depth_fraction / levels, min_level_qty)` base units, multiplied
  by a factor drawn uniformly from `[1 - jitter, 1 + jitter]` and rounded down to the step
  (never below one step). `min_level_qty` defaults to 10 x the instrument's min_qty, so a
  zero-volume candle (an exchange outage) still has a thin book.
- the factors come from `random.Random` seeded with (seed, symbol, candle time, side): the book
  of a candle depends only on the seed and that candle, never on what happened before.

So with the defaults (50 levels, 0.5 bp spacing, 2 % of the candle's volume per side) a BTC 1h
candle of 10,000 BTC gives about 4 BTC per level over roughly 25 bp of price either side. An
order larger than the whole side fills what there is and the rest expires, as a market order
on a drained Binance book would. Liquidity taken from a book is removed from it until the next
candle or `set_book` replaces it.

Candle path
-----------
Inside one candle the price is assumed to travel open -> low -> high -> close when the candle
closed up (close >= open) and open -> high -> low -> close otherwise; each leg is monotonic.
Before the open there is a "gap" leg from the previous close to this open on which no trade
happens: a stop crossed by the gap fills at the open.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from ..filters import Rounding, snap_to_step
from ..types import ZERO, BookLevel, Candle, InstrumentInfo, OrderBook, Side, datetime_to_ms


@dataclass(frozen=True, slots=True)
class DepthModel:
    levels: int = 50
    spacing_bps: Decimal = Decimal("0.5")
    depth_fraction: Decimal = Decimal("0.02")
    min_level_qty: Decimal | None = None
    jitter: Decimal = Decimal("0.3")

    def synthesize(
        self,
        info: InstrumentInfo,
        ref: Decimal,
        volume: Decimal,
        *,
        seed: int,
        time: datetime | None,
    ) -> OrderBook:
        """Return a book around `ref` following the model in the module docstring."""
        bids = tuple(self.side_levels(info, ref, volume, Side.BUY, seed=seed, time=time))
        asks = tuple(self.side_levels(info, ref, volume, Side.SELL, seed=seed, time=time))
        return OrderBook(info.symbol, bids, asks, time)

    def side_levels(
        self,
        info: InstrumentInfo,
        ref: Decimal,
        volume: Decimal,
        side: Side,
        *,
        seed: int,
        time: datetime | None,
    ) -> Iterator[BookLevel]:
        """The bids (`side` BUY) or asks (SELL) of `synthesize`'s book, best first, made one
        at a time: a taker that needs only the first levels draws only those."""
        tick = info.tick_size.normalize()  # 0.10 -> 0.1: one text form for all levels
        b1 = snap_to_step(ref, tick, Rounding.DOWN)
        a1 = snap_to_step(ref, tick, Rounding.UP)
        if a1 == b1:
            a1 = b1 + tick
        spacing = max(tick, snap_to_step(ref * self.spacing_bps / 10_000, tick, Rounding.DOWN))
        floor_qty = self.min_level_qty if self.min_level_qty is not None else info.min_qty * 10
        base = max(volume * self.depth_fraction / self.levels, floor_qty)
        stamp = datetime_to_ms(time) if time is not None else 0
        step = info.step_size
        snap = step_snapper(step)
        uniform = random.Random(f"{seed}:{info.symbol}:{stamp}:{side}").uniform
        low, high = float(1 - self.jitter), float(1 + self.jitter)
        buy = side is Side.BUY
        for i in range(self.levels):
            price = b1 - i * spacing if buy else a1 + i * spacing
            if price <= 0:
                return
            factor = Decimal(1)
            if self.jitter:
                factor = Decimal(str(round(uniform(low, high), 6)))
            yield BookLevel(price, max(snap(base * factor), step))


def step_snapper(step: Decimal) -> Callable[[Decimal], Decimal]:
    """``snap_to_step(value, step, Rounding.DOWN)`` for one ``step``, its quantum worked out
    once (the same operations, so the same results: the tests compare them)."""
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    normal = step.normalize()
    exponent = normal.as_tuple().exponent
    quantum = normal if isinstance(exponent, int) and exponent < 0 else Decimal(1)

    def snap(value: Decimal) -> Decimal:
        return ((value / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(quantum)

    return snap


def walk_book(
    levels: Sequence[BookLevel], side: Side, qty: Decimal, limit: Decimal | None = None
) -> tuple[list[BookLevel], tuple[BookLevel, ...]]:
    """Take up to `qty` from `levels` (the opposite side, best first) no worse than `limit`.

    Return the executed (price, qty) chunks and the levels left afterwards.
    """
    fills: list[BookLevel] = []
    remaining = qty
    left = list(levels)
    while remaining > 0 and left:
        price, available = left[0]
        if limit is not None and (price > limit if side is Side.BUY else price < limit):
            break
        take = min(available, remaining)
        fills.append(BookLevel(price, take))
        remaining -= take
        if take == available:
            left.pop(0)
        else:
            left[0] = BookLevel(price, available - take)
    return fills, tuple(left)


def take_levels(levels: Iterable[BookLevel], qty: Decimal) -> list[BookLevel]:
    """The (price, qty) chunks of taking up to `qty` from `levels` (best first, no limit):
    `walk_book`'s fills, reading only the levels it reaches."""
    fills: list[BookLevel] = []
    remaining = qty
    for price, available in levels:
        if remaining <= 0:
            break
        take = min(available, remaining)
        fills.append(BookLevel(price, take))
        remaining -= take
    return fills


def available_qty(levels: Sequence[BookLevel], side: Side, limit: Decimal | None) -> Decimal:
    """Quantity that could be taken from `levels` at prices no worse than `limit`."""
    total = ZERO
    for price, qty in levels:
        if limit is not None and (price > limit if side is Side.BUY else price < limit):
            break
        total += qty
    return total


def with_side_replaced(book: OrderBook, taker: Side, left: tuple[BookLevel, ...]) -> OrderBook:
    """Return `book` with the side a `taker` consumed replaced by `left`."""
    if taker is Side.BUY:
        return OrderBook(book.symbol, book.bids, left, book.time)
    return OrderBook(book.symbol, left, book.asks, book.time)


def candle_path(candle: Candle) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Open, first extreme, second extreme, close (see the module docstring)."""
    if candle.close >= candle.open:
        return candle.open, candle.low, candle.high, candle.close
    return candle.open, candle.high, candle.low, candle.close
