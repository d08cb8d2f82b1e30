"""Reads of the webhook's hot path: the bot an alert names and the instrument it trades, kept
per process for ``WEBHOOK_LOOKUP_CACHE_S`` (default 1 s; 0 turns the cache off).

A burst of alerts for one bot then costs one bot query and one instrument query per process
and second, not one each per alert. The cache is cleared in this process whenever a Bot, its
Strategy or an Instrument is saved or deleted (``apps.WebhookConfig.ready``); another web
process sees the change within the TTL, and so does this one after a queryset ``update()``
(which sends no signal). A cached entry is only trusted to say *yes*: before the webhook
refuses an alert because of the bot or the instrument (passphrase, staleness limit, state,
symbol, minimum size) it reads them again (``fresh=True``). So a stale entry can only let an
alert in: for a bot paused a moment ago the worker then refuses it under the bot's lease (it
re-reads the bot); a bot deleted a moment ago makes the INSERT fail, and the view looks again
(``services.StaleLookup``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings

from apps.bots.models import Bot
from apps.exchange.models import Instrument

DEFAULT_TTL_S = 1.0
_MISSING = object()
_lock = threading.Lock()
_entries: dict[tuple[str, str], tuple[float, Any]] = {}


def _ttl() -> float:
    return float(getattr(settings, "WEBHOOK_LOOKUP_CACHE_S", DEFAULT_TTL_S))


def _cached(kind: str, key: str, load: Any, *, fresh: bool) -> Any:
    ttl = _ttl()
    if ttl <= 0:
        return load()
    now = time.monotonic()
    entry = None if fresh else _entries.get((kind, key))
    if entry is not None and entry[0] > now:
        return entry[1]
    value = load()
    with _lock:
        if len(_entries) > 10_000:  # names are the caller's: bound what unknown ones can fill
            _entries.clear()
        _entries[(kind, key)] = (now + ttl, value)
    return value


def webhook_bot_get(*, name: str, fresh: bool = False) -> Bot | None:
    """The bot called ``name`` with its strategy, or None; ``fresh``: read now (and keep)."""
    return _cached(
        "bot",
        name,
        lambda: Bot.objects.select_related("strategy").filter(name=name).first(),
        fresh=fresh,
    )


def webhook_instrument_get(*, symbol: str, fresh: bool = False) -> Instrument | None:
    return _cached(
        "instrument",
        symbol,
        lambda: Instrument.objects.filter(symbol=symbol).first(),
        fresh=fresh,
    )


def webhook_lookups_clear(**_: Any) -> None:
    """Forget every cached bot and instrument of this process (a signal receiver too)."""
    with _lock:
        _entries.clear()
