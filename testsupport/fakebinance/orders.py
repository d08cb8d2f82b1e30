"""Order and algo-order records and their Binance JSON / user-stream shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .accounts import fmt
from .symbols import SPECS

ZERO = Decimal(0)
FINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


@dataclass
class Order:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    reduce_only: bool
    position_side: str
    time: int
    close_position: bool = False
    orig_type: str = ""
    stop_price: Decimal = ZERO
    working_type: str = "CONTRACT_PRICE"
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    fill_fraction: Decimal | None = None  # partial-fill fault: the share of qty that may fill
    trades: list[int] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else ZERO

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def as_json(self, *, with_time: bool = True) -> dict[str, Any]:
        """Return the order as Binance's query endpoints show it (GET order, openOrders,
        allOrders: with ``time``), or with ``with_time=False`` as the new / cancel / modify
        answers do (``cumQty`` instead of ``time``)."""
        spec = SPECS[self.symbol]
        out: dict[str, Any] = {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_id,
            "price": spec.fmt_price(self.price),
            # "0" until something fills (Binance sends a zero average then too)
            "avgPrice": fmt(self.avg_price),
            "origQty": spec.fmt_qty(self.qty),
            "executedQty": spec.fmt_qty(self.executed),
            "cumQty": spec.fmt_qty(self.executed),
            "cumQuote": fmt(self.cum_quote),
            "timeInForce": self.tif,
            "type": self.type,
            "reduceOnly": self.reduce_only,
            "closePosition": self.close_position,
            "side": self.side,
            "positionSide": self.position_side,
            "stopPrice": spec.fmt_price(self.stop_price),  # "0" for LIMIT/MARKET, as Binance
            "workingType": self.working_type,
            "priceProtect": False,
            "origType": self.orig_type or self.type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,  # 0 unless timeInForce is GTD, as Binance sends
            "updateTime": self.update_time,
        }
        if with_time:
            del out["cumQty"]
            out["time"] = self.time
        return out

    def event(
        self,
        exec_type: str,
        *,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        commission: Decimal = ZERO,
        trade_id: int = 0,
        maker: bool = False,
        realized: Decimal = ZERO,
        now: int = 0,
        bids: Decimal = ZERO,
        asks: Decimal = ZERO,
    ) -> dict[str, Any]:
        """Return the ``o`` object of an ORDER_TRADE_UPDATE; ``bids``/``asks`` are the notional
        of the symbol's open orders on each side after this update."""
        spec = SPECS[self.symbol]
        out: dict[str, Any] = {
            "s": self.symbol,
            "c": self.client_id,
            "S": self.side,
            "o": self.type,
            "f": self.tif,
            "q": spec.fmt_qty(self.qty),
            "p": spec.fmt_price(self.price),
            "ap": fmt(self.avg_price),
            "sp": spec.fmt_price(self.stop_price),
            "x": exec_type,
            "X": self.status,
            "i": self.order_id,
            # last fill: "0" / 0 on events that are not trades, as Binance sends
            "l": spec.fmt_qty(last_qty),
            "z": spec.fmt_qty(self.executed),
            "L": spec.fmt_price(last_price),
            "T": now,
            "t": trade_id,
            "b": fmt(bids, 5),
            "a": fmt(asks, 5),
            "m": maker,
            "R": self.reduce_only,
            "wt": self.working_type,
            "ot": self.orig_type or self.type,
            "ps": self.position_side,
            "cp": self.close_position,
            "rp": fmt(realized),
            "pP": False,
            "si": 0,  # strategy id / type: 0 for orders not placed by a strategy
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        }
        if commission:  # "will not push if no commission" (Binance's docs)
            out["N"] = "USDT"
            out["n"] = fmt(commission)
        return out


