"""The market clock: real time, or historical time replayed at a speed (the embedded demo).

With ``MARKET_REPLAY_START`` set (ISO date) and ``MARKET_REPLAY_SPEED`` > 0, market time starts
at that date and runs ``speed`` times faster than the wall clock, so the scheduler, the bots and
the dashboards run over the shipped historical data exactly as they would run live. Without
them, market time is the wall clock.

The replayed clock is one database row (``ReplayClock``) that every process reads, so the web
process, the worker and the beat agree. ``replay_clock_resume`` (called when the platform
starts) continues from the market time last seen, so a restart resumes where the demo stopped
instead of starting the month again under bots that already traded into it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

REFRESH_SECONDS = 10.0  # how often a process re-reads the row (a restart re-anchors it)
WRITE_SECONDS = 5.0  # how often the market time seen is written back


@dataclass
class _Anchor:
    replay_start: str
    market: datetime
    wall: float  # time.time() of ``market``
    read_at: float
    written_at: float


_lock = threading.Lock()
_anchor: _Anchor | None = None


def replaying() -> bool:
    return bool(settings.MARKET_REPLAY_START) and settings.MARKET_REPLAY_SPEED > 0


def _start() -> datetime:
    start = datetime.fromisoformat(settings.MARKET_REPLAY_START)
    return start if start.tzinfo is not None else start.replace(tzinfo=UTC)


def _load(now: float) -> _Anchor:
    from apps.market.models import ReplayClock

    row = ReplayClock.objects.filter(pk=1).first()
    if row is None or row.replay_start != settings.MARKET_REPLAY_START:
        wall = datetime.fromtimestamp(now, tz=UTC)
        row, _ = ReplayClock.objects.update_or_create(
            pk=1,
            defaults={
                "replay_start": settings.MARKET_REPLAY_START,
                "anchor_market": _start(),
                "anchor_wall": wall,
                "last_market": _start(),
            },
        )
    return _Anchor(
        row.replay_start, row.anchor_market, row.anchor_wall.timestamp(), now, written_at=now
    )


def market_now() -> datetime:
    """The current market time, UTC-aware."""
    global _anchor
    if not replaying():
        return timezone.now()
    now = time.time()
    with _lock:
        anchor = _anchor
        try:
            if (
                anchor is None
                or anchor.replay_start != settings.MARKET_REPLAY_START
                or now - anchor.read_at > REFRESH_SECONDS
            ):
                anchor = _anchor = _load(now)
        except DatabaseError:
            if anchor is None:  # no table yet (before migrate): from the start, in memory
                anchor = _anchor = _Anchor(settings.MARKET_REPLAY_START, _start(), now, now, now)
        market = anchor.market + timedelta(
            seconds=(now - anchor.wall) * settings.MARKET_REPLAY_SPEED
        )
        if now - anchor.written_at > WRITE_SECONDS:
            anchor.written_at = now
            _write_last(market)
    return market


def _write_last(market: datetime) -> None:
    from apps.market.models import ReplayClock

    with contextlib.suppress(DatabaseError):  # else the resume point is a few seconds older
        ReplayClock.objects.filter(pk=1, last_market__lt=market).update(last_market=market)


def replay_clock_resume() -> datetime | None:
    """Continue the replayed clock from the market time last seen (platform start); return it,
    or None when the market runs on the wall clock."""
    global _anchor
    if not replaying():
        return None
    from apps.market.models import ReplayClock

    now = time.time()
    row = ReplayClock.objects.filter(pk=1).first()
    with _lock:
        if row is None or row.replay_start != settings.MARKET_REPLAY_START:
            _anchor = _load(now)
            return _anchor.market
        ReplayClock.objects.filter(pk=1).update(
            anchor_market=row.last_market, anchor_wall=datetime.fromtimestamp(now, tz=UTC)
        )
        _anchor = _Anchor(row.replay_start, row.last_market, now, now, now)
        return row.last_market
