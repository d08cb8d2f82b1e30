"""Gauges read at scrape time: what the platform holds now (positions, exposure, equity, PnL,
drawdown and its limit, breaker tier, bot states, CryptoVIX, market-data lag, Celery queues).

Read from the database (and the broker) by the web's ``/metrics``, at most once every
``METRICS_STATE_CACHE_S`` seconds however many scrapers ask; the families are built from the
cached snapshot. A failed read is logged and reported as ``tradingplatform_state_up 0`` (the
scrape itself still answers, with the process metrics).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from apps.metrics.domain.labels import label
from apps.metrics.registry import PREFIX
from apps.metrics.selectors import StateSnapshot, state_snapshot

logger = logging.getLogger(__name__)

BOT_STATES = ("running", "paused", "halted")


def celery_queue_lengths() -> dict[str, int]:
    """Messages waiting in each configured Celery queue (the broker's count)."""
    from tradingplatform.celery import app

    names = {app.conf.task_default_queue or "celery"}
    names.update(queue.name for queue in (app.conf.task_queues or ()))
    out = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in sorted(names):
            try:
                _, count, _ = channel.queue_declare(queue=name, passive=True)
            except Exception:  # a queue never declared holds nothing
                count = 0
                channel = connection.channel()
            out[name] = int(count)
    return out


@dataclass
class _Reading:
    snapshot: StateSnapshot | None
    queues: dict[str, int]
    ok: bool
    seconds: float


class StateCollector:
    def __init__(self, *, cache_s: float) -> None:
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._reading: _Reading | None = None
        self._read_at = 0.0

    def _read(self) -> _Reading:
        from apps.market.clock import market_now

        started = time.perf_counter()
        ok = True
        snapshot: StateSnapshot | None = None
        queues: dict[str, int] = {}
        try:
            snapshot = state_snapshot(now=market_now())
        except Exception:
            logger.exception("metrics: reading the platform state failed")
            ok = False
            close_old_connections()
        try:
            queues = celery_queue_lengths()
        except Exception:
            logger.warning("metrics: the Celery queue lengths are unavailable", exc_info=True)
        return _Reading(snapshot, queues, ok, time.perf_counter() - started)

    def reading(self) -> _Reading:
        with self._lock:
            now = time.monotonic()
            if self._reading is None or now - self._read_at >= self.cache_s:
                self._reading = self._read()
                self._read_at = time.monotonic()
            return self._reading

    def collect(self) -> Iterator[Metric]:
        reading = self.reading()
        up = GaugeMetricFamily(
            f"{PREFIX}_state_up", "1 when the last read of the platform state succeeded."
        )
        up.add_metric([], 1 if reading.ok else 0)
        yield up
        took = GaugeMetricFamily(
            f"{PREFIX}_state_read_seconds", "Time the last read of the platform state took."
        )
        took.add_metric([], reading.seconds)
        yield took
        queues = GaugeMetricFamily(
            f"{PREFIX}_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        for name, count in reading.queues.items():
            queues.add_metric([name], count)
        yield queues
        if reading.snapshot is not None:
            yield from _families(reading.snapshot)


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def _families(snap: StateSnapshot) -> Iterator[Metric]:
    state = _gauge(
        "bot_state",
        "1 for the bot's current state and cause (halted: why).",
        ["bot", "state", "cause"],
    )
    enabled = _gauge("bot_enabled", "1 when the bot is enabled (scheduled).", ["bot", "mode"])
    positions = _gauge("bot_open_positions", "Open positions of the bot.", ["bot"])
    exposure = _gauge("bot_exposure_usdt", "Notional of the bot's open positions, USDT.", ["bot"])
    exposure_limit = _gauge(
        "bot_exposure_limit_usdt", "The bot's exposure cap (risk settings), USDT.", ["bot"]
    )
    equity = _gauge(
        "bot_equity_usdt", "Starting balance + net PnL + unrealised PnL, USDT.", ["bot"]
    )
    realized = _gauge(
        "bot_realized_pnl_usdt",
        "Net realised PnL of all trades (after fees, funding), USDT.",
        ["bot"],
    )
    unrealized = _gauge(
        "bot_unrealized_pnl_usdt", "Unrealised PnL of open positions, USDT.", ["bot"]
    )
    drawdown = _gauge(
        "bot_drawdown_ratio",
        "Fall of cumulative net PnL from its peak, as a fraction of starting equity.",
        ["bot"],
    )
    drawdown_limit = _gauge(
        "bot_drawdown_limit_ratio",
        "The bot's drawdown limit (its alert rule's max drawdown), as a fraction.",
        ["bot"],
    )
    tier = _gauge(
        "bot_breaker_tier",
        "Circuit breaker's last action: 0 clear, 1 WARN, 2 REDUCE_SIZE, 3 HALT_ENTRIES, 4 FLATTEN.",
        ["bot"],
    )
    for row in snap.bots:
        bot = row.name
        for name in BOT_STATES:
            cause = label(row.cause) if name == row.state else "none"
            state.add_metric([bot, name, cause], 1 if name == row.state else 0)
        enabled.add_metric([bot, label(row.mode)], 1 if row.enabled else 0)
        positions.add_metric([bot], row.open_positions)
        exposure.add_metric([bot], float(row.exposure))
        if row.exposure_limit is not None:
            exposure_limit.add_metric([bot], float(row.exposure_limit))
        equity.add_metric([bot], float(row.equity))
        realized.add_metric([bot], float(row.realized))
        unrealized.add_metric([bot], float(row.unrealized))
        drawdown.add_metric([bot], float(row.drawdown))
        if row.drawdown_limit is not None:
            drawdown_limit.add_metric([bot], float(row.drawdown_limit))
        tier.add_metric([bot], row.breaker_tier)
    yield from (state, enabled, positions, exposure, exposure_limit, equity, realized)
    yield from (unrealized, drawdown, drawdown_limit, tier)
    notional = _gauge(
        "position_notional_usdt", "Notional of an open position, USDT.", ["bot", "symbol", "side"]
    )
    position_pnl = _gauge(
        "position_unrealized_pnl_usdt",
        "Unrealised PnL of an open position, USDT.",
        ["bot", "symbol", "side"],
    )
    for pos in snap.positions:
        keys = [pos.bot, pos.symbol, label(pos.side)]
        notional.add_metric(keys, float(pos.notional))
        position_pnl.add_metric(keys, float(pos.unrealized))
    yield from (notional, position_pnl)
    vix = _gauge("cryptovix_score", "CryptoVIX volatility score, 0-100.", ["symbol", "interval"])
    if snap.vix_score is not None:
        from apps.metrics.selectors import VIX_INTERVAL, VIX_SYMBOL

        vix.add_metric([VIX_SYMBOL, VIX_INTERVAL], snap.vix_score)
    yield vix
    lag = _gauge(
        "market_data_lag_seconds",
        "How far the stored candles lag behind the last closed candle (0: up to date).",
        ["symbol", "interval"],
    )
    for (symbol, interval), seconds in snap.market_lag_s.items():
        lag.add_metric([symbol, interval], seconds)
    yield lag


_collector: StateCollector | None = None
_collector_lock = threading.Lock()


def state_collector() -> StateCollector:
    """The process's one state collector (its cache is shared by every scrape)."""
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = StateCollector(cache_s=settings.METRICS_STATE_CACHE_S)
        return _collector
