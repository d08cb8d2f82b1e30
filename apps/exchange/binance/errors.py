"""Translate python-binance and transport failures into the domain error tree."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
from binance.exceptions import BinanceAPIException, BinanceRequestException

from apps.exchange.domain.errors import ExchangeError, classify

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    TimeoutError,
    aiohttp.ClientError,
    ConnectionError,
    BinanceRequestException,
)
TRANSLATABLE: tuple[type[BaseException], ...] = (*TRANSPORT_ERRORS, BinanceAPIException)


def response_headers(response: Any) -> Mapping[str, str]:
    headers = getattr(response, "headers", None)
    return headers if headers is not None else {}


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def translate(exc: BaseException, *, mutating: bool) -> ExchangeError:
    """Return the domain error for a failed call (the caller raises it `from exc`)."""
    if isinstance(exc, ExchangeError):
        return exc
    if isinstance(exc, BinanceAPIException):
        headers = response_headers(exc.response)
        code = exc.code if exc.code not in (0, None) else None
        return classify(
            int(exc.status_code),
            int(code) if code is not None else None,
            str(exc.message or ""),
            retry_after=retry_after_of(headers),
            mutating=mutating,
        )
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return classify(None, None, "request timed out", mutating=mutating)
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return classify(None, None, f"{type(exc).__name__}: {text}", mutating=mutating)
