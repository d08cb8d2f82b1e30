"""Fixtures of the webhook tests: a running signal bot with candles, eager worker tasks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.bots.models import Bot
from apps.strategies.models import Strategy
from apps.trading.replay import ensure_klines
from tests.factories import make_bot
from tradingplatform.celery import app as celery_app

SECRET = "shared-secret-for-tests-0123456789"


@pytest.fixture
def eager(transactional_db):
    """The worker task runs in the request, once the signal's row commits (a real commit: the
    hand-over to the worker happens on commit), instead of on a worker."""
    from apps.trading.tasks import signal_process

    # shared_task binds to the current app, which an earlier test may have replaced.
    apps = {celery_app, signal_process.app}
    for app in apps:
        app.conf.task_always_eager = True
    yield
    for app in apps:
        app.conf.task_always_eager = False


@pytest.fixture
def signal_bot(settings, shared_data) -> Bot:
    settings.WEBHOOK_SECRET = SECRET
    for symbol in ("BTCUSDT", "ETHUSDT"):
        ensure_klines(
            symbol=symbol,
            interval="1h",
            start=datetime(2025, 9, 20, tzinfo=UTC),
            end=datetime(2025, 9, 21, tzinfo=UTC),
            data_dir=shared_data,
        )
    strategy = Strategy.objects.create(
        name="tv", kind="signal", mode="SWING", timeframe="1h", parameters={}
    )
    return make_bot(
        "tv-bot",
        strategy=strategy,
        symbols=["BTCUSDT", "ETHUSDT"],
        state=Bot.State.RUNNING,
        trailing="none",
    )


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    """Throttle counters live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
