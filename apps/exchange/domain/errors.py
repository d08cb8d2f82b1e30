"""The one exchange error tree, and `classify` which maps a Binance answer onto it.

ExchangeError
├── RetryableError            temporary: retry with backoff (same client order id)
│   ├── RateLimitedError      429 / -1003 / -1015, carries retry_after seconds
│   └── TimestampError        -1021: resync the clock, then retry
├── UnknownOutcomeError       a write may or may not have happened: query by client id
├── RejectedError             the exchange said no: never retry the same request
│   ├── InsufficientMarginError -2019     ├── WouldTriggerError -2021
│   ├── ReduceOnlyRejectedError -2022     ├── PostOnlyRejectedError -5022
│   ├── FilterRejectedError (PrecisionError -1111, PriceFilterError, QuantityFilterError,
│   │                        MinNotionalError -4164, PercentPriceError -4131)
│   ├── UnknownSymbolError -1121          ├── DuplicateClientOrderIdError -4116
│   ├── OrderNotFoundError -2013/-2011    ├── MaxPositionExceededError -2027/-2028
│   ├── InvalidOrderError -1102/-1106/... ├── NoChangeNeededError -4046/-4059
│   └── FokRejectedError -5021
└── HaltError                 stop trading and alert a human
    ├── IpBannedError         418, carries banned_until / retry_after
    └── AuthError             -2015 / -1022 / -2014 / -1002, HTTP 401
"""

from __future__ import annotations

import re
from datetime import datetime

from .types import ms_to_datetime


class ExchangeError(Exception):
    """Base of every error the exchange port raises. `str()` is one line: `[code] message`."""

    default_code: int | None = None

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code if code is not None else self.default_code
        self.message = message or type(self).__name__
        self.http_status = http_status
        super().__init__(self.message)

    def __str__(self) -> str:
        prefix = f"[{self.code}] " if self.code is not None else ""
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"{prefix}{self.message}{status}"


class RetryableError(ExchangeError):
    """Temporary failure; the same request (same client order id) may be retried with backoff."""

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    default_code = -1003


class TimestampError(RetryableError):
    default_code = -1021


class UnknownOutcomeError(ExchangeError):
    """A write may or may not have taken effect: query the order by client id before retrying."""


class RejectedError(ExchangeError):
    """The exchange refused the request; retrying it unchanged gives the same answer."""


class InsufficientMarginError(RejectedError):
    default_code = -2019


class WouldTriggerError(RejectedError):
    default_code = -2021


class ReduceOnlyRejectedError(RejectedError):
    default_code = -2022


class PostOnlyRejectedError(RejectedError):
    default_code = -5022


class FokRejectedError(RejectedError):
    default_code = -5021


class FilterRejectedError(RejectedError):
    """A price or quantity broke one of the symbol's filters."""


class PrecisionError(FilterRejectedError):
    default_code = -1111


class PriceFilterError(FilterRejectedError):
    default_code = -4014


class QuantityFilterError(FilterRejectedError):
    default_code = -4023


class MinNotionalError(FilterRejectedError):
    default_code = -4164


class PercentPriceError(FilterRejectedError):
    default_code = -4131


class UnknownSymbolError(RejectedError):
    default_code = -1121


class DuplicateClientOrderIdError(RejectedError):
    default_code = -4116


class OrderNotFoundError(RejectedError):
    default_code = -2013


class MaxPositionExceededError(RejectedError):
    default_code = -2027


class InvalidOrderError(RejectedError):
    default_code = -1102


class NoChangeNeededError(RejectedError):
    """Setting already in the requested state (margin type, position mode); safe to ignore."""

    default_code = -4046


class HaltError(ExchangeError):
    """Stop sending requests and alert a human."""


class IpBannedError(HaltError):
    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        http_status: int | None = 418,
        retry_after: float | None = None,
        banned_until: datetime | None = None,
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retry_after = retry_after
        self.banned_until = banned_until


class AuthError(HaltError):
    default_code = -2015


