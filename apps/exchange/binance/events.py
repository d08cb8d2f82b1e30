"""Stream events the adapter adds to the domain's (`apps.exchange.domain.events`).

User-stream order changes are the domain's `OrderUpdated` / `OrderFilled`; these cover what the
domain has no type for yet: account and position changes, closed candles, and reconnects.
Translation functions from Binance stream payloads are here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.exchange.domain.events import OrderFilled, OrderUpdated
from apps.exchange.domain.types import (
    BookTicker,
    Candle,
    Fill,
    OrderBook,
    OrderReport,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    ms_to_datetime,
)

from .mapping import ALGO_STATUS, ORDER_STATUS, dec

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BalanceChange:
    asset: str
    wallet_balance: Decimal
    cross_wallet_balance: Decimal
    change: Decimal  # balance change other than PnL and commission (e.g. funding, transfer)


@dataclass(frozen=True, slots=True)
class PositionChange:
    symbol: str
    quantity: Decimal  # signed
    entry_price: Decimal
    unrealized_pnl: Decimal
    position_side: PositionSide
    margin_type: str


@dataclass(frozen=True, slots=True)
class AccountUpdated:
    """ACCOUNT_UPDATE: `reason` is Binance's (ORDER, FUNDING_FEE, DEPOSIT, ...); only the
    balances and positions that changed are listed."""

    reason: str
    balances: tuple[BalanceChange, ...]
    positions: tuple[PositionChange, ...]
    time: datetime


@dataclass(frozen=True, slots=True)
class CandleClosed:
    symbol: str
    interval: str
    candle: Candle
    gap_fill: bool = False  # True when recovered over REST after a reconnect


@dataclass(frozen=True, slots=True)
class StreamReconnected:
    """The stream was down and is back; `recovered` events were fetched over REST."""

    stream: str
    recovered: int
    time: datetime


UserEvent = OrderUpdated | OrderFilled | AccountUpdated | StreamReconnected
MarketEvent = CandleClosed | BookTicker | OrderBook | StreamReconnected


def _time(ms: Any) -> datetime:
    return ms_to_datetime(int(ms))


def order_from_event(o: Json) -> OrderReport:
    """ORDER_TRADE_UPDATE `o` -> the order's state after the event."""
    kind_name = o.get("ot") if o.get("ot") in OrderType.__members__ else o.get("o")
    kind = OrderType(kind_name) if kind_name in OrderType.__members__ else OrderType.MARKET
    tif = o.get("f")
    close = bool(o.get("cp", False))
    return OrderReport(
        symbol=o["s"],
        client_order_id=o["c"],
        side=Side(o["S"]),
        type=kind,
        status=ORDER_STATUS.get(o.get("X", "NEW"), OrderStatus.NEW),
        quantity=None if close else dec(o.get("q")),
        filled_qty=dec(o.get("z")),
        avg_price=dec(o.get("ap")),
        price=dec(o.get("p")) if kind is OrderType.LIMIT else None,
        trigger_price=dec(o.get("sp")) if kind.is_conditional and dec(o.get("sp")) > 0 else None,
        time_in_force=TimeInForce(tif)
        if kind is OrderType.LIMIT and tif in TimeInForce.__members__
        else None,
        reduce_only=bool(o.get("R", False)),
        close_position=close,
        position_side=PositionSide(o.get("ps") or "BOTH"),
        order_id=int(o["i"]) if o.get("i") is not None else None,
        updated_at=_time(o["T"]) if o.get("T") else None,
    )


def order_event(event: Json) -> OrderUpdated | OrderFilled:
    o = event["o"]
    order = order_from_event(o)
    when = _time(event.get("T") or event.get("E"))
    if o.get("x") == "TRADE" and dec(o.get("l")) > 0:
        fill = Fill(
            symbol=order.symbol,
            side=order.side,
            price=dec(o.get("L")),
            qty=dec(o.get("l")),
            fee=dec(o.get("n")),
            fee_asset=str(o.get("N") or ""),
            is_maker=bool(o.get("m", False)),
            realized_pnl=dec(o.get("rp")),
            time=when,
            trade_id=int(o.get("t") or 0),
            order_id=order.order_id,
            client_order_id=order.client_order_id,
        )
        return OrderFilled(fill=fill, order=order, time=when)
    return OrderUpdated(order=order, time=when)


def algo_event(event: Json) -> OrderUpdated:
    """ALGO_UPDATE `o` -> the conditional order's state."""
    o = event["o"]
    status_name = o.get("X", "NEW")
    filled = dec(o.get("aq"))
    status = ALGO_STATUS.get(status_name, OrderStatus.NEW)
    if status_name == "FINISHED":
        status = OrderStatus.FILLED if filled > 0 else OrderStatus.EXPIRED
    elif status_name == "TRIGGERED" and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    close = bool(o.get("cp", False))
    kind = OrderType(o["o"]) if o.get("o") in OrderType.__members__ else OrderType.STOP_MARKET
    actual = o.get("ai")
    order = OrderReport(
        symbol=o["s"],
        client_order_id=o["caid"],
        side=Side(o["S"]),
        type=kind,
        status=status,
        quantity=None if close else dec(o.get("q")),
        filled_qty=filled,
        avg_price=dec(o.get("ap")),
        trigger_price=dec(o.get("tp")) if dec(o.get("tp")) > 0 else None,
        reduce_only=bool(o.get("R", False)),
        close_position=close,
        position_side=PositionSide(o.get("ps") or "BOTH"),
        order_id=int(actual) if actual not in (None, "", "0") else None,
        algo_id=int(o["aid"]),
    )
    return OrderUpdated(order=order, time=_time(event.get("T") or event.get("E")))


def account_event(event: Json) -> AccountUpdated:
    a = event["a"]
    return AccountUpdated(
        reason=str(a.get("m", "")),
        balances=tuple(
            BalanceChange(b["a"], dec(b.get("wb")), dec(b.get("cw")), dec(b.get("bc")))
            for b in a.get("B", [])
        ),
        positions=tuple(
            PositionChange(
                symbol=p["s"],
                quantity=dec(p.get("pa")),
                entry_price=dec(p.get("ep")),
                unrealized_pnl=dec(p.get("up")),
                position_side=PositionSide(p.get("ps") or "BOTH"),
                margin_type=str(p.get("mt", "cross")),
            )
            for p in a.get("P", [])
        ),
        time=_time(event.get("T") or event.get("E")),
    )


def kline_candle(k: Json) -> Candle:
    return Candle(
        open_time=_time(k["t"]),
        open=dec(k["o"]),
        high=dec(k["h"]),
        low=dec(k["l"]),
        close=dec(k["c"]),
        volume=dec(k["v"]),
        close_time=_time(int(k["T"]) + 1),
    )


def book_ticker_event(data: Json) -> BookTicker:
    return BookTicker(
        symbol=data["s"],
        bid_price=dec(data["b"]),
        bid_qty=dec(data["B"]),
        ask_price=dec(data["a"]),
        ask_qty=dec(data["A"]),
        time=_time(data.get("T") or data.get("E")),
    )


def depth_event(data: Json, symbol: str) -> OrderBook:
    return OrderBook.from_levels(
        data.get("s", symbol),
        [(dec(p), dec(q)) for p, q in data.get("b", [])],
        [(dec(p), dec(q)) for p, q in data.get("a", [])],
        time=_time(data.get("T") or data.get("E")),
    )
