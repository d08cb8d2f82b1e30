"""Normal (LIMIT / MARKET) orders: validation, matching against the synthetic book, resting fills.

Matching model: the user's orders never enter the synthetic book. A taker order (MARKET, or a
LIMIT that crosses) walks the book's levels. A resting LIMIT fills in full, as maker at its own
price, as soon as the book moves through it (buy: best ask <= price; sell: best bid >= price).
The user's own trades do not move the market price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import errors, params
from .orders import FINAL, Order
from .symbols import SymbolSpec, get_spec

if TYPE_CHECKING:
    from .exchange import Exchange

ZERO = Decimal(0)
CONDITIONAL_TYPES = (
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
SIDES = ("BUY", "SELL")
MAX_OPEN_ORDERS = 200  # per symbol (MAX_NUM_ORDERS)
MAX_OPEN_ALGOS = 200  # per account, conditional orders
TIFS = ("GTC", "IOC", "FOK", "GTX", "GTD")


class OrderEngine:
    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.orders: dict[int, Order] = {}
        self._next_id = 4_000_000_000
        self.partial_fills: list[Decimal] = []  # queued fractions for the next orders (faults)

    # -- lookups ------------------------------------------------------------------------------
    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [
            o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def find(self, p: dict[str, str]) -> Order:
        """Find by orderId or origClientOrderId; raise -1102 / -2013."""
        spec = get_spec(p.get("symbol"))
        order_id = params.integer(p, "orderId")
        client = p.get("origClientOrderId")
        if order_id is None and not client:
            raise errors.BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is not None:
            order = self.orders.get(order_id)
            if order and order.symbol == spec.symbol:
                return order
            raise errors.no_such_order()
        for order in reversed(self.orders.values()):
            if order.client_id == client and order.symbol == spec.symbol:
                return order
        raise errors.no_such_order()

    # -- placement ------------------------------------------------------------------------------
    def place(self, p: dict[str, str]) -> dict[str, Any]:
        """Validate and execute POST /fapi/v1/order; return the response body."""
        spec = get_spec(p.get("symbol"))
        side = params.choice(p, "side", SIDES, -1117, "Invalid side.")
        otype = p.get("type")
        if not otype:
            raise errors.missing("type")
        if otype in CONDITIONAL_TYPES:
            raise errors.err(errors.ALGO_ONLY)
        if otype not in ("LIMIT", "MARKET"):
            raise errors.BinanceError(-1116, "Invalid orderType.")
        ps = self.position_side(p)
        reduce_only = params.boolean(p, "reduceOnly")
        if reduce_only is not None and self.ex.account.dual_side:
            raise errors.not_required("reduceOnly")
        client = params.client_id(p, "newClientOrderId") or self.ex.new_client_id()
        if any(o.client_id == client for o in self.open_orders()):
            raise errors.err(errors.DUPLICATE)
        if len(self.open_orders(spec.symbol)) >= MAX_OPEN_ORDERS:
            raise errors.BinanceError(-2025, "Reach max open order limit.")
        qty = params.decimal(p, "quantity", required=True)
        assert qty is not None
        if otype == "LIMIT":
            tif = params.choice(p, "timeInForce", TIFS, -1115, "Invalid timeInForce.")
            price = params.decimal(p, "price", required=True)
            assert price is not None
            spec.check_price(price)
        else:
            if p.get("price"):
                raise errors.not_required("price")
            tif, price = "GTC", ZERO
        spec.check_qty(qty, market=otype == "MARKET")
        order = Order(
            order_id=0,
            client_id=client,
            symbol=spec.symbol,
            side=side,
            type=otype,
            tif=tif,
            qty=qty,
            price=price,
            reduce_only=bool(reduce_only),
            position_side=ps,
            time=self.ex.now(),
        )
        self.validate(order, spec)
        ack = self.submit(order)
        if p.get("newOrderRespType", "ACK") == "RESULT":
            return order.as_json(with_time=False)
        return ack

    def position_side(self, p: dict[str, str]) -> str:
        ps = params.choice(
            p,
            "positionSide",
            ("BOTH", "LONG", "SHORT"),
            -4006,
            "Invalid position side.",
            default="BOTH",
        )
        if (ps == "BOTH") == self.ex.account.dual_side:
            raise errors.err(errors.POSITION_SIDE)
        return ps

    def reduces(self, order: Order) -> bool:
        """Return whether ``order`` would only reduce its position (hedge: by its side)."""
        if order.position_side == "LONG":
            return order.side == "SELL"
        if order.position_side == "SHORT":
            return order.side == "BUY"
        amt = self.ex.account.position(order.symbol, "BOTH").amt
        return amt != 0 and (amt > 0) == (order.side == "SELL")

    def hedge_close(self, order: Order) -> bool:
        """Return whether ``order`` closes a hedge-mode position (SELL LONG / BUY SHORT)."""
        return order.position_side != "BOTH" and self.reduces(order)

    def validate(self, order: Order, spec: SymbolSpec) -> None:
        """Apply price band, reduce-only, min-notional and margin checks (Binance's order)."""
        mark = self.ex.market(order.symbol).mark
        if order.type == "LIMIT":
            hi = spec.round_price_down(mark * spec.multiplier_up)
            lo = spec.round_price_up(mark * spec.multiplier_down)
            if order.side == "BUY" and order.price > hi:
                raise errors.err(errors.PRICE_HIGH, spec.fmt_price(hi))
            if order.side == "SELL" and order.price < lo:
                raise errors.err(errors.PRICE_LOW, spec.fmt_price(lo))
        if order.reduce_only and not self.reduces(order):
            raise errors.err(errors.REDUCE_ONLY)
        closing = self.hedge_close(order)
        if closing:
            held = abs(self.ex.account.position(order.symbol, order.position_side).amt)
            if order.qty > held:
                raise errors.err(errors.REDUCE_ONLY)
        ref = order.price if order.type == "LIMIT" else mark
        if not (order.reduce_only or closing) and order.qty * ref < spec.min_notional:
            raise errors.min_notional(spec.min_notional)
        if not (order.reduce_only or closing):
            self.check_margin(order, ref)

    def check_margin(self, order: Order, ref: Decimal) -> None:
        acct = self.ex.account
        pos = acct.position(order.symbol, order.position_side)
        opening = order.qty
        if self.reduces(order):
            opening = max(ZERO, order.qty - abs(pos.amt))
        need = opening * ref / acct.lev(order.symbol)
        if need > 0 and need > acct.available(self.ex.marks(), self.order_margin()):
            raise errors.err(errors.MARGIN)

    def order_margin(self) -> Decimal:
        acct = self.ex.account
        return sum(
            (
                o.remaining * o.price / acct.lev(o.symbol)
                for o in self.open_orders()
                if not o.reduce_only
            ),
            ZERO,
        )

    def submit(self, order: Order) -> dict[str, Any]:
        """Accept a validated order, match what crosses, and rest / expire the remainder.

        Return the ACK body: the order as it stood when accepted (status NEW, nothing filled).
        """
        book = self.ex.market(order.symbol).book
        limit = order.price if order.type == "LIMIT" else None
        if order.tif == "GTX" and order.type == "LIMIT":
            best = book.best_ask() if order.side == "BUY" else book.best_bid()
            if best and (order.price >= best if order.side == "BUY" else order.price <= best):
                raise errors.err(errors.GTX)
        fraction = self.partial_fills.pop(0) if self.partial_fills else None
        if (
            order.tif == "FOK"
            and order.type == "LIMIT"
            and (fraction is not None or book.available(order.side, limit) < order.qty)
        ):
            raise errors.err(errors.FOK)
        self._next_id += 1
        order.order_id = self._next_id
        order.update_time = order.time
        order.fill_fraction = fraction
        self.orders[order.order_id] = order
        ack = order.as_json(with_time=False)
        self.ex.emit_order(order, "NEW")
        self.take(order, limit)
        if order.is_open and (order.type == "MARKET" or order.tif in ("IOC", "FOK")):
            self.finish(order, "EXPIRED")
        return ack

    def fill_cap(self, order: Order) -> Decimal:
        """Return how much of ``order`` may fill now (partial-fill fault and reduce-only caps)."""
        cap = order.remaining
        if order.fill_fraction is not None:
            allowed = self.ex.spec(order.symbol).round_qty_down(order.qty * order.fill_fraction)
            cap = min(cap, max(ZERO, allowed - order.executed))
        if order.reduce_only or order.close_position or self.hedge_close(order):
            pos = self.ex.account.position(order.symbol, order.position_side)
            cap = min(cap, abs(pos.amt) if self.reduces(order) else ZERO)
        return cap

    def take(self, order: Order, limit: Decimal | None) -> None:
        cap = self.fill_cap(order)
        if cap <= 0:
            return
        fills = self.ex.market(order.symbol).book.take(order.side, cap, limit)
        for px, q in fills:
            self.fill(order, px, q, maker=False)
        if fills and order.fill_fraction is not None:
            order.fill_fraction = None  # the fault limits one match; later moves fill the rest

    def fill(self, order: Order, price: Decimal, qty: Decimal, *, maker: bool) -> None:
        now = self.ex.now()
        # the fill is a trade on the tape: the buyer is the taker when a taker buys or a maker sells
        trade_id = self.ex.print_trade(order.symbol, price, qty, (order.side == "BUY") != maker)
        trade = self.ex.account.fill(
            trade_id=trade_id,
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            position_side=order.position_side,
            price=price,
            qty=qty,
            maker=maker,
            now=now,
        )
        order.executed += qty
        order.cum_quote += price * qty
        order.trades.append(trade.id)
        order.update_time = now
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        spec = self.ex.spec(order.symbol)
        self.ex.emit_user(
            {
                "e": "TRADE_LITE",
                "E": now,
                "T": now,
                "s": order.symbol,
                "q": spec.fmt_qty(qty),
                "p": spec.fmt_price(order.price),
                "m": maker,
                "c": order.client_id,
                "S": order.side,
                "L": spec.fmt_price(price),
                "l": spec.fmt_qty(qty),
                "t": trade.id,
                "i": order.order_id,
            }
        )
        self.ex.emit_order(
            order,
            "TRADE",
            last_qty=qty,
            last_price=price,
            commission=trade.commission,
            trade_id=trade.id,
            maker=maker,
            realized=trade.realized_pnl,
            now=now,
        )
        self.ex.emit_account("ORDER", order.symbol, order.position_side, ZERO)
        if order.status == "FILLED":
            self.ex.algos.on_order_final(order)

    def finish(self, order: Order, status: str) -> None:
        order.status = status
        order.update_time = self.ex.now()
        self.ex.emit_order(order, "EXPIRED" if status == "EXPIRED" else "CANCELED")
        self.ex.algos.on_order_final(order)

    # -- modify ----------------------------------------------------------------------------------
    def modify(self, p: dict[str, str]) -> dict[str, Any]:
        """PUT /fapi/v1/order: change an open LIMIT order's price and quantity in place."""
        order = self.find(p)
        spec = self.ex.spec(order.symbol)
        side = params.choice(p, "side", SIDES, -1117, "Invalid side.")
        qty = params.decimal(p, "quantity", required=True)
        price = params.decimal(p, "price", required=True)
        assert qty is not None and price is not None
        if not order.is_open or order.type != "LIMIT" or side != order.side:
            raise errors.BinanceError(-5025, "Only limit order is supported.")
        spec.check_price(price)
        spec.check_qty(qty, market=False)
        if qty <= order.executed:
            raise errors.BinanceError(-5028, "Quantity less than or equal to executed quantity.")
        if qty == order.qty and price == order.price:
            raise errors.BinanceError(-5027, "No need to modify the order.")
        book = self.ex.market(order.symbol).book
        best = book.best_ask() if side == "BUY" else book.best_bid()
        crosses = price >= best if side == "BUY" else price <= best
        if order.tif == "GTX" and crosses:
            raise errors.err(errors.GTX)
        trial = Order(**{**order.__dict__, "qty": qty - order.executed, "price": price})
        trial.executed = ZERO
        self.validate(trial, spec)
        order.qty, order.price, order.update_time = qty, price, self.ex.now()
        self.ex.emit_order(order, "AMENDMENT")
        if crosses:
            self.take(order, price)
        return order.as_json(with_time=False)

    # -- cancel ---------------------------------------------------------------------------------
    def cancel(self, p: dict[str, str]) -> dict[str, Any]:
        order = self.find(p)
        if order.status in FINAL:
            raise errors.unknown_order_cancel()
        self.finish(order, "CANCELED")
        return order.as_json(with_time=False)

    def cancel_all(self, p: dict[str, str]) -> dict[str, Any]:
        spec = get_spec(p.get("symbol"))
        for order in self.open_orders(spec.symbol):
            self.finish(order, "CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # -- price moves ----------------------------------------------------------------------------
    def on_price(self, symbol: str) -> None:
        """Fill resting LIMIT orders the book has moved through."""
        book = self.ex.market(symbol).book
        for order in sorted(self.open_orders(symbol), key=lambda o: o.order_id):
            if order.type != "LIMIT":
                continue
            crossed = (
                order.price >= book.best_ask()
                if order.side == "BUY"
                else order.price <= book.best_bid()
            )
            if not crossed:
                continue
            cap = self.fill_cap(order)
            if cap > 0:
                self.fill(order, order.price, cap, maker=True)
            if (
                order.is_open
                and order.reduce_only
                and self.fill_cap(order) == 0
                and not self.reduces(order)
            ):
                self.finish(order, "EXPIRED")
            elif order.is_open and order.fill_fraction is not None and cap > 0:
                order.fill_fraction = None  # the fault limits one fill; later moves fill the rest
