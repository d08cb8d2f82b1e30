"""Candle processing of the simulator: funding, the in-candle path, triggers and liquidation.

A base of `SimulatedExchange` (kept apart so each module holds one concept), built on the
state and bookkeeping of `OrderDesk`.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from decimal import Decimal

from ..errors import InsufficientMarginError
from ..events import FundingFeeCharged, PositionLiquidated
from ..types import (
    Candle,
    MarginType,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from .book import candle_path, take_levels
from .desk import OrderDesk
from .ledger import money
from .orders import SimOrder, leg_hit


class CandleEngine(OrderDesk):
    def on_candle(self, symbol: str, candle: Candle) -> None:
        """Feed one closed candle: settle funding due, then run its path over open orders.

        Raise ValueError if the candle is not later than the previous one of the symbol.
        """
        self._instrument(symbol)
        history = self._candles[symbol]
        if history and candle.open_time <= history[-1].open_time:
            raise ValueError(
                f"{symbol}: candle {candle.open_time.isoformat()} is not after "
                f"{history[-1].open_time.isoformat()}"
            )
        previous_open = history[-1].open_time if history else None
        prev_price = self._last.get(symbol)
        history.append(candle)
        if len(history) > 2 * self.keep_candles:
            del history[: len(history) - self.keep_candles]
        self._books.pop(symbol, None)
        self._settle_funding(symbol, previous_open, candle)
        o, x1, x2, c = candle_path(candle)
        legs: list[tuple[Decimal, Decimal, bool]] = []
        if prev_price is not None and prev_price != o:
            legs.append((prev_price, o, True))
        legs += [(o, x1, False), (x1, x2, False), (x2, c, False)]
        prices = [a for a, _, _ in legs] + [c]
        if not self._path_may_act(symbol, min(prices), max(prices)):
            self._last[symbol] = c  # the legs would only have moved the last price
            self._books.pop(symbol, None)
            return
        for a, b, gap in legs:
            self._last[symbol] = a
            self._run_leg(symbol, candle, a, b, gap)
        self._last[symbol] = c
        self._books.pop(symbol, None)

    def _path_may_act(self, symbol: str, low: Decimal, high: Decimal) -> bool:
        """Whether a path between `low` and `high` may trigger an open order of `symbol` or
        liquidate its position (`leg_hit` of some leg): a level reached from above at or
        above `low`, one reached from below at or below `high`, or a trailing stop (its level
        moves along the path)."""
        for order in self._open(symbol):
            if order.type is OrderType.TRAILING_STOP_MARKET:
                return True
            level = order.level()
            if level is not None and (level >= low if order.falls_to() else level <= high):
                return True
        pos = self.ledger.positions.get(symbol)
        if pos is None or not pos.qty:
            return False
        level = self.ledger.liquidation_price(symbol, self._last)
        return level is not None and (level >= low if pos.qty > 0 else level <= high)

    # --- funding ---------------------------------------------------------------------------
    def _settle_funding(self, symbol: str, previous_open: datetime | None, candle: Candle) -> None:
        pos = self.ledger.positions.get(symbol)
        if pos is None or not pos.qty:
            return
        series = self._funding.get(symbol, [])
        # Due: funding times in (previous open, this open]; for the first candle only its open.
        if previous_open is None:
            first = bisect.bisect_left(series, candle.open_time, key=_time)
        else:
            first = bisect.bisect_right(series, previous_open, key=_time)
        last = bisect.bisect_right(series, candle.open_time, key=_time)
        for when, rate in series[first:last]:
            amount = money(-pos.qty * candle.open * rate)
            self.ledger.wallet += amount
            if pos.margin_type is MarginType.ISOLATED:
                pos.isolated_margin += amount
            self._emit(FundingFeeCharged(symbol, rate, candle.open, pos.qty, amount, when))

    # --- the path -------------------------------------------------------------------------
    def _run_leg(self, symbol: str, candle: Candle, a: Decimal, b: Decimal, gap: bool) -> None:
        done: set[int] = set()
        while True:
            best: tuple[Decimal, int, SimOrder, Decimal] | None = None
            for order in self._open(symbol):
                if order.seq in done:
                    continue
                level = order.level()
                if level is None:
                    continue
                strict = order.type is OrderType.LIMIT and not self.fill_on_touch
                hit = leg_hit(level, order.falls_to(), a, b, gap=gap, strict=strict)
                if hit is None:
                    continue
                price, distance = hit
                if order.type is OrderType.LIMIT:
                    price = level
                if best is None or (distance, order.seq) < (best[0], best[1]):
                    best = (distance, order.seq, order, price)
            liq = self._liquidation_hit(symbol, a, b, gap)
            if liq is not None and (best is None or liq[1] <= best[0]):
                self._liquidate(symbol, candle, liq[0])
                continue
            if best is None:
                break
            _, seq, chosen, price = best
            done.add(seq)
            self._trigger(chosen, candle, price)
        for order in self._open(symbol):
            order.track(a, b)

    def _liquidation_hit(
        self, symbol: str, a: Decimal, b: Decimal, gap: bool
    ) -> tuple[Decimal, Decimal] | None:
        pos = self.ledger.positions.get(symbol)
        if pos is None or not pos.qty:
            return None
        # (the position's own mark does not enter its liquidation price, the others' do)
        level = self.ledger.liquidation_price(symbol, self._last)
        if level is None:
            return None
        return leg_hit(level, pos.qty > 0, a, b, gap=gap)

    def _trigger(self, order: SimOrder, candle: Candle, price: Decimal) -> None:
        if order.type is OrderType.LIMIT:
            qty = self._executable_qty(order)
            if qty <= 0:
                self._finish(order, OrderStatus.EXPIRED)
                return
            self._execute(order, price, qty, maker=True)
            if order.status.is_open and order.request.reduce_only:
                self._finish(order, OrderStatus.EXPIRED)  # cut to the position: rest is void
            return
        # A conditional order becomes a market order at the trigger.
        info = self._instruments[order.symbol]
        order.order_id = next(self._order_ids)
        qty = self._executable_qty(order)
        if qty <= 0:
            self._finish(order, OrderStatus.EXPIRED)
            return
        # the book around the trigger, only the side this taker consumes (asks for a buy)
        levels = self.depth.side_levels(
            info,
            price,
            candle.volume,
            order.side.opposite,
            seed=self.seed,
            time=candle.open_time,
        )
        chunks = take_levels(levels, qty)
        try:
            self._check_margin(
                order.symbol, order.side, chunks, reduce_only=order.request.reduce_only
            )
        except InsufficientMarginError:
            self._finish(order, OrderStatus.EXPIRED)
            return
        for chunk in chunks:
            self._execute(order, chunk.price, chunk.qty, maker=False)
        if order.status.is_open:
            self._finish(order, OrderStatus.EXPIRED)

    def _liquidate(self, symbol: str, candle: Candle, price: Decimal) -> None:
        pos = self.ledger.position(symbol)
        qty = abs(pos.qty)
        side = Side.SELL if pos.qty > 0 else Side.BUY
        for order in self._open(symbol):
            self._finish(order, OrderStatus.CANCELED)
        fee = self.ledger.clearance_fee(symbol, price)
        now = self._clock()
        record = SimOrder(
            OrderRequest(symbol, side, OrderType.MARKET, quantity=qty, reduce_only=True),
            f"autoclose-{next(self._seq)}",
            seq=0,
            created_at=now,
            updated_at=now,
            order_id=next(self._order_ids),
        )
        self._orders[record.client_order_id] = record
        realized = self.ledger.apply_fill(symbol, side, qty, price)
        self.ledger.wallet -= fee
        quote = self._instruments[symbol].quote_asset
        self._record_fill(record, price, qty, fee, realized, False, quote, now)
        self._emit(PositionLiquidated(symbol, qty * -side.sign, price, fee - realized, now))


def _time(entry: tuple[datetime, Decimal]) -> datetime:
    return entry[0]
