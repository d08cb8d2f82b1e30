"""Binance JSON (REST and user stream) to domain values, and domain values to parameters."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from apps.exchange.domain.types import (
    Balance,
    BookTicker,
    Candle,
    Fill,
    FundingFee,
    FundingRate,
    MarginType,
    MarkPrice,
    OrderBook,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    PositionInfo,
    PositionSide,
    Side,
    Ticker,
    TimeInForce,
    ms_to_datetime,
)

ZERO = Decimal(0)
Json = Mapping[str, Any]


def dec(value: Any, default: Decimal = ZERO) -> Decimal:
    if value is None or value == "":
        return default
    return Decimal(str(value))


def text(value: Decimal) -> str:
    """Plain decimal text (never exponent notation), as Binance expects."""
    return f"{value:f}"


def flag(value: bool) -> str:
    return "true" if value else "false"


def _time(value: Any) -> Any:
    return ms_to_datetime(int(value)) if value not in (None, "", 0, "0") else None


def _positive(value: Any) -> Decimal | None:
    number = dec(value)
    return number if number > 0 else None


ORDER_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
# algoStatus -> our status; TRIGGERED / FINISHED defer to the order they created, if known.
ALGO_STATUS = {
    "NEW": OrderStatus.NEW,
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.NEW,
    "FINISHED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}


def order_type(raw: Json) -> OrderType:
    for key in ("origType", "type", "orderType"):
        name = raw.get(key)
        if name in OrderType.__members__:
            return OrderType(name)
    return OrderType.LIMIT if dec(raw.get("price")) > 0 else OrderType.MARKET


def order_report(raw: Json) -> OrderReport:
    """A regular order (POST/GET/DELETE /fapi/v1/order, openOrders)."""
    kind = order_type(raw)
    tif = raw.get("timeInForce")
    return OrderReport(
        symbol=raw["symbol"],
        client_order_id=raw["clientOrderId"],
        side=Side(raw["side"]),
        type=kind,
        status=ORDER_STATUS.get(raw.get("status", "NEW"), OrderStatus.NEW),
        quantity=dec(raw.get("origQty")) if not raw.get("closePosition") else None,
        filled_qty=dec(raw.get("executedQty")),
        avg_price=dec(raw.get("avgPrice")),
        price=_positive(raw.get("price")) if kind is OrderType.LIMIT else None,
        trigger_price=_positive(raw.get("stopPrice")) if kind.is_conditional else None,
        time_in_force=TimeInForce(tif)
        if kind is OrderType.LIMIT and tif in TimeInForce.__members__
        else None,
        reduce_only=bool(raw.get("reduceOnly", False)),
        close_position=bool(raw.get("closePosition", False)),
        position_side=PositionSide(raw.get("positionSide") or "BOTH"),
        order_id=int(raw["orderId"]) if raw.get("orderId") is not None else None,
        created_at=_time(raw.get("time")),
        updated_at=_time(raw.get("updateTime")),
    )


def algo_report(raw: Json, actual: OrderReport | None = None) -> OrderReport:
    """A conditional order (/fapi/v1/algoOrder); `actual` is the order its trigger created."""
    kind = order_type(raw)
    status = ALGO_STATUS.get(raw.get("algoStatus", "NEW"), OrderStatus.NEW)
    if actual is not None and raw.get("algoStatus") in ("TRIGGERED", "FINISHED"):
        status = actual.status
    close = bool(raw.get("closePosition", False))
    actual_id = raw.get("actualOrderId")
    return OrderReport(
        symbol=raw["symbol"],
        client_order_id=raw["clientAlgoId"],
        side=Side(raw["side"]),
        type=kind,
        status=status,
        quantity=None if close else dec(raw.get("quantity")),
        filled_qty=actual.filled_qty if actual else ZERO,
        avg_price=actual.avg_price if actual else ZERO,
        trigger_price=_positive(raw.get("triggerPrice")),
        reduce_only=bool(raw.get("reduceOnly", False)),
        close_position=close,
        position_side=PositionSide(raw.get("positionSide") or "BOTH"),
        activation_price=_positive(raw.get("activatePrice")),
        callback_rate=_positive(raw.get("callbackRate")),
        order_id=int(actual_id) if actual_id not in (None, "", "0") else None,
        algo_id=int(raw["algoId"]),
        created_at=_time(raw.get("createTime")),
        updated_at=_time(raw.get("updateTime")),
    )


def order_params(request: OrderRequest, client_id: str, working_type: str) -> dict[str, Any]:
    """Parameters of POST /fapi/v1/order or /fapi/v1/algoOrder for a prepared request."""
    p: dict[str, Any] = {
        "symbol": request.symbol,
        "side": request.side.value,
        "type": request.type.value,
    }
    if request.position_side is not PositionSide.BOTH:
        p["positionSide"] = request.position_side.value
    if request.quantity is not None:
        p["quantity"] = text(request.quantity)
    if request.reduce_only:
        p["reduceOnly"] = "true"
    if request.type.is_conditional:
        p["algoType"] = "CONDITIONAL"
        p["clientAlgoId"] = client_id
        p["workingType"] = working_type
        if request.trigger_price is not None:
            p["triggerPrice"] = text(request.trigger_price)
        if request.close_position:
            p["closePosition"] = "true"
        if request.activation_price is not None:
            p["activatePrice"] = text(request.activation_price)  # not activationPrice (#1658)
        if request.callback_rate is not None:
            p["callbackRate"] = text(request.callback_rate)
        return p
    p["newClientOrderId"] = client_id
    p["newOrderRespType"] = "RESULT"
    if request.type is OrderType.LIMIT:
        assert request.price is not None
        p["price"] = text(request.price)
        p["timeInForce"] = (request.effective_time_in_force or TimeInForce.GTC).value
    return p


def candle(row: list[Any]) -> Candle:
    return Candle(
        open_time=ms_to_datetime(int(row[0])),
        open=dec(row[1]),
        high=dec(row[2]),
        low=dec(row[3]),
        close=dec(row[4]),
        volume=dec(row[5]),
        close_time=ms_to_datetime(int(row[6]) + 1),
    )


def order_book(symbol: str, raw: Json, limit: int) -> OrderBook:
    return OrderBook.from_levels(
        symbol,
        [(dec(p), dec(q)) for p, q in raw.get("bids", [])[:limit]],
        [(dec(p), dec(q)) for p, q in raw.get("asks", [])[:limit]],
        time=_time(raw.get("T") or raw.get("E")),
    )


def ticker(raw: Json) -> Ticker:
    return Ticker(symbol=raw["symbol"], price=dec(raw["price"]), time=_time(raw.get("time")))


def book_ticker(raw: Json) -> BookTicker:
    return BookTicker(
        symbol=raw["symbol"],
        bid_price=dec(raw["bidPrice"]),
        bid_qty=dec(raw["bidQty"]),
        ask_price=dec(raw["askPrice"]),
        ask_qty=dec(raw["askQty"]),
        time=_time(raw.get("time")),
    )


def mark_price(raw: Json) -> MarkPrice:
    return MarkPrice(
        symbol=raw["symbol"],
        mark_price=dec(raw["markPrice"]),
        index_price=dec(raw.get("indexPrice")),
        funding_rate=dec(raw.get("lastFundingRate")),
        next_funding_time=_time(raw.get("nextFundingTime")),
        time=_time(raw.get("time")),
    )


def funding_rate(raw: Json) -> FundingRate:
    return FundingRate(
        symbol=raw["symbol"],
        rate=dec(raw["fundingRate"]),
        time=ms_to_datetime(int(raw["fundingTime"])),
        mark_price=_positive(raw.get("markPrice")),
    )


def balance(raw: Json) -> Balance:
    return Balance(
        asset=raw["asset"],
        wallet_balance=dec(raw.get("balance", raw.get("walletBalance"))),
        available_balance=dec(raw.get("availableBalance")),
        unrealized_pnl=dec(raw.get("crossUnPnl", raw.get("unrealizedProfit"))),
    )


def position(raw: Json, config: Json | None) -> PositionInfo:
    margin = (config or {}).get("marginType") or raw.get("marginType") or "CROSSED"
    margin = {"cross": "CROSSED", "isolated": "ISOLATED"}.get(str(margin), str(margin).upper())
    return PositionInfo(
        symbol=raw["symbol"],
        quantity=dec(raw["positionAmt"]),
        entry_price=dec(raw.get("entryPrice")),
        mark_price=dec(raw.get("markPrice")),
        unrealized_pnl=dec(raw.get("unRealizedProfit")),
        leverage=int((config or {}).get("leverage") or raw.get("leverage") or 1),
        liquidation_price=_positive(raw.get("liquidationPrice")),
        margin_type=MarginType(margin),
        isolated_margin=dec(raw.get("isolatedMargin")),
        position_side=PositionSide(raw.get("positionSide") or "BOTH"),
    )


def funding_fee(raw: Json) -> FundingFee:
    return FundingFee(
        symbol=str(raw["symbol"]),
        amount=dec(raw["income"]),
        time=ms_to_datetime(int(raw["time"])),
        venue_id=str(raw["tranId"]),
    )


def fill(raw: Json, client_order_id: str = "") -> Fill:
    return Fill(
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        price=dec(raw["price"]),
        qty=dec(raw["qty"]),
        fee=dec(raw.get("commission")),
        fee_asset=str(raw.get("commissionAsset", "")),
        is_maker=bool(raw.get("maker", False)),
        realized_pnl=dec(raw.get("realizedPnl")),
        time=ms_to_datetime(int(raw["time"])),
        trade_id=int(raw.get("id", 0)),
        order_id=int(raw["orderId"]) if raw.get("orderId") is not None else None,
        client_order_id=client_order_id,
    )