_REJECTED_BY_CODE: dict[int, type[RejectedError]] = {
    -2019: InsufficientMarginError,
    -2018: InsufficientMarginError,  # balance insufficient
    -2021: WouldTriggerError,
    -2022: ReduceOnlyRejectedError,
    -5022: PostOnlyRejectedError,
    -5021: FokRejectedError,
    -1111: PrecisionError,
    -1013: FilterRejectedError,  # generic "filter failure"
    -4001: PriceFilterError,  # price less than 0
    -4002: PriceFilterError,  # price greater than max price
    -4014: PriceFilterError,  # price not increased by tick size
    -4016: PercentPriceError,  # limit price above the mark-price band
    -4024: PercentPriceError,  # limit price below the mark-price band
    -4131: PercentPriceError,
    -4003: QuantityFilterError,  # quantity less than zero
    -4004: QuantityFilterError,  # quantity below minQty
    -4005: QuantityFilterError,  # quantity above maxQty
    -4023: QuantityFilterError,  # quantity not increased by step size
    -4164: MinNotionalError,
    -1121: UnknownSymbolError,
    -4116: DuplicateClientOrderIdError,
    -2013: OrderNotFoundError,
    -2011: OrderNotFoundError,  # cancel rejected: unknown order sent
    -2027: MaxPositionExceededError,
    -2028: MaxPositionExceededError,
    -1100: InvalidOrderError,
    -1102: InvalidOrderError,
    -1106: InvalidOrderError,
    -1116: InvalidOrderError,
    -1117: InvalidOrderError,
    -4120: InvalidOrderError,  # conditional type sent to /order instead of /algoOrder
    -4135: InvalidOrderError,  # bad activation price
    -4136: InvalidOrderError,  # bad callback rate
    -4137: InvalidOrderError,
    -4138: InvalidOrderError,
    -4061: InvalidOrderError,  # positionSide does not match the position mode
    -4028: InvalidOrderError,  # leverage not valid
    -4046: NoChangeNeededError,  # margin type already set
    -4059: NoChangeNeededError,  # position mode already set
}

_AUTH_CODES = frozenset({-2015, -2014, -1022, -1002})
_RATE_LIMIT_CODES = frozenset({-1003, -1015})
_UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1006, -1007})  # unknown error, bad response, timeout
_TEMPORARY_CODES = frozenset({-1001, -1008})  # disconnected, throttled: not processed
_BANNED_UNTIL = re.compile(r"banned until (\d{12,14})")


def classify(
    http_status: int | None,
    code: int | None,
    message: str = "",
    *,
    retry_after: float | None = None,
    mutating: bool = False,
) -> ExchangeError:
    """Map a failed Binance answer onto the error tree (returned, not raised).

    `http_status` None with `code` None means no answer at all (timeout, connection reset).
    `mutating` says the request was a write (place/cancel/set): then a 5xx, a backend timeout or
    no answer is an `UnknownOutcomeError` (resolve by querying), whereas for a read it is a plain
    `RetryableError`. `retry_after` is the Retry-After header in seconds, if any.
    """
    message = message or ""
    if http_status == 418:
        match = _BANNED_UNTIL.search(message)
        until = ms_to_datetime(int(match.group(1))) if match else None
        return IpBannedError(
            message or "IP banned", code=code, retry_after=retry_after, banned_until=until
        )
    if http_status == 429 or code in _RATE_LIMIT_CODES:
        return RateLimitedError(
            message or "rate limited",
            code=code if code is not None else -1003,
            http_status=http_status,
            retry_after=retry_after,
        )
    if http_status == 401 or code in _AUTH_CODES:
        return AuthError(message or "authentication failed", code=code, http_status=http_status)
    if code == -1021:
        return TimestampError(message or "timestamp outside recvWindow", http_status=http_status)
    if code in _TEMPORARY_CODES:
        # Binance says these were not processed (e.g. -1008 throttled): safe to retry a write.
        return RetryableError(message, code=code, http_status=http_status, retry_after=retry_after)
    if code in _UNKNOWN_OUTCOME_CODES or (http_status is not None and http_status >= 500):
        if mutating:
            return UnknownOutcomeError(
                message or "outcome unknown", code=code, http_status=http_status
            )
        return RetryableError(
            message or "server error", code=code, http_status=http_status, retry_after=retry_after
        )
    if code is not None and code in _REJECTED_BY_CODE:
        return _REJECTED_BY_CODE[code](message, code=code, http_status=http_status)
    if http_status is None and code is None:
        if mutating:
            return UnknownOutcomeError(message or "no response")
        return RetryableError(message or "no response")
    if http_status == 403:
        # WAF refusal: the request was not processed, and repeating it will not help.
        return HaltError(message or "forbidden by WAF", code=code, http_status=http_status)
    return RejectedError(message or "rejected", code=code, http_status=http_status)
