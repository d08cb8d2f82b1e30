"""Conditional orders on the Algo Service (POST/GET/DELETE /fapi/v1/algoOrder).

Trigger rules (reference price = mark for workingType MARK_PRICE, else the last price):
STOP/STOP_MARKET buy when ref >= triggerPrice, sell when ref <= triggerPrice; TAKE_PROFIT(_MARKET)
the other way round. TRAILING_STOP_MARKET activates at activatePrice (immediately without one),
then tracks the best price and fires when the price retraces by callbackRate percent.
Placing an order that would fire at once answers -2021. A fired order creates a normal order
(MARKET, or LIMIT at ``price`` for STOP/TAKE_PROFIT) whose id is ``actualOrderId``; its
clientOrderId is the clientAlgoId.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import errors, params
from .engine import CONDITIONAL_TYPES, MAX_OPEN_ALGOS, SIDES, TIFS
from .orders import FINAL, AlgoOrder, Order
from .symbols import get_spec

if TYPE_CHECKING:
    from .exchange import Exchange

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class AlgoEngine:
    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.algos: dict[int, AlgoOrder] = {}
        self._next_id = 3_000_000
        self._by_order: dict[int, int] = {}

    def open_algos(self, symbol: str | None = None) -> list[AlgoOrder]:
        return [a for a in self.algos.values() if a.is_open and symbol in (None, a.symbol)]

    def find(self, p: dict[str, str]) -> AlgoOrder:
        algo_id = params.integer(p, "algoId")
        client = p.get("clientAlgoId")
        if algo_id is None and not client:
            raise errors.BinanceError(
                -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
            )
        for algo in reversed(self.algos.values()):
            if algo.algo_id == algo_id or (algo_id is None and algo.client_algo_id == client):
                return algo
        raise errors.no_such_order()

    def query(self, p: dict[str, str]) -> dict[str, Any]:
        algo = self.find(p)
        return algo.as_json(self._actual(algo), view="query")

    def _actual(self, algo: AlgoOrder) -> Order | None:
        return self.ex.engine.orders.get(algo.actual_order_id or -1)

    def reference(self, algo: AlgoOrder) -> Decimal:
        market = self.ex.market(algo.symbol)
        return market.mark if algo.working_type == "MARK_PRICE" else market.last

    # -- placement ------------------------------------------------------------------------------
    def place(self, p: dict[str, str]) -> dict[str, Any]:
        if p.get("algoType") != "CONDITIONAL":
            raise errors.missing("algoType")
        spec = get_spec(p.get("symbol"))
        side = params.choice(p, "side", SIDES, -1117, "Invalid side.")
        otype = params.choice(p, "type", CONDITIONAL_TYPES, -1116, "Invalid orderType.")
        ps = self.ex.engine.position_side(p)
        close = bool(params.boolean(p, "closePosition"))
        reduce_only = params.boolean(p, "reduceOnly")
        if reduce_only is not None and self.ex.account.dual_side:
            raise errors.not_required("reduceOnly")
        qty = params.decimal(p, "quantity")
        if close:
            if otype not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
                raise errors.not_required("closePosition")
            if qty is not None:
                raise errors.err(errors.CLOSE_POSITION_QTY)
            if reduce_only:
                raise errors.err(errors.CLOSE_POSITION_REDUCE)
            qty = ZERO
        else:
            if qty is None:
                raise errors.missing("quantity")
            spec.check_qty(qty, market=otype.endswith("MARKET"))
        price = ZERO
        tif = "GTC"
        if otype in ("STOP", "TAKE_PROFIT"):
            price = params.decimal(p, "price", required=True) or ZERO
            spec.check_price(price)
            tif = params.choice(p, "timeInForce", TIFS, -1115, "Invalid timeInForce.", "GTC")
        working = params.choice(
            p,
            "workingType",
            ("MARK_PRICE", "CONTRACT_PRICE"),
            -1102,
            "Invalid workingType.",
            default="CONTRACT_PRICE",
        )
        trigger = params.decimal(p, "triggerPrice", required=otype != "TRAILING_STOP_MARKET")
        if trigger is not None:
            spec.check_price(trigger)
        activate = params.decimal(p, "activatePrice")
        rate = params.decimal(p, "callbackRate", required=otype == "TRAILING_STOP_MARKET")
        if otype == "TRAILING_STOP_MARKET":
            assert rate is not None
            if not Decimal("0.1") <= rate <= Decimal(10):
                raise errors.err(errors.CALLBACK_RATE)
            if activate is not None:
                spec.check_price(activate)
        client = params.client_id(p, "clientAlgoId") or self.ex.new_client_id()
        if any(a.client_algo_id == client for a in self.open_algos()):
            raise errors.err(errors.DUPLICATE)
        if len(self.open_algos()) >= MAX_OPEN_ALGOS:
            raise errors.BinanceError(-4045, "Reach max stop order limit.")
        now = self.ex.now()
        algo = AlgoOrder(
            algo_id=0,
            client_algo_id=client,
            symbol=spec.symbol,
            side=side,
            order_type=otype,
            position_side=ps,
            tif=tif,
            qty=qty,
            price=price,
            trigger_price=trigger or ZERO,
            working_type=working,
            close_position=close,
            reduce_only=bool(reduce_only),
            price_protect=bool(params.boolean(p, "priceProtect")),
            activate_price=activate,
            callback_rate=rate,
            create_time=now,
            update_time=now,
        )
        ref = self.reference(algo)
        if otype == "TRAILING_STOP_MARKET":
            if activate is not None and self._activates(algo, ref):
                raise errors.err(errors.WOULD_TRIGGER)
            if activate is None:
                algo.activated, algo.extreme = True, ref
        elif self._fires(algo, ref):
            raise errors.err(errors.WOULD_TRIGGER)
        notional_ref = price or algo.trigger_price or ref
        if not (close or algo.reduce_only) and qty * notional_ref < spec.min_notional:
            raise errors.min_notional(spec.min_notional)
        self._next_id += 1
        algo.algo_id = self._next_id
        self.algos[algo.algo_id] = algo
        self.ex.emit_algo(algo, None)
        return algo.as_json()

    def _activates(self, algo: AlgoOrder, ref: Decimal) -> bool:
        act = algo.activate_price or ref
        return ref >= act if algo.side == "SELL" else ref <= act

    def _fires(self, algo: AlgoOrder, ref: Decimal) -> bool:
        t = algo.trigger_price
        if algo.order_type in ("STOP", "STOP_MARKET"):
            return ref >= t if algo.side == "BUY" else ref <= t
        if algo.order_type in ("TAKE_PROFIT", "TAKE_PROFIT_MARKET"):
            return ref <= t if algo.side == "BUY" else ref >= t
        # trailing stop
        if not algo.activated:
            if not self._activates(algo, ref):
                return False
            algo.activated, algo.extreme = True, ref
        rate = (algo.callback_rate or ZERO) / HUNDRED
        if algo.side == "SELL":
            algo.extreme = max(algo.extreme, ref)
            return ref <= algo.extreme * (1 - rate)
        algo.extreme = min(algo.extreme, ref)
        return ref >= algo.extreme * (1 + rate)

    # -- cancel ---------------------------------------------------------------------------------
    def cancel(self, p: dict[str, str]) -> dict[str, Any]:
        algo = self.find(p)
        if not algo.is_open:
            raise errors.unknown_order_cancel()
        self._set(algo, "CANCELED")
        return {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        }

    def cancel_all(self, p: dict[str, str]) -> dict[str, Any]:
        spec = get_spec(p.get("symbol"))
        for algo in self.open_algos(spec.symbol):
            self._set(algo, "CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _set(self, algo: AlgoOrder, status: str, reason: str = "") -> None:
        algo.status = status
        algo.reason = reason
        algo.update_time = self.ex.now()
        self.ex.emit_algo(algo, self._actual(algo))

    # -- triggering -----------------------------------------------------------------------------
    def on_price(self, symbol: str) -> None:
        for algo in sorted(self.open_algos(symbol), key=lambda a: a.algo_id):
            if algo.is_open and self._fires(algo, self.reference(algo)):
                self.fire(algo)

    def fire(self, algo: AlgoOrder) -> None:
        engine = self.ex.engine
        algo.trigger_time = self.ex.now()
        self._set(algo, "TRIGGERING")
        qty = algo.qty
        if algo.close_position:
            qty = abs(self.ex.account.position(algo.symbol, algo.position_side).amt)
        market = algo.order_type.endswith("MARKET")
        order = Order(
            order_id=0,
            client_id=algo.client_algo_id,
            symbol=algo.symbol,
            side=algo.side,
            type="MARKET" if market else "LIMIT",
            tif=algo.tif,
            qty=qty,
            price=ZERO if market else algo.price,
            reduce_only=algo.reduce_only or algo.close_position,
            position_side=algo.position_side,
            time=self.ex.now(),
            close_position=algo.close_position,
            orig_type=algo.order_type,
            stop_price=algo.trigger_price,
            working_type=algo.working_type,
        )
        try:
            if qty <= 0 or ((order.reduce_only) and not engine.reduces(order)):
                raise errors.err(errors.REDUCE_ONLY)
            engine.validate(order, self.ex.spec(algo.symbol))
        except errors.BinanceError as exc:
            self._set(algo, "REJECTED", exc.msg)
            return
        engine.submit(order)  # fills here are final before the algo is TRIGGERED; checked below
        algo.actual_order_id = order.order_id
        self._by_order[order.order_id] = algo.algo_id
        self._set(algo, "TRIGGERED")
        if order.status in FINAL:
            self._set(algo, "FINISHED")

    def on_order_final(self, order: Order) -> None:
        algo_id = self._by_order.get(order.order_id)
        algo = self.algos.get(algo_id) if algo_id is not None else None
        if algo is not None and algo.status == "TRIGGERED":
            self._set(algo, "FINISHED")
