from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from apps.orders.domain.state import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    OrderStatus,
    check_transition,
)
from apps.orders.models import Order
from tests.factories import make_bot, make_order

S = OrderStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING_NEW, S.NEW),
        (S.NEW, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
        (S.NEW, S.TRIGGERED),
        (S.TRIGGERED, S.FILLED),
        (S.NEW, S.PENDING_CANCEL),
        (S.PENDING_CANCEL, S.CANCELED),
        (S.PENDING_CANCEL, S.FILLED),
        (S.PENDING_NEW, S.REJECTED),
    ],
)
def test_check_transition_with_legal_move_returns_target(current, target) -> None:
    assert check_transition(current, target) == target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.FILLED, S.NEW),
        (S.CANCELED, S.FILLED),
        (S.REJECTED, S.NEW),
        (S.NEW, S.REJECTED),
        (S.NEW, S.PENDING_NEW),
        (S.PARTIALLY_FILLED, S.NEW),
        (S.EXPIRED, S.CANCELED),
    ],
)
def test_check_transition_with_illegal_move_raises(current, target) -> None:
    with pytest.raises(IllegalTransition, match=f"{current} -> {target}"):
        check_transition(current, target)


def test_check_transition_with_unknown_status_raises() -> None:
    with pytest.raises(IllegalTransition):
        check_transition("NEW", "HALF_FILLED")


def test_transition_table_with_terminal_states_allows_nothing_out() -> None:
    for status in TERMINAL:
        for target in S:
            with pytest.raises(IllegalTransition):
                check_transition(status, target)
    non_terminal = set(S) - TERMINAL
    for status in non_terminal:  # every live state can still end
        assert TRANSITIONS[status] & TERMINAL


def test_transition_table_with_every_pair_agrees_with_check() -> None:
    for current, target in itertools.product(S, S):
        legal = target in TRANSITIONS[current]
        if legal:
            check_transition(current, target)
        else:
            with pytest.raises(IllegalTransition):
                check_transition(current, target)


@pytest.mark.django_db
def test_order_transition_to_with_legal_path_records_events() -> None:
    order = make_order(make_bot())
    order.transition_to(S.NEW, detail="ack")
    order.filled_quantity = Decimal("0.004")
    order.transition_to(S.PARTIALLY_FILLED)
    order.transition_to(S.FILLED)
    order.refresh_from_db()
    assert order.status == S.FILLED
    assert list(order.events.values_list("from_status", "to_status")) == [
        ("PENDING_NEW", "NEW"),
        ("NEW", "PARTIALLY_FILLED"),
        ("PARTIALLY_FILLED", "FILLED"),
    ]


@pytest.mark.django_db
def test_order_transition_to_with_illegal_move_raises_and_changes_nothing() -> None:
    order = make_order(make_bot())
    order.transition_to(S.NEW)
    order.transition_to(S.CANCELED)
    with pytest.raises(IllegalTransition):
        order.transition_to(S.FILLED)
    order.refresh_from_db()
    assert order.status == S.CANCELED
    assert order.events.count() == 2


@pytest.mark.django_db
def test_order_save_with_status_assigned_directly_is_refused() -> None:
    order = make_order(make_bot())
    order.status = S.NEW
    with pytest.raises(ValueError, match="transition_to"):
        order.save()
    assert Order.objects.get(pk=order.pk).status == S.PENDING_NEW
    order = Order.objects.get(pk=order.pk)
    order.status = S.FILLED  # illegal from PENDING_NEW? no: legal, but still not via the table
    with pytest.raises(ValueError):
        order.save()
    order = Order.objects.get(pk=order.pk)
    order.status = S.EXPIRED
    order.status = S.PENDING_CANCEL  # illegal from PENDING_NEW
    with pytest.raises(IllegalTransition):
        order.save()


def test_order_model_status_choices_with_domain_enum_are_identical() -> None:
    assert [value for value, _ in Order.Status.choices] == [s.value for s in OrderStatus]
    assert Order.Status.PENDING_NEW == "PENDING_NEW"
