"""Where the platform's events become notices, and how notices reach the channels (Telegram on
the fake server; performance alerts through the monitoring's own delivery)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.bots.models import Bot
from apps.bots.services import bot_halt, bot_pause, bot_resume
from apps.monitoring.domain.performance import Breach
from apps.monitoring.models import AlertDelivery, NotificationChannel
from apps.monitoring.services import alert_raise, alerts_deliver
from apps.risk.models import BreakerState
from apps.telegram.models import Notice, NoticeDelivery
from apps.telegram.services import daily_summary_record, notices_deliver, notices_prune
from apps.trading.models import Trade
from tests.factories import make_bot
from tests.telegram.conftest import ALICE, DESK

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def chat_channel(tg, telegram) -> NotificationChannel:
    tg.add_chat(ALICE)
    tg.add_chat(DESK)
    return NotificationChannel.objects.create(
        name="chat",
        kind=NotificationChannel.Kind.TELEGRAM,
        telegram_chat_ids=f"{ALICE}\n{DESK}",
        events=["trade_opened", "trade_closed", "breaker", "kill_switch", "operator", "alert"],
        min_severity="warning",
    )


def _open_trade(bot: Bot) -> Trade:
    return Trade.objects.create(
        bot=bot,
        symbol="BTCUSDT",
        side="LONG",
        mode="SWING",
        quantity=Decimal("0.004"),
        remaining_quantity=Decimal("0.004"),
        entry_price=Decimal("108157.5"),
        leverage=3,
        entry_time=T0,
    )


def _close(trade: Trade, *, pnl: str, fees: str = "0.2") -> None:
    trade.status = Trade.Status.CLOSED
    trade.exit_price = Decimal("109000")
    trade.exit_time = T0 + timedelta(hours=2)
    trade.realized_pnl = Decimal(pnl)
    trade.fees = Decimal(fees)
    trade.roi = Decimal("2.5")
    trade.exit_reason = Trade.ExitReason.TAKE_PROFIT
    trade.remaining_quantity = Decimal(0)
    trade.save()


def test_trade_open_and_close_become_one_notice_each_and_reach_every_chat(tg, chat_channel) -> None:
    bot = make_bot("tg-notes")
    trade = _open_trade(bot)
    _close(trade, pnl="3.37")
    trade.save()  # a later save of the closed trade tells nobody again
    assert list(Notice.objects.order_by("id").values_list("kind", "text")) == [
        ("trade_opened", "Trade opened: tg-notes LONG 0.004 BTCUSDT @ 108157.5"),
        (
            "trade_closed",
            "Trade closed: tg-notes LONG 0.004 BTCUSDT 108157.5 -> 109000, PnL +3.17 USDT "
            "(ROI +2.50 %), take profit",
        ),
    ]
    assert notices_deliver(now=datetime.now(tz=UTC)) == 2
    for chat in (ALICE, DESK):
        texts = [m.text for m in tg.sent(chat)]
        assert texts[0].startswith("Trade opened") and texts[1].startswith("Trade closed")
    assert NoticeDelivery.objects.filter(status="sent").count() == 2
    assert notices_deliver(now=datetime.now(tz=UTC)) == 0  # nothing is sent twice
    later = datetime.now(tz=UTC) + timedelta(days=30, minutes=1)
    Notice.objects.filter(kind="trade_opened").update(done_at=None)  # still being sent
    assert notices_prune(now=later) == 1  # the finished one, with its delivery
    assert list(Notice.objects.values_list("kind", flat=True)) == ["trade_opened"]
    assert NoticeDelivery.objects.count() == 1


def test_events_nobody_chose_or_of_replays_write_nothing(tg, chat_channel) -> None:
    NotificationChannel.objects.filter(pk=chat_channel.pk).update(events=["kill_switch"])
    bot = make_bot("tg-quiet")
    _close(_open_trade(bot), pnl="1")
    rehearsal = make_bot("tg-rehearsal", rehearsal=True)
    bot_halt(bot=rehearsal, reason="kill switch: drill", cause=Bot.Cause.KILL_SWITCH)
    assert not Notice.objects.exists()
    bot_halt(bot=bot, reason="kill switch: drill", cause=Bot.Cause.KILL_SWITCH)
    assert list(Notice.objects.values_list("kind", "text")) == [
        ("kill_switch", "KILL SWITCH: tg-quiet halted (kill switch: drill)")
    ]


def test_bot_state_changes_are_told_by_cause(tg, chat_channel) -> None:
    NotificationChannel.objects.filter(pk=chat_channel.pk).update(
        events=["operator", "reconciliation", "halt"]
    )
    bot = make_bot("tg-states")
    bot_pause(bot=bot, reason="paused by admin")
    bot_resume(bot=bot)
    bot_halt(bot=bot, reason="position mismatch BTCUSDT", cause=Bot.Cause.RECONCILIATION)
    bot_pause(bot=bot, reason="strategy error: boom", cause=Bot.Cause.STRATEGY_ERROR)
    assert [n.text for n in Notice.objects.order_by("id")] == [
        "Operator: tg-states paused (paused by admin)",
        "Operator: tg-states running",
        "Reconciliation problem: tg-states halted (position mismatch BTCUSDT)",
        "Strategy error: tg-states paused (strategy error: boom)",
    ]


def test_breaker_tier_changes_are_told_once_per_change(tg, chat_channel) -> None:
    bot = make_bot("tg-breaker")
    row, _ = BreakerState.objects.get_or_create(bot=bot)
    row.save()  # no change: nothing
    row.last_action, row.last_reason = "HALT_ENTRIES", "3 losses in 24h"
    row.save()
    row.save()  # saved again by the next cycle, same tier: nothing
    again = BreakerState.objects.get(bot=bot)
    again.last_action, again.last_reason = "", ""
    again.save()
    assert [n.text for n in Notice.objects.order_by("id")] == [
        "Circuit breaker: tg-breaker HALT_ENTRIES (3 losses in 24h)",
        "Circuit breaker: tg-breaker clear again",
    ]


def test_failed_delivery_is_retried_later_and_then_sent(tg, chat_channel, monkeypatch) -> None:
    from apps.monitoring import notifications

    monkeypatch.setattr(notifications, "WEBHOOK_RETRIES", 0)  # one attempt per delivery here
    tg.fail("sendMessage", status=429, retry_after=1)
    bot = make_bot("tg-retry")
    _open_trade(bot)
    now = datetime.now(tz=UTC)
    assert notices_deliver(now=now) == 0
    notice = Notice.objects.get()
    assert notice.done_at is None and notice.attempts == 1 and "HTTP 429" in notice.last_error
    assert notice.next_attempt_at > now
    assert notices_deliver(now=now) == 0  # not due yet
    assert notices_deliver(now=notice.next_attempt_at) == 1
    assert [m.text[:12] for m in tg.sent(ALICE)] == ["Trade opened"]
    assert [m.text[:12] for m in tg.sent(DESK)] == ["Trade opened"]  # reached once, not again
    first, second = NoticeDelivery.objects.order_by("id")
    assert (first.status, first.reached, second.status, second.reached) == (
        "failed",
        [str(DESK)],
        "sent",
        [str(ALICE)],
    )


def test_daily_summary_is_written_once_for_the_last_utc_day(tg, chat_channel) -> None:
    NotificationChannel.objects.filter(pk=chat_channel.pk).update(events=["daily_summary"])
    bot = make_bot("tg-day")
    _close(_open_trade(bot), pnl="10", fees="0.5")
    _close(_open_trade(bot), pnl="-2", fees="0.5")
    early = datetime(2026, 12, 6, 0, 1, tzinfo=UTC)
    assert not daily_summary_record(market_now=early, now=early)  # before 00:05
    at = datetime(2026, 12, 6, 0, 6, tzinfo=UTC)
    assert daily_summary_record(market_now=at, now=at)
    assert not daily_summary_record(market_now=at + timedelta(hours=5), now=at)
    [notice] = Notice.objects.all()
    assert notice.text == (
        "Daily summary 2026-12-05 (UTC): 2 trade(s) closed, 1 won, net +7.00 USDT; "
        "0 position(s) open\ntg-day: 2 closed, 1 won, net +7.00 USDT"
    )


def test_performance_alert_reaches_telegram_channel_that_chose_alerts(tg, chat_channel) -> None:
    NotificationChannel.objects.create(
        name="no-alerts",
        kind=NotificationChannel.Kind.TELEGRAM,
        telegram_chat_ids="4004",
        events=["trade_closed"],
        min_severity="info",
    )
    breach = Breach(
        kind="drawdown_high",
        severity="critical",
        message="tg-alert: drawdown 12.00 % above 10 %",
        value="12",
        threshold="10",
    )
    now = datetime.now(tz=UTC)
    alert = alert_raise(breach=breach, bot=make_bot("tg-alert"), now=now, cooldown=timedelta(0))
    [delivery] = alerts_deliver(alert_ids=[alert.pk], now=now)
    assert delivery.channel_name == "chat" and delivery.status == AlertDelivery.Status.SENT
    [message] = tg.sent(ALICE)
    assert message.text == (
        "[critical] tg-alert: Drawdown above maximum\ntg-alert: drawdown 12.00 % above 10 %"
    )


def test_telegram_channel_validation_names_the_problem() -> None:
    channel = NotificationChannel(name="bad", kind="telegram", telegram_chat_ids="")
    with pytest.raises(ValidationError, match="at least one chat id"):
        channel.full_clean()
    channel.telegram_chat_ids = "123, @alice"
    with pytest.raises(ValidationError, match=r"not a Telegram chat id .*: @alice"):
        channel.full_clean()
    channel.telegram_chat_ids, channel.events = "123", ["alert", "moon"]
    with pytest.raises(ValidationError, match="unknown event\\(s\\): moon"):
        channel.full_clean()


def test_channel_test_send_reaches_chats_and_a_disabled_bot_sends_nothing(tg, chat_channel):
    from apps.monitoring.services import channel_send_test
    from apps.telegram.models import TelegramBot

    now = datetime.now(tz=UTC)
    assert channel_send_test(channel=chat_channel, now=now).ok
    assert tg.sent(ALICE)[0].text.startswith("[test] trading platform notification to chat")
    assert len(tg.sent(DESK)) == 1
    TelegramBot.objects.update(enabled=False)
    result = channel_send_test(channel=chat_channel, now=now)
    assert not result.ok and "no enabled Telegram bot with a token" in result.error
    assert len(tg.sent()) == 2


def test_the_beat_task_delivers_the_outbox_to_email_without_any_telegram_worker(mailoutbox) -> None:
    """Scale-out without Telegram: the periodic ``notifications.deliver`` task (every 5 s on the
    beat) is what sends the notices of e-mail and webhook channels."""
    from apps.core.schedules import PERIODIC_TASKS
    from apps.telegram.tasks import notifications_deliver_task

    (spec,) = [s for s in PERIODIC_TASKS if s.task == "notifications.deliver"]
    assert spec.every_seconds <= 10
    NotificationChannel.objects.create(
        name="desk mail",
        kind=NotificationChannel.Kind.EMAIL,
        email_recipients="desk@example.com",
        events=["trade_closed"],
        min_severity="info",
    )
    bot = make_bot("mail-notes")
    _close(_open_trade(bot), pnl="-4")
    outcome = notifications_deliver_task.apply().get()
    assert outcome["sent"] == 1
    (mail,) = mailoutbox
    assert mail.to == ["desk@example.com"]
    assert "Trade closed: mail-notes LONG 0.004 BTCUSDT" in mail.body
    assert notifications_deliver_task.apply().get()["sent"] == 0  # never twice
