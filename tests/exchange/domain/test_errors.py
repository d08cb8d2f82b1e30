from datetime import UTC, datetime

import pytest

from apps.exchange.domain import errors as e
from apps.exchange.domain.errors import classify

TABLE = [
    # (http_status, code, mutating, expected class)
    (400, -2019, False, e.InsufficientMarginError),
    (400, -1111, False, e.PrecisionError),
    (400, -4164, False, e.MinNotionalError),
    (400, -2021, False, e.WouldTriggerError),
    (400, -2022, False, e.ReduceOnlyRejectedError),
    (400, -5022, False, e.PostOnlyRejectedError),
    (400, -4131, False, e.PercentPriceError),
    (400, -1121, False, e.UnknownSymbolError),
    (400, -4116, False, e.DuplicateClientOrderIdError),
    (400, -2013, False, e.OrderNotFoundError),
    (400, -2011, False, e.OrderNotFoundError),
    (400, -4014, False, e.PriceFilterError),
    (400, -4023, False, e.QuantityFilterError),
    (400, -4046, False, e.NoChangeNeededError),
    (400, -4120, False, e.InvalidOrderError),
    (400, -9999, False, e.RejectedError),
    (400, -1021, True, e.TimestampError),
    (429, -1003, True, e.RateLimitedError),
    (400, -1015, True, e.RateLimitedError),
    (401, -2015, False, e.AuthError),
    (400, -1022, False, e.AuthError),
    (418, -1003, False, e.IpBannedError),
    (500, None, False, e.RetryableError),
    (503, None, True, e.UnknownOutcomeError),
    (502, None, False, e.RetryableError),
    (400, -1007, True, e.UnknownOutcomeError),
    (400, -1007, False, e.RetryableError),
    (503, -1008, True, e.RetryableError),
    (None, None, True, e.UnknownOutcomeError),
    (None, None, False, e.RetryableError),
]


@pytest.mark.parametrize(("status", "code", "mutating", "expected"), TABLE)
def test_classify_with_binance_answer_maps_to_tree(status, code, mutating, expected):
    error = classify(status, code, "msg", mutating=mutating)
    assert type(error) is expected


@pytest.mark.parametrize(
    ("error", "branch"),
    [
        (e.InsufficientMarginError(), e.RejectedError),
        (e.PrecisionError(), e.FilterRejectedError),
        (e.RateLimitedError(), e.RetryableError),
        (e.TimestampError(), e.RetryableError),
        (e.IpBannedError(), e.HaltError),
        (e.AuthError(), e.HaltError),
    ],
)
def test_error_tree_with_leaf_belongs_to_its_branch(error, branch):
    assert isinstance(error, branch)
    assert isinstance(error, e.ExchangeError)


def test_classify_with_429_keeps_retry_after():
    error = classify(429, -1003, "Too many requests", retry_after=7.0)
    assert isinstance(error, e.RateLimitedError)
    assert error.retry_after == 7.0


def test_classify_with_418_parses_banned_until():
    error = classify(418, -1003, "Way too many requests; IP banned until 1704067200000.")
    assert isinstance(error, e.IpBannedError)
    assert error.banned_until == datetime(2024, 1, 1, tzinfo=UTC)


def test_classify_with_rejection_keeps_code_and_message_in_one_line():
    error = classify(400, -2019, "Margin is insufficient.")
    assert error.code == -2019
    assert str(error) == "[-2019] Margin is insufficient. (HTTP 400)"
    assert "\n" not in str(error)


def test_rejection_without_code_uses_default_code():
    assert e.MinNotionalError("too small").code == -4164
