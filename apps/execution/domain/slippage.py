"""Book-aware entries: LIMIT IOC slices within a maximum slippage (the seed's `SlippageManager`).

Reference and bound: the reference price is the mid of the book ticker (or the touch a taker of
our side pays: best ask for a buy, best bid for a sell). The *limit price* is the reference moved
`max_slippage_bps` against us, snapped passively (a buy rounds down, a sell rounds up), so no slice
can ever be priced beyond the bound.

Slicing rule: walk the side of the book a taker consumes (asks for a buy), best level first, and
only the levels priced within the limit. Each level contributes at most `max_depth_share` of its
visible quantity. A slice is emitted at the price of the deepest level it needs as soon as the
quantity gathered since the previous slice, snapped down to the step, is a valid order (minQty and
MIN_NOTIONAL); so a thick top of book gives one slice at the best price, and a thin one gives one
slice per level (tiny levels are merged into the next). At most `max_slices` slices are planned:
the last one gathers the rest of the visible depth within the limit. Each slice is therefore never
larger than what the book shows up to its own price (times the share). Whatever the visible depth
within the limit cannot cover is left *unplanned*; after the IOC slices ran, `plan_after_fills`
plans the remainder against a fresh book, keeping the first round's reference and limit, for at
most `max_rounds` rounds in all, and stops with a reason when the book moved beyond the bound.

Client order ids are derived from the intent: `client_order_id(intent_id, "en", round, index)`,
so a retried task re-sends the same ids and the venue refuses a duplicate.

`expected_price` is the VWAP of walking the whole visible book for the quantity (no share, no
bound), or the reference price when the visible book is too thin for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from apps.exchange.domain.filters import Rounding, snap_order_price, snap_price, snap_quantity
from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import (
    BookLevel,
    BookTicker,
    InstrumentInfo,
    OrderBook,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)

__all__ = [
    "BPS",
    "EntryDone",
    "EntryPlan",
    "EntryRefused",
    "EntrySlice",
    "ReferencePrice",
    "SlippageConfig",
    "SlippageManager",
    "SlippageReport",
    "book_vwap",
    "reference_price",
    "slippage_bps",
    "slippage_report",
]

BPS = Decimal(10_000)
ZERO = Decimal(0)
_PRICE_QUANTUM = Decimal("1e-8")


class EntryRefused(ValueError):
    """The entry cannot be placed within the limits; the message is a one-line reason."""


class ReferencePrice(StrEnum):
    MID = "MID"
    BEST = "BEST"  # the touch a taker of our side pays: best ask for a buy, best bid for a sell


@dataclass(frozen=True, slots=True)
class SlippageConfig:
    """Limits of one entry. Raise ValueError on an impossible value."""

    max_slippage_bps: Decimal
    reference: ReferencePrice = ReferencePrice.MID
    max_depth_share: Decimal = Decimal(1)
    max_slices: int = 5
    max_rounds: int = 3

    def __post_init__(self) -> None:
        if not ZERO <= self.max_slippage_bps <= Decimal(1000):
            raise ValueError(f"max_slippage_bps must be in 0..1000, got {self.max_slippage_bps}")
        if not ZERO < self.max_depth_share <= 1:
            raise ValueError(f"max_depth_share must be in (0, 1], got {self.max_depth_share}")
        if self.max_slices < 1:
            raise ValueError(f"max_slices must be >= 1, got {self.max_slices}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {self.max_rounds}")


@dataclass(frozen=True, slots=True)
class EntrySlice:
    index: int
    order: OrderRequest

    @property
    def quantity(self) -> Decimal:
        assert self.order.quantity is not None
        return self.order.quantity

    @property
    def price(self) -> Decimal:
        assert self.order.price is not None
        return self.order.price

    @property
    def client_order_id(self) -> str:
        assert self.order.client_order_id is not None
        return self.order.client_order_id


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """One round of IOC slices. `total_qty` is the whole entry; `filled_qty` what earlier rounds
    filled; this round plans `total_qty - filled_qty` (`planned_qty` of it is in slices)."""

    intent_id: str
    symbol: str
    side: Side
    round: int
    total_qty: Decimal
    filled_qty: Decimal
    reference_price: Decimal
    limit_price: Decimal
    expected_price: Decimal
    max_slippage_bps: Decimal
    slices: tuple[EntrySlice, ...]

    @property
    def wanted_qty(self) -> Decimal:
        return self.total_qty - self.filled_qty

    @property
    def planned_qty(self) -> Decimal:
        return sum((s.quantity for s in self.slices), ZERO)

    @property
    def unplanned_qty(self) -> Decimal:
        return self.wanted_qty - self.planned_qty

    @property
    def orders(self) -> tuple[OrderRequest, ...]:
        return tuple(s.order for s in self.slices)

    @property
    def expected_slippage_bps(self) -> Decimal:
        """Slippage of `expected_price` against the reference (positive = worse for us)."""
        return slippage_bps(self.side, self.reference_price, self.expected_price)


@dataclass(frozen=True, slots=True)
class EntryDone:
    """No further round: `reason` says why (filled, dust left, rounds spent, book moved away)."""

    reason: str
    round: int
    filled_qty: Decimal
    remaining_qty: Decimal

    @property
    def complete(self) -> bool:
        return self.remaining_qty == 0


@dataclass(frozen=True, slots=True)
class SlippageReport:
    """What an entry achieved; the adapter logs it and exports it as a metric."""

    filled_qty: Decimal
    average_price: Decimal
    vs_expected_bps: Decimal
    vs_reference_bps: Decimal


def slippage_bps(side: Side, expected: Decimal, achieved: Decimal) -> Decimal:
    """Return the slippage of `achieved` against `expected` in bps; positive = worse for us.

    A buy that pays more, or a sell that receives less, than expected has positive slippage.
    Raise ValueError if `expected` is not positive.
    """
    if expected <= 0:
        raise ValueError(f"expected price must be > 0, got {expected}")
    return (achieved - expected) / expected * BPS * side.sign


def reference_price(
    ticker: BookTicker, side: Side, mode: ReferencePrice = ReferencePrice.MID
) -> Decimal:
    """Return the reference price of an entry; raise EntryRefused on an empty or crossed quote."""
    bid, ask = ticker.bid_price, ticker.ask_price
    if bid <= 0 or ask <= 0:
        raise EntryRefused(f"{ticker.symbol}: no quote (bid {bid}, ask {ask})")
    if bid >= ask:
        raise EntryRefused(f"{ticker.symbol}: crossed quote (bid {bid} >= ask {ask})")
    if mode is ReferencePrice.MID:
        return (bid + ask) / 2
    return ask if side is Side.BUY else bid


def book_vwap(levels: Iterable[BookLevel], quantity: Decimal) -> Decimal | None:
    """Return the average price of taking `quantity` from `levels` in order, or None if the
    levels hold less than `quantity`."""
    if quantity <= 0:
        raise ValueError(f"quantity must be > 0, got {quantity}")
    left, cost = quantity, ZERO
    for level in levels:
        take = min(left, level.qty)
        cost += take * level.price
        left -= take
        if left == 0:
            return (cost / quantity).quantize(_PRICE_QUANTUM)
    return None


def slippage_report(plan: EntryPlan, fills: Sequence[tuple[Decimal, Decimal]]) -> SlippageReport:
    """Summarise `(quantity, price)` fills of an entry against its first plan's prices.

    Raise ValueError when there is no filled quantity.
    """
    qty = sum((q for q, _ in fills), ZERO)
    if qty <= 0:
        raise ValueError(f"{plan.symbol}: no filled quantity to report")
    avg = (sum((q * p for q, p in fills), ZERO) / qty).quantize(_PRICE_QUANTUM)
    return SlippageReport(
        filled_qty=qty,
        average_price=avg,
        vs_expected_bps=slippage_bps(plan.side, plan.expected_price, avg),
        vs_reference_bps=slippage_bps(plan.side, plan.reference_price, avg),
    )


def _within(side: Side, price: Decimal, limit: Decimal) -> bool:
    return price <= limit if side is Side.BUY else price >= limit


def _limit_price(info: InstrumentInfo, side: Side, reference: Decimal, bps: Decimal) -> Decimal:
    if side is Side.BUY:
        return snap_price(info, reference * (1 + bps / BPS), Rounding.DOWN)
    return snap_price(info, reference * (1 - bps / BPS), Rounding.UP)


def _is_valid_size(info: InstrumentInfo, qty: Decimal, price: Decimal) -> bool:
    return qty > 0 and qty >= info.min_qty and qty * price >= info.min_notional


class SlippageManager:
    """Plan book-aware IOC entries within `config.max_slippage_bps` of the reference price."""

    def __init__(self, config: SlippageConfig) -> None:
        self.config = config

    def plan_entry(
        self,
        *,
        intent_id: str,
        book: OrderBook,
        ticker: BookTicker,
        side: Side,
        quantity: Decimal,
        info: InstrumentInfo,
        max_slippage_bps: Decimal | None = None,
    ) -> EntryPlan:
        """Return the first round of slices for an entry of `quantity` (snapped down).

        `max_slippage_bps` overrides the configured maximum for this entry (later rounds keep it).

        Raise EntryRefused with a one-line reason when the quantity or the first slice is below
        minQty / MIN_NOTIONAL, when the best level is beyond the maximum slippage, or when the
        book or quote is empty or crossed; raise ValueError when the symbols disagree.
        """
        for what, symbol in (("book", book.symbol), ("ticker", ticker.symbol)):
            if symbol != info.symbol:
                raise ValueError(f"{what} is for {symbol}, the instrument is {info.symbol}")
        total = snap_quantity(info, quantity)
        reference = reference_price(ticker, side, self.config.reference)
        if total <= 0 or total < info.min_qty:
            raise EntryRefused(
                f"{info.symbol}: quantity {quantity} is below minQty {info.min_qty} after "
                f"snapping to step {info.step_size}"
            )
        if total * reference < info.min_notional:
            raise EntryRefused(
                f"{info.symbol}: notional {(total * reference).normalize():f} is below "
                f"MIN_NOTIONAL {info.min_notional}"
            )
        bps = self.config.max_slippage_bps if max_slippage_bps is None else max_slippage_bps
        if not ZERO <= bps <= Decimal(1000):
            raise ValueError(f"max_slippage_bps must be in 0..1000, got {bps}")
        limit = _limit_price(info, side, reference, bps)
        plan = self._plan_round(
            intent_id=intent_id,
            book=book,
            side=side,
            info=info,
            round_no=0,
            total=total,
            filled=ZERO,
            reference=reference,
            limit=limit,
            bps=bps,
        )
        if isinstance(plan, str):
            raise EntryRefused(plan)
        return plan

    def plan_after_fills(
        self,
        previous: EntryPlan,
        *,
        filled_qty: Decimal,
        book: OrderBook,
        info: InstrumentInfo,
    ) -> EntryPlan | EntryDone:
        """Plan the next round after `previous`'s IOC slices filled `filled_qty` in all.

        The reference and limit of the first round are kept, so the bound never drifts with the
        market. Return EntryDone with a reason when the entry is filled, only dust is left, the
        rounds are spent, or the book has no liquidity within the limit any more.
        Raise ValueError if `filled_qty` is negative or more than the round wanted.
        """
        if filled_qty < 0 or filled_qty > previous.wanted_qty:
            raise ValueError(
                f"{previous.symbol}: filled {filled_qty} outside 0..{previous.wanted_qty}"
            )
        filled = previous.filled_qty + filled_qty
        remaining = previous.total_qty - filled
        round_no = previous.round + 1

        def done(reason: str) -> EntryDone:
            return EntryDone(reason, previous.round, filled, remaining)

        if remaining == 0:
            return done(f"{previous.symbol}: entry filled ({filled})")
        snapped = snap_quantity(info, remaining)
        if not _is_valid_size(info, snapped, previous.limit_price):
            return done(
                f"{previous.symbol}: remaining {remaining} is below minQty/MIN_NOTIONAL; "
                f"entry kept at {filled}"
            )
        if round_no >= self.config.max_rounds:
            return done(
                f"{previous.symbol}: {self.config.max_rounds} round(s) spent; {remaining} of "
                f"{previous.total_qty} unfilled"
            )
        plan = self._plan_round(
            intent_id=previous.intent_id,
            book=book,
            side=previous.side,
            info=info,
            round_no=round_no,
            total=previous.total_qty,
            filled=filled,
            reference=previous.reference_price,
            limit=previous.limit_price,
            bps=previous.max_slippage_bps,
        )
        if isinstance(plan, str):
            return done(plan)
        return plan

    def _plan_round(
        self,
        *,
        intent_id: str,
        book: OrderBook,
        side: Side,
        info: InstrumentInfo,
        round_no: int,
        total: Decimal,
        filled: Decimal,
        reference: Decimal,
        limit: Decimal,
        bps: Decimal,
    ) -> EntryPlan | str:
        """Return the round's plan, or a one-line reason why no slice can be placed."""
        levels = book.levels(side)
        sym, touch = info.symbol, "ask" if side is Side.BUY else "bid"
        if not levels:
            return f"{sym}: the book has no {touch}s"
        best = levels[0].price
        if not _within(side, best, limit):
            moved = slippage_bps(side, reference, best).quantize(Decimal("0.0001"))
            return (
                f"{sym}: best {touch} {best} is {moved} bps from reference {reference}, beyond "
                f"max slippage {bps} bps (limit {limit})"
            )
        need = total - filled
        pieces = self._slice(levels, need, side, limit, info)
        if not pieces:
            depth = sum((lv.qty for lv in levels if _within(side, lv.price, limit)), ZERO)
            return (
                f"{sym}: first slice below minQty {info.min_qty} / MIN_NOTIONAL "
                f"{info.min_notional}: {depth} visible within {bps} bps (limit {limit})"
            )
        slices = tuple(
            EntrySlice(
                index=i,
                order=OrderRequest(
                    symbol=sym,
                    side=side,
                    type=OrderType.LIMIT,
                    quantity=qty,
                    price=snap_order_price(info, price, side),
                    time_in_force=TimeInForce.IOC,
                    client_order_id=client_order_id(intent_id, "en", round_no, i),
                ),
            )
            for i, (qty, price) in enumerate(pieces)
        )
        expected = book_vwap(levels, need) or reference
        return EntryPlan(
            intent_id=intent_id,
            symbol=sym,
            side=side,
            round=round_no,
            total_qty=total,
            filled_qty=filled,
            reference_price=reference,
            limit_price=limit,
            expected_price=expected,
            max_slippage_bps=bps,
            slices=slices,
        )

    def _slice(
        self,
        levels: Sequence[BookLevel],
        need: Decimal,
        side: Side,
        limit: Decimal,
        info: InstrumentInfo,
    ) -> list[tuple[Decimal, Decimal]]:
        """Return `(quantity, price)` slices following the slicing rule of the module."""
        share, max_slices = self.config.max_depth_share, self.config.max_slices
        usable = [lv for lv in levels if _within(side, lv.price, limit)]
        out: list[tuple[Decimal, Decimal]] = []
        remaining = snap_quantity(info, need)
        gathered = ZERO  # raw quantity gathered since the last slice
        for k, level in enumerate(usable):
            gathered += min(level.qty * share, remaining - gathered)
            final_level = k == len(usable) - 1 or gathered >= remaining
            if len(out) == max_slices - 1 and not final_level:
                continue  # the last slice gathers the rest of the visible depth
            qty = snap_quantity(info, min(gathered, info.max_qty) if info.max_qty > 0 else gathered)
            if _is_valid_size(info, qty, level.price):
                out.append((qty, level.price))
                remaining -= qty
                gathered -= qty
            if remaining <= 0 or final_level:
                break
        return out