@dataclass
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    order_type: str  # STOP_MARKET, TAKE_PROFIT_MARKET, STOP, TAKE_PROFIT, TRAILING_STOP_MARKET
    position_side: str
    tif: str
    qty: Decimal
    price: Decimal
    trigger_price: Decimal
    working_type: str
    close_position: bool
    reduce_only: bool
    price_protect: bool
    activate_price: Decimal | None
    callback_rate: Decimal | None
    create_time: int
    status: str = "NEW"
    update_time: int = 0
    trigger_time: int = 0
    actual_order_id: int | None = None
    reason: str = ""
    activated: bool = False
    extreme: Decimal = ZERO  # trailing stop: best price seen since activation

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "TRIGGERING")

    def as_json(self, actual: Order | None = None, *, view: str = "new") -> dict[str, Any]:
        """Return the algo order as POST algoOrder answers (``view="new"``), as GET algoOrder
        shows it (``"query"``) or as openAlgoOrders / allAlgoOrders list it (``"list"``)."""
        spec = SPECS[self.symbol]
        trailing = self.order_type == "TRAILING_STOP_MARKET"
        out: dict[str, Any] = {
            "algoId": self.algo_id,
            "clientAlgoId": self.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": self.order_type,
            "symbol": self.symbol,
            "side": self.side,
            "positionSide": self.position_side,
            "timeInForce": self.tif,
            "quantity": spec.fmt_qty(self.qty),
            "algoStatus": self.status,
        }
        if view != "new":
            out["actualOrderId"] = str(self.actual_order_id) if self.actual_order_id else ""
            out["actualPrice"] = fmt(actual.avg_price, 5) if actual else "0.00000"
        if view == "query":
            out["actualType"] = self.actual_type
            out["actualQty"] = spec.fmt_qty(actual.qty if actual else self.qty)
        out.update(
            {
                "triggerPrice": spec.fmt_price(self.trigger_price),
                "price": spec.fmt_price(self.price),
                "icebergQuantity": None,
            }
        )
        if view == "list":  # no attached take-profit / stop-loss: Binance sends zeros
            zero = spec.fmt_price(ZERO)
            out.update(tpTriggerPrice=zero, tpPrice=zero, slTriggerPrice=zero, slPrice=zero)
        if view != "new":
            out["tpOrderType"] = ""
        out.update(
            {
                "selfTradePreventionMode": "EXPIRE_MAKER",
                "workingType": self.working_type,
                "priceMatch": "NONE",
                "closePosition": self.close_position,
                "priceProtect": self.price_protect,
                "reduceOnly": self.reduce_only,
            }
        )
        if view == "new" or trailing:
            out["activatePrice"] = (
                spec.fmt_price(self.activate_price) if self.activate_price else ""
            )
            out["callbackRate"] = f"{self.callback_rate:f}" if self.callback_rate else ""
        out.update(
            {
                "createTime": self.create_time,
                "updateTime": self.update_time,
                "triggerTime": self.trigger_time,  # 0 until triggered, as Binance sends
                "goodTillDate": 0,  # 0 unless timeInForce is GTD
            }
        )
        return out

    @property
    def actual_type(self) -> str:
        """The type of the order placed in the matching engine when this fires."""
        return "MARKET" if self.order_type.endswith("MARKET") else "LIMIT"

    def event(self, actual: Order | None = None) -> dict[str, Any]:
        """Return the ``o`` object of an ALGO_UPDATE (``ap``/``aq``/``act`` only once the
        order is placed in the matching engine, ``ia`` only for trailing stops)."""
        spec = SPECS[self.symbol]
        out: dict[str, Any] = {
            "caid": self.client_algo_id,
            "aid": self.algo_id,
            "at": "CONDITIONAL",
            "o": self.order_type,
            "s": self.symbol,
            "S": self.side,
            "ps": self.position_side,
            "f": self.tif,
            "q": spec.fmt_qty(self.qty),
            "X": self.status,
            "ai": str(self.actual_order_id) if self.actual_order_id is not None else "",
        }
        if actual is not None:
            out["ap"] = fmt(actual.avg_price, 5)
            out["aq"] = spec.fmt_qty(actual.executed)
            out["act"] = actual.type
        out.update(
            {
                "tp": spec.fmt_price(self.trigger_price),
                "p": spec.fmt_price(self.price),
                "V": "EXPIRE_MAKER",
                "wt": self.working_type,
                "pm": "NONE",
                "cp": self.close_position,
                "pP": self.price_protect,
                "R": self.reduce_only,
                "tt": self.trigger_time,
                "gtd": 0,
                "rm": self.reason,
            }
        )
        if self.order_type == "TRAILING_STOP_MARKET":
            out["ia"] = self.activated
        return out
