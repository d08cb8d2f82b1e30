"""Past-tense events an exchange emits (the simulated one directly, live from the user stream)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .types import Fill, OrderReport


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    """An order changed state (accepted, partly filled, filled, canceled, expired, triggered)."""

    order: OrderReport
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderFilled:
    """One execution of an order; `order` is the state right after it."""

    fill: Fill
    order: OrderReport
    time: datetime


@dataclass(frozen=True, slots=True)
class FundingFeeCharged:
    """Funding settled on a position. `amount` is the wallet change: negative when paid."""

    symbol: str
    rate: Decimal
    mark_price: Decimal
    position_qty: Decimal
    amount: Decimal
    time: datetime


@dataclass(frozen=True, slots=True)
class PositionLiquidated:
    symbol: str
    quantity: Decimal
    price: Decimal
    loss: Decimal
    time: datetime


ExchangeEvent = OrderUpdated | OrderFilled | FundingFeeCharged | PositionLiquidated
