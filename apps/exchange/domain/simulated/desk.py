"""Order placement and bookkeeping of the simulator: validation, margin, execution, events.

A base of `SimulatedExchange`; holds the state declarations shared with `engine.py`.

Margin checks (simpler than Binance's, stated so nobody relies on more):
- an order needs `opening_qty * price / leverage + taker fee on its notional` of available
  balance, where `opening_qty` is the part that does not close the current position;
- open LIMIT orders that are not reduce-only and do not face the position hold
  `remaining * price / leverage`; orders facing the position hold nothing, even the part that
  would flip it; conditional orders hold nothing and are checked when they trigger (expired if
  the margin is short then);
- no leverage brackets, no PERCENT_PRICE band, no max-position check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal

from ..errors import (
    DuplicateClientOrderIdError,
    InsufficientMarginError,
    InvalidOrderError,
    PostOnlyRejectedError,
    ReduceOnlyRejectedError,
    RejectedError,
    UnknownSymbolError,
    WouldTriggerError,
)
from ..events import ExchangeEvent, OrderFilled, OrderUpdated
from ..fees import FeeSchedule
from ..filters import check_order
from ..ids import is_valid_client_order_id
from ..types import (
    ZERO,
    BookLevel,
    Candle,
    Clock,
    Fill,
    InstrumentInfo,
    OrderBook,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from .book import DepthModel, available_qty, walk_book, with_side_replaced
from .ledger import Ledger, money
from .orders import SimOrder


class OrderDesk:
    _instruments: dict[str, InstrumentInfo]
    _clock: Clock
    _candles: dict[str, list[Candle]]
    _last: dict[str, Decimal]
    _books: dict[str, OrderBook]
    _funding: dict[str, list[tuple[datetime, Decimal]]]
    _orders: dict[str, SimOrder]  # every order ever placed, by client id
    _open_orders: dict[str, SimOrder]  # the open ones, in placement order
    _auto_ids: Iterator[int]
    _fills: dict[str, list[Fill]]
    _listeners: list[Callable[[ExchangeEvent], None]]
    _seq: Iterator[int]
    _order_ids: Iterator[int]
    _algo_ids: Iterator[int]
    _trade_ids: Iterator[int]
    events: list[ExchangeEvent]
    ledger: Ledger
    depth: DepthModel
    fees: FeeSchedule
    seed: int
    fill_on_touch: bool
    max_callback_rate: Decimal
    keep_candles: int

    # --- placement -----------------------------------------------------------------------------
    def _place(self, request: OrderRequest) -> OrderReport:
        info = self._instrument(request.symbol)
        if not info.is_trading:
            raise RejectedError(f"{info.symbol}: symbol status {info.status}", code=-1122)
        cid = request.client_order_id or self._auto_client_id()
        if not is_valid_client_order_id(cid):
            raise InvalidOrderError(f"{info.symbol}: client order id {cid!r} is malformed")
        if cid in self._orders:
            raise DuplicateClientOrderIdError(f"{info.symbol}: client order id {cid} is used")
        price = self._require_price(request.symbol)
        check_order(info, request, reference_price=price)
        pos_qty = self.ledger.position(request.symbol).qty
        if request.reduce_only and (pos_qty == 0 or (pos_qty > 0) == (request.side is Side.BUY)):
            raise ReduceOnlyRejectedError(
                f"{info.symbol}: reduce-only {request.side} would not reduce position {pos_qty}"
            )
        now = self._clock()
        order = SimOrder(request, cid, next(self._seq), created_at=now, updated_at=now)
        if request.type.is_conditional:
            return self._place_conditional(order, price)
        order.order_id = next(self._order_ids)
        if request.type is OrderType.MARKET:
            return self._place_market(order)
        return self._place_limit(order)

    def _place_conditional(self, order: SimOrder, price: Decimal) -> OrderReport:
        r = order.request
        if r.type is OrderType.TRAILING_STOP_MARKET:
            assert r.callback_rate is not None
            if not Decimal("0.1") <= r.callback_rate <= self.max_callback_rate:
                raise InvalidOrderError(
                    f"{r.symbol}: callback rate {r.callback_rate} outside "
                    f"0.1..{self.max_callback_rate}",
                    code=-4136,
                )
            order.extreme = price
        if order.would_trigger_at(price):
            raise WouldTriggerError(
                f"{r.symbol}: {r.side} {r.type} at {order.level()} would trigger at {price}"
            )
        order.algo_id = next(self._algo_ids)
        self._register(order)
        return order.report()

    def _place_market(self, order: SimOrder) -> OrderReport:
        r = order.request
        qty = self._executable_qty(order)
        book = self._book(r.symbol)
        chunks, left = walk_book(book.levels(r.side), r.side, qty)
        self._check_margin(r.symbol, r.side, chunks, reduce_only=r.reduce_only)
        self._books[r.symbol] = with_side_replaced(book, r.side, left)
        self._register(order)
        for chunk in chunks:
            self._execute(order, chunk.price, chunk.qty, maker=False)
        if order.status.is_open:
            self._finish(order, OrderStatus.EXPIRED)
        return order.report()

    def _place_limit(self, order: SimOrder) -> OrderReport:
        r = order.request
        assert r.price is not None and r.quantity is not None
        tif = r.effective_time_in_force
        book = self._book(r.symbol)
        levels = book.levels(r.side)
        takeable = available_qty(levels, r.side, r.price)
        if tif is TimeInForce.GTX and takeable > 0:
            raise PostOnlyRejectedError(
                f"{r.symbol}: post-only {r.side} at {r.price} would take liquidity"
            )
        qty = self._executable_qty(order)
        if tif is TimeInForce.FOK and takeable < qty:
            self._register(order)
            self._finish(order, OrderStatus.EXPIRED)
            return order.report()
        chunks, left = walk_book(levels, r.side, qty, r.price)
        resting = qty - sum((c.qty for c in chunks), ZERO)
        if tif in (TimeInForce.GTC, TimeInForce.GTX) and resting > 0:
            chunks_for_margin = [*chunks, BookLevel(r.price, resting)]
        else:
            chunks_for_margin = chunks
        self._check_margin(r.symbol, r.side, chunks_for_margin, reduce_only=r.reduce_only)
        self._books[r.symbol] = with_side_replaced(book, r.side, left)
        self._register(order)
        for chunk in chunks:
            self._execute(order, chunk.price, chunk.qty, maker=False)
        if order.status.is_open and tif in (TimeInForce.IOC, TimeInForce.FOK):
            self._finish(order, OrderStatus.EXPIRED)
        return order.report()

    def _check_margin(
        self, symbol: str, side: Side, chunks: Sequence[BookLevel], *, reduce_only: bool
    ) -> None:
        if reduce_only or not chunks:
            return
        pos = self.ledger.position(symbol)
        closing = abs(pos.qty) if pos.qty and (pos.qty > 0) != (side is Side.BUY) else ZERO
        required = ZERO
        for price, qty in chunks:
            fee = price * qty * self.fees.taker
            opening = max(ZERO, qty - closing)
            closing = max(ZERO, closing - qty)
            required += opening * price / pos.leverage + fee
        available = self.ledger.available(self._last, self._order_margin())
        if required > available:
            raise InsufficientMarginError(
                f"{symbol}: order needs {required:.8f} margin, {available:.8f} available"
            )

    def _order_margin(self) -> Decimal:
        """Initial margin held by open LIMIT orders that would open or add to a position."""
        total = ZERO
        for o in self._open():
            if o.type is not OrderType.LIMIT or o.request.reduce_only:
                continue
            pos = self.ledger.position(o.symbol)
            if pos.qty and (pos.qty > 0) != (o.side is Side.BUY):
                continue
            assert o.request.price is not None and o.remaining is not None
            total += o.remaining * o.request.price / pos.leverage
        return total

    def _executable_qty(self, order: SimOrder) -> Decimal:
        """Remaining quantity, cut to the position for reduce-only / close-position orders."""
        r = order.request
        pos_qty = self.ledger.position(r.symbol).qty
        reduces = pos_qty != 0 and (pos_qty > 0) != (r.side is Side.BUY)
        if r.close_position:
            return abs(pos_qty) if reduces else ZERO
        remaining = order.remaining or ZERO
        if r.reduce_only:
            return min(remaining, abs(pos_qty)) if reduces else ZERO
        return remaining

    # --- execution and bookkeeping -------------------------------------------------------------
    def _execute(self, order: SimOrder, price: Decimal, qty: Decimal, *, maker: bool) -> Fill:
        info = self._instruments[order.symbol]
        now = self._clock()
        fee = money(price * qty * (self.fees.maker if maker else self.fees.taker))
        realized = self.ledger.apply_fill(order.symbol, order.side, qty, price)
        self.ledger.wallet -= fee
        return self._record_fill(order, price, qty, fee, realized, maker, info.quote_asset, now)

    def _record_fill(
        self,
        order: SimOrder,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        realized: Decimal,
        maker: bool,
        fee_asset: str,
        now: datetime,
    ) -> Fill:
        fill = Fill(
            symbol=order.symbol,
            side=order.side,
            price=price,
            qty=qty,
            fee=fee,
            fee_asset=fee_asset,
            is_maker=maker,
            realized_pnl=realized,
            time=now,
            trade_id=next(self._trade_ids),
            order_id=order.order_id,
            client_order_id=order.client_order_id,
        )
        order.record_fill(price, qty, now)
        if not order.status.is_open:
            self._open_orders.pop(order.client_order_id, None)
        self._fills[order.symbol].append(fill)
        self._emit(OrderFilled(fill, order.report(), now))
        return fill

    def _auto_client_id(self) -> str:
        while True:
            cid = f"sim-{next(self._auto_ids)}"
            if cid not in self._orders:
                return cid

    def _register(self, order: SimOrder) -> None:
        self._orders[order.client_order_id] = order
        if order.status.is_open:
            self._open_orders[order.client_order_id] = order
        self._emit(OrderUpdated(order.report(), order.created_at))

    def _finish(self, order: SimOrder, status: OrderStatus) -> None:
        order.finish(status, self._clock())
        self._open_orders.pop(order.client_order_id, None)
        self._emit(OrderUpdated(order.report(), order.updated_at))

    def _emit(self, event: ExchangeEvent) -> None:
        self.events.append(event)
        for listener in self._listeners:
            listener(event)

    def _open(self, symbol: str | None = None) -> list[SimOrder]:
        return [o for o in self._open_orders.values() if symbol is None or o.symbol == symbol]

    def _instrument(self, symbol: str) -> InstrumentInfo:
        info = self._instruments.get(symbol)
        if info is None:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}")
        return info

    def _require_price(self, symbol: str) -> Decimal:
        self._instrument(symbol)
        price = self._last.get(symbol)
        if price is None:
            raise RejectedError(f"{symbol}: no market data yet (feed a candle first)")
        return price

    def _book(self, symbol: str) -> OrderBook:
        book = self._books.get(symbol)
        if book is None:
            price = self._require_price(symbol)
            candles = self._candles[symbol]
            volume = candles[-1].volume if candles else ZERO
            time = candles[-1].open_time if candles else None
            book = self.depth.synthesize(
                self._instruments[symbol], price, volume, seed=self.seed, time=time
            )
            self._books[symbol] = book
        return book
