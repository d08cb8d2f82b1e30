"""The market clock: real time, or historical time replayed at a speed (the embedded demo).

With ``MARKET_REPLAY_START`` set (ISO date) and ``MARKET_REPLAY_SPEED`` > 0, market time starts
at that date when the process first asks and runs ``speed`` times faster than the wall clock,
so the scheduler, the bots and the dashboards run over the shipped historical data exactly as
they would run live. Without them, market time is the wall clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

ORIGIN_KEY = "market-clock:origin"


def replaying() -> bool:
    return bool(settings.MARKET_REPLAY_START) and settings.MARKET_REPLAY_SPEED > 0


def market_now() -> datetime:
    """The current market time, UTC-aware."""
    if not replaying():
        return timezone.now()
    start = datetime.fromisoformat(settings.MARKET_REPLAY_START)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    cache.add(ORIGIN_KEY, time.time(), timeout=None)  # the first caller fixes the origin
    origin = float(cache.get(ORIGIN_KEY) or time.time())
    elapsed = (time.time() - origin) * settings.MARKET_REPLAY_SPEED
    return start + timedelta(seconds=elapsed)
