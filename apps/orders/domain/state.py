"""The one table of legal order-state transitions.

Every status change of an order, from any source (our own submission, a REST answer, a
user-stream event, reconciliation), goes through ``check_transition``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from apps.exchange.domain.types import OrderReport


class OrderStatus(StrEnum):
    PENDING_NEW = "PENDING_NEW"  # written locally, not yet acknowledged by the exchange
    NEW = "NEW"  # resting on the book (or an untriggered conditional order)
    TRIGGERED = "TRIGGERED"  # a conditional order fired and became a regular order
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"  # cancel sent, not yet confirmed
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


TERMINAL: frozenset[OrderStatus] = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

_S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_NEW: frozenset(
        {_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED}
    ),
    _S.NEW: frozenset(
        {_S.TRIGGERED, _S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
    ),
    _S.TRIGGERED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
    ),
    # Another partial fill keeps the status; it is still a recorded transition.
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
    ),
    _S.PENDING_CANCEL: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}


class IllegalTransition(ValueError):
    """An order was asked to move between two states the table does not connect."""

    def __init__(self, current: OrderStatus | str, target: OrderStatus | str) -> None:
        super().__init__(f"illegal order transition {current} -> {target}")
        self.current = current
        self.target = target


def check_transition(current: OrderStatus | str, target: OrderStatus | str) -> OrderStatus:
    """Return ``target`` as an ``OrderStatus`` if the move is legal; raise ``IllegalTransition``."""
    try:
        cur, tgt = OrderStatus(current), OrderStatus(target)
    except ValueError as exc:
        raise IllegalTransition(current, target) from exc
    if tgt not in TRANSITIONS[cur]:
        raise IllegalTransition(cur, tgt)
    return tgt


def is_terminal(status: OrderStatus | str) -> bool:
    return OrderStatus(status) in TERMINAL


def report_target_status(current: OrderStatus | str, report: OrderReport) -> OrderStatus:
    """The status a venue report asks for: its own, except that a conditional order still NEW
    that got a regular order id has fired (TRIGGERED)."""
    target = OrderStatus(report.status.value)
    if (
        target == OrderStatus.NEW
        and OrderStatus(current) == OrderStatus.NEW
        and report.type.is_conditional
        and report.order_id is not None
    ):
        return OrderStatus.TRIGGERED
    return target


def report_stale_reason(
    current: OrderStatus | str, filled: Decimal, report: OrderReport, target: OrderStatus
) -> str:
    """Why a report must be ignored (less filled than known, or an illegal move), or ""."""
    if report.filled_qty < filled:
        return f"filled {report.filled_qty} < known {filled}"
    if target == current:
        return ""
    try:
        check_transition(current, target)
    except IllegalTransition as exc:
        return str(exc)
    return ""
