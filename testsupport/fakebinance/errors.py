"""Binance error bodies ({"code", "msg"}) and the HTTP status each comes with."""

from __future__ import annotations

from typing import Any


class BinanceError(Exception):
    """A rejection the fake answers with Binance's JSON error body."""

    def __init__(
        self, code: int, msg: str, status: int = 400, retry_after: int | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def missing(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def bad_param(name: str) -> BinanceError:
    return BinanceError(-1102, f"Parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def no_such_order() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def unknown_order_cancel() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


PRECISION = (-1111, "Precision is over the maximum defined for this asset.")
TICK = (-4014, "Price not increased by tick size.")
STEP = (-4023, "Quantity not increased by step size.")
QTY_ZERO = (-4003, "Quantity less than or equal to zero.")
QTY_MIN = (-4004, "Quantity less than min quantity.")
QTY_MAX = (-4005, "Quantity greater than max quantity.")
PRICE_ZERO = (-4001, "Price less than 0.")
PRICE_MIN = (-4002, "Price greater than max price.")
REDUCE_ONLY = (-2022, "ReduceOnly Order is rejected.")
MARGIN = (-2019, "Margin is insufficient.")
WOULD_TRIGGER = (-2021, "Order would immediately trigger.")
ALGO_ONLY = (-4120, "Order type not supported for this endpoint. Please use the Algo Order API.")
DUPLICATE = (-4116, "ClientOrderId is duplicated.")
FOK = (
    -5021,
    "Due to the order could not be filled immediately, the FOK order has been rejected. "
    "The order will not be recorded in the order history",
)
GTX = (
    -5022,
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history",
)
POSITION_SIDE = (-4061, "Order's position side does not match user's setting.")
CLOSE_POSITION_QTY = (-4137, "Quantity must be zero with closePosition equals true.")
CLOSE_POSITION_REDUCE = (-4138, "Reduce only must be true with closePosition equals true.")
PRICE_HIGH = (-4016, "Limit price can't be higher than {}.")
PRICE_LOW = (-4024, "Limit price can't be lower than {}.")
NO_CHANGE_MARGIN = (-4046, "No need to change margin type.")
NO_CHANGE_MODE = (-4059, "No need to change position side.")
LISTEN_KEY = (-1125, "This listenKey does not exist.")
CALLBACK_RATE = (-2007, "Invalid callBack rate.")
ACTIVATE_PRICE = (-4135, "Invalid activation price.")
LEVERAGE = (-4028, "Leverage {} is not valid")


def err(pair: tuple[int, str], *args: object, status: int = 400) -> BinanceError:
    code, msg = pair
    return BinanceError(code, msg.format(*args) if args else msg, status)


def min_notional(notional: object) -> BinanceError:
    return BinanceError(
        -4164,
        f"Order's notional must be no smaller than {notional} (unless you choose reduce only).",
    )
