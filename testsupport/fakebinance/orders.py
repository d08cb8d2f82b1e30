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
        spec = SPECS[self.symbol]
        out: dict[str, Any] = {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_id,
            "price": spec.fmt_price(self.price),
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
            "stopPrice": spec.fmt_price(self.stop_price),
            "workingType": self.working_type,
            "priceProtect": False,
            "origType": self.orig_type or self.type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "updateTime": self.update_time,
        }
        if with_time:
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
    ) -> dict[str, Any]:
        spec = SPECS[self.symbol]
        return {
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
            "l": spec.fmt_qty(last_qty),
            "z": spec.fmt_qty(self.executed),
            "L": spec.fmt_price(last_price),
            "N": "USDT",
            "n": fmt(commission),
            "T": now,
            "t": trade_id,
            "b": "0",
            "a": "0",
            "m": maker,
            "R": self.reduce_only,
            "wt": self.working_type,
            "ot": self.orig_type or self.type,
            "ps": self.position_side,
            "cp": self.close_position,
            "rp": fmt(realized),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        }


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

    def as_json(self, actual: Order | None = None) -> dict[str, Any]:
        spec = SPECS[self.symbol]
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
            "triggerPrice": spec.fmt_price(self.trigger_price),
            "price": spec.fmt_price(self.price),
            "icebergQuantity": None,
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": self.working_type,
            "priceMatch": "NONE",
            "closePosition": self.close_position,
            "priceProtect": self.price_protect,
            "reduceOnly": self.reduce_only,
            "activatePrice": spec.fmt_price(self.activate_price) if self.activate_price else "",
            "callbackRate": f"{self.callback_rate:f}" if self.callback_rate else "",
            "createTime": self.create_time,
            "updateTime": self.update_time,
            "triggerTime": self.trigger_time,
            "goodTillDate": 0,
        }
        if self.actual_order_id is not None:
            out["actualOrderId"] = str(self.actual_order_id)
            out["actualPrice"] = fmt(actual.avg_price) if actual else "0"
        return out

    def event(self, actual: Order | None = None) -> dict[str, Any]:
        spec = SPECS[self.symbol]
        return {
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
            "ap": fmt(actual.avg_price) if actual else "0.00000",
            "aq": spec.fmt_qty(actual.executed) if actual else "0",
            "act": "0",
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
