"""The cockpit's health line: database, cache, broker, workers and market-data freshness, each
``ok`` or a one-line problem.

The service probes (``apps.core.health`` and a worker ping) are kept ``PROBE_TTL_S`` seconds
per process, so pages refreshing after every batch of events never queue up behind a slow
broker; market-data freshness is read every time (one indexed query per symbol)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Max

from apps.bots.models import Bot
from apps.core.health import CheckResult, check_broker, check_cache, check_database
from apps.exchange.domain.types import datetime_to_ms
from apps.market.models import Kline
from apps.market.selectors import interval_ms, kline_last_closed_open_time
from apps.risk.domain.readings import MAX_MISSING_CANDLES

PROBE_TTL_S = 10.0
WORKER_PING_TIMEOUT_S = 0.5
NAMES = ("database", "cache", "broker", "workers", "market-data")


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    text: str  # "ok", or the problem in one line
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "text": self.text, "detail": self.detail}


_lock = threading.Lock()
_probes: tuple[float, dict[str, Check]] | None = None


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _from(result: CheckResult) -> Check:
    detail = f"{result.backend}: {result.detail} ({result.latency_ms:.1f} ms)"
    return (
        Check(True, "ok", detail) if result.ok else Check(False, _one_line(result.detail), detail)
    )


def check_workers() -> Check:
    """The embedded worker thread, or a ping answered by at least one Celery worker."""
    from tradingplatform.celery import app

    if (app.conf.broker_url or "").startswith("memory://"):
        from apps.core.embedded import embedded_worker_running

        if embedded_worker_running():
            return Check(True, "ok", "embedded in-process worker running")
        return Check(False, "the embedded worker is not running in this process")
    try:
        replies = app.control.ping(timeout=WORKER_PING_TIMEOUT_S)
    except Exception as exc:  # any broker failure is the answer here, in one line
        return Check(False, _one_line(f"worker ping failed: {type(exc).__name__}: {exc}"))
    if not replies:
        return Check(False, f"no worker answered a ping within {WORKER_PING_TIMEOUT_S:g} s")
    names = sorted(name for reply in replies for name in reply)
    return Check(True, "ok", f"{len(names)} worker(s): {', '.join(names)}")


def _probe_all() -> dict[str, Check]:
    global _probes
    with _lock:
        if _probes is not None and time.monotonic() - _probes[0] < PROBE_TTL_S:
            return _probes[1]
        probes = {
            "database": _from(check_database()),
            "cache": _from(check_cache()),
            "broker": _from(check_broker()),
            "workers": check_workers(),
        }
        _probes = (time.monotonic(), probes)
        return probes


def probes_forget() -> None:
    """Drop the kept probe results (tests; the next read probes again)."""
    global _probes
    with _lock:
        _probes = None


def check_market_data(*, now: datetime) -> Check:
    """The newest stored candle of each running bot's symbols and timeframe against the last
    candle closed at ``now`` (market time)."""
    pairs = sorted(
        {
            (symbol, interval)
            for symbols, interval in Bot.objects.filter(
                state=Bot.State.RUNNING, enabled=True, rehearsal=False
            ).values_list("symbols", "strategy__timeframe")
            for symbol in symbols or []
        }
    )
    if not pairs:
        return Check(True, "ok", "no running bot needs candles")
    now_ms = datetime_to_ms(now)
    problems: list[str] = []
    fresh: list[str] = []
    for symbol, interval in pairs:
        try:
            step = interval_ms(interval)
        except ValueError:
            problems.append(f"{symbol}: unknown interval {interval!r}")
            continue
        newest = Kline.objects.filter(symbol=symbol, interval=interval).aggregate(
            newest=Max("open_time")
        )["newest"]
        last_closed = kline_last_closed_open_time(interval=interval, now_ms=now_ms)
        if newest is None:
            problems.append(f"{symbol} {interval}: no candles")
        elif newest < last_closed - MAX_MISSING_CANDLES * step:
            behind = (last_closed - newest) // step
            at = datetime.fromtimestamp(newest / 1000, tz=UTC) + timedelta(milliseconds=step)
            problems.append(
                f"{symbol} {interval}: {behind} candles behind (last closed {at:%Y-%m-%d %H:%M})"
            )
        else:
            fresh.append(f"{symbol} {interval}")
    if problems:
        return Check(False, _one_line("; ".join(problems)))
    return Check(True, "ok", "fresh: " + ", ".join(fresh))


def cockpit_health(*, now: datetime) -> dict[str, Check]:
    return {**_probe_all(), "market-data": check_market_data(now=now)}
