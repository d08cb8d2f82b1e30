"""Health checks of the platform's backing services: database, cache, broker, channel layer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str
    backend: str
    latency_ms: float

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ok else "error",
            "backend": self.backend,
            "detail": self.detail,
            "latency_ms": round(self.latency_ms, 2),
        }


def _timed(backend: str, probe: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except Exception as exc:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ok = False
    return CheckResult(ok, detail, backend, (time.perf_counter() - started) * 1000)


def check_database() -> CheckResult:
    def probe() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "SELECT 1 answered"

    return _timed(connection.vendor, probe)


def check_cache() -> CheckResult:
    def probe() -> str:
        key = f"health:{uuid.uuid4().hex}"
        cache.set(key, "1", timeout=10)
        if cache.get(key) != "1":
            raise RuntimeError("value written to the cache was not read back")
        cache.delete(key)
        return "set/get round trip"

    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return _timed(backend, probe)


def check_broker() -> CheckResult:
    from tradingplatform.celery import app

    url = app.conf.broker_url or ""
    scheme = url.split("://", 1)[0]

    def probe() -> str:
        if scheme == "memory":
            from apps.core.embedded import embedded_worker_running

            if not embedded_worker_running():
                raise RuntimeError("embedded worker is not running in this process")
            return "embedded in-process worker running"
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_CHECK_TIMEOUT)
        return "connected"

    return _timed(scheme, probe)


def check_channel_layer() -> CheckResult:
    layer = get_channel_layer()

    async def roundtrip() -> None:
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        message = await layer.receive(channel)
        if message.get("type") != "health.ping":
            raise RuntimeError("unexpected message on the channel layer")

    def probe() -> str:
        async_to_sync(roundtrip)()
        return "send/receive round trip"

    return _timed(type(layer).__name__, probe)


def run_checks() -> dict[str, CheckResult]:
    return {
        "database": check_database(),
        "cache": check_cache(),
        "broker": check_broker(),
        "channel_layer": check_channel_layer(),
    }
