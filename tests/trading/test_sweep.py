"""Nothing stays undecided: waiting signals are handed over again or expired with a reason,
abandoned cycles are closed, a signal never waits behind a bot's candle catch-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.bots.models import Bot
from apps.trading.engine.schedule import bot_catch_up
from apps.trading.engine.sweep import cycles_sweep, signals_sweep
from apps.trading.models import BotCycle, Signal
from tests.webhook.conftest import signal_bot  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _accepted(bot: Bot, *, age_s: float, action: str = "buy") -> Signal:
    signal = Signal.objects.create(
        bot=bot,
        source=Signal.Source.WEBHOOK,
        symbol="BTCUSDT",
        action=action,
        payload={"action": action, "quote_amount": "300"},
        outcome=Signal.Outcome.ACCEPTED,
        signal_time=timezone.now() - timedelta(seconds=age_s),
    )
    Signal.objects.filter(pk=signal.pk).update(
        received_at=timezone.now() - timedelta(seconds=age_s)
    )
    signal.refresh_from_db()
    return signal


def test_waiting_signal_is_handed_over_again_once_per_interval(signal_bot) -> None:  # noqa: F811
    cache.clear()
    fresh = _accepted(signal_bot, age_s=2)
    waiting = _accepted(signal_bot, age_s=8)
    sent: list[int] = []
    report = signals_sweep(wall=timezone.now(), dispatch=sent.append)
    assert sent == [waiting.pk] and report.redispatched == [waiting.pk]
    signals_sweep(wall=timezone.now(), dispatch=sent.append)
    assert sent == [waiting.pk]  # not again within the interval
    fresh.refresh_from_db()
    assert fresh.outcome == "accepted"


def test_signal_too_old_to_act_on_is_expired_with_its_reason(signal_bot) -> None:  # noqa: F811
    old = _accepted(signal_bot, age_s=120)  # the bot's limit is 60 s, plus 30 s grace
    report = signals_sweep(wall=timezone.now(), dispatch=lambda pk: None)
    assert report.expired == [old.pk]
    old.refresh_from_db()
    assert old.outcome == "expired" and old.processed_at is not None
    assert "not acted on within 90 s" in old.detail and "nothing was placed" in old.detail


def test_cycle_left_running_below_a_decided_candle_is_closed(signal_bot) -> None:  # noqa: F811
    now = timezone.now()
    stale = BotCycle.objects.create(
        bot=signal_bot, symbol="BTCUSDT", candle_open_time=1000, started_at=now
    )
    retry = BotCycle.objects.create(
        bot=signal_bot, symbol="BTCUSDT", candle_open_time=3000, started_at=now
    )
    BotCycle.objects.create(
        bot=signal_bot, symbol="BTCUSDT", candle_open_time=2000, started_at=now, status="done"
    )
    assert cycles_sweep(wall=now) == 1
    stale.refresh_from_db()
    retry.refresh_from_db()
    assert stale.status == "failed" and "abandoned" in stale.detail
    assert retry.status == "running"  # after the newest decided one: due again, not closed


def test_catch_up_acts_on_waiting_signals_before_its_candles(signal_bot, monkeypatch) -> None:  # noqa: F811
    from datetime import UTC, datetime

    import apps.trading.engine.schedule as schedule

    now = datetime(2025, 9, 20, 12, 30, tzinfo=UTC)
    waiting = _accepted(signal_bot, age_s=1)
    Signal.objects.filter(pk=waiting.pk).update(signal_time=timezone.now())
    seen: list[str] = []
    real = schedule.bot_cycle_run

    def spy(**kwargs):
        seen.append(Signal.objects.get(pk=waiting.pk).outcome)
        return real(**kwargs)

    monkeypatch.setattr(schedule, "bot_cycle_run", spy)
    start = int(now.timestamp() * 1000) - 5 * 3_600_000
    results = bot_catch_up(bot_id=signal_bot.pk, now=now, limit=5, start_ms=start)
    assert results and len(seen) == len(results)
    assert "accepted" not in seen  # decided before the first candle's cycle ran
