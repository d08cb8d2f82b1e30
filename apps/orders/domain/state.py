"""The one table of legal order-state transitions.

Every status change of an order, from any source (our own submission, a REST answer, a
user-stream event, reconciliation), goes through ``check_transition``.
"""

from __future__ import annotations

from enum import StrEnum


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
