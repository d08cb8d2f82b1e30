"""The performance review against the database: reports, alerts, cool-down and delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from apps.monitoring import services
from apps.monitoring.domain.performance import BreachKind
from apps.monitoring.models import (
    Alert,
    AlertDelivery,
    AlertRule,
    NotificationChannel,
    PerformanceReport,
)
from apps.monitoring.services import (
    alerts_acknowledge,
    alerts_deliver,
    channel_send_test,
    performance_review,
)
from tests.factories import make_bot
from tests.monitoring.conftest import NOW, close_series, make_closed_trade
from testsupport.processes import free_port

pytestmark = pytest.mark.django_db

SIX_HOURS = timedelta(hours=6)
LOSING = ["50", "-10", "-10", "50", "-10", "-10", "50", "-10", "-10", "-10"]  # 30 % won, PF>1
WINNING = ["20", "-10", "20", "20", "-10", "20", "-10", "20", "20", "-10"]  # 60 % won


@pytest.fixture
def rule_win_rate_only() -> AlertRule:
    """The default rule judging the win rate alone, so each test sees one kind of breach."""
    rule = AlertRule.objects.get(bot__isnull=True)
    rule.min_profit_factor = None
    rule.max_drawdown_pct = None
    rule.max_consecutive_losses = None
    rule.save()
    return rule


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(services, "publish_event", lambda kind, data: sent.append((kind, data)))
    return sent


def test_default_rule_with_fresh_database_exists_with_defaults() -> None:
    rule = AlertRule.objects.get(bot__isnull=True)
    assert rule.enabled and rule.min_win_rate == Decimal("0.40") and rule.min_trades == 10
    assert rule.max_drawdown_pct == Decimal("10") and rule.cooldown_hours == 24


def test_performance_review_with_trades_over_the_period_stores_reports_per_scope() -> None:
    bot = make_bot()
    make_closed_trade(bot, "100", exit_time=NOW - timedelta(hours=30), mode="SWING")
    close_series(bot, WINNING, end=NOW, span=SIX_HOURS)
    make_closed_trade(bot, "999", exit_time=NOW + timedelta(minutes=1))  # after the review
    reports = performance_review(now=NOW)
    by_key = {(r.bot_id, r.mode, r.window): r for r in reports}
    assert set(by_key) == {
        (b, m, w)
        for b in (None, bot.pk)
        for m in ("", "SCALP", "SWING")
        for w in ("all", "period")
        if not (m == "SWING" and w == "period")
    }
    everything = by_key[(None, "", "all")]
    assert everything.trades == 11 and everything.net_pnl == Decimal(180)
    assert everything.period_start is None and everything.period_end == NOW
    period = by_key[(bot.pk, "", "period")]
    assert period.trades == 10 and period.wins == 6 and period.win_rate == Decimal("0.6")
    assert period.period_start == NOW - SIX_HOURS
    assert period.profit_factor == Decimal(3) and period.net_pnl == Decimal(80)
    assert period.starting_equity == Decimal(10000)
    assert PerformanceReport.objects.count() == len(reports)


def test_performance_review_with_no_trades_stores_an_empty_total_report() -> None:
    reports = performance_review(now=NOW)
    assert [(r.bot_id, r.mode, r.window, r.trades) for r in reports] == [
        (None, "", "all", 0),
        (None, "", "period", 0),
    ]
    assert reports[0].win_rate is None and not Alert.objects.exists()


def test_performance_review_with_naive_now_raises() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        performance_review(now=NOW.replace(tzinfo=None))


def test_performance_review_with_win_rate_below_threshold_after_the_period_alerts(
    rule_win_rate_only: AlertRule, events: list
) -> None:
    bot = make_bot()
    close_series(bot, LOSING, end=NOW, span=SIX_HOURS)
    performance_review(now=NOW, period_hours=6)
    (alert,) = Alert.objects.all()
    assert alert.kind == BreachKind.WIN_RATE and alert.severity == "warning"
    assert alert.bot == bot and alert.created_at == NOW
    assert alert.message == "bot-1: win rate 30.0 % is below 40.0 % over 10 trades (3 won, 7 lost)"
    assert Decimal(alert.data["value"]) == Decimal("0.3")
    assert Decimal(alert.data["threshold"]) == Decimal("0.4")
    assert alert.report is not None and alert.report.window == "all"
    assert [(kind, data["id"]) for kind, data in events] == [("alert", alert.pk)]


def test_performance_review_with_win_rate_above_threshold_does_not_alert(
    rule_win_rate_only: AlertRule,
) -> None:
    close_series(make_bot(), WINNING, end=NOW, span=SIX_HOURS)
    performance_review(now=NOW)
    assert not Alert.objects.exists()


def test_performance_review_with_no_trade_in_the_period_does_not_judge(
    rule_win_rate_only: AlertRule,
) -> None:
    close_series(make_bot(), LOSING, end=NOW - SIX_HOURS, span=SIX_HOURS)
    reports = performance_review(now=NOW)
    assert not Alert.objects.exists()
    assert any(r.window == "all" and r.trades == 10 for r in reports)


def test_performance_review_with_bot_rule_uses_it_instead_of_default(
    rule_win_rate_only: AlertRule,
) -> None:
    bot = make_bot()
    AlertRule.objects.create(bot=bot, min_win_rate=Decimal("0.25"), max_consecutive_losses=None)
    close_series(bot, LOSING, end=NOW, span=SIX_HOURS)
    performance_review(now=NOW)
    assert not Alert.objects.filter(kind=BreachKind.WIN_RATE).exists()


def test_performance_review_with_disabled_rule_does_not_alert(
    rule_win_rate_only: AlertRule,
) -> None:
    rule_win_rate_only.enabled = False
    rule_win_rate_only.save()
    close_series(make_bot(), LOSING, end=NOW, span=SIX_HOURS)
    performance_review(now=NOW)
    assert not Alert.objects.exists()


def test_performance_review_with_repeat_breach_within_cooldown_does_not_realert(
    rule_win_rate_only: AlertRule,
) -> None:
    bot = make_bot()
    close_series(bot, LOSING, end=NOW, span=SIX_HOURS)
    performance_review(now=NOW)
    make_closed_trade(bot, "-5", exit_time=NOW + timedelta(hours=5))
    performance_review(now=NOW + timedelta(hours=6))
    assert Alert.objects.count() == 1
    make_closed_trade(bot, "-5", exit_time=NOW + timedelta(hours=24, minutes=30))
    performance_review(now=NOW + timedelta(hours=25))
    assert Alert.objects.filter(kind=BreachKind.WIN_RATE).count() == 2
    other = make_bot("bot-2")
    close_series(other, LOSING, end=NOW + timedelta(hours=26), span=SIX_HOURS)
    performance_review(now=NOW + timedelta(hours=26))
    assert Alert.objects.filter(bot=other).count() == 1  # another bot is not suppressed


def test_performance_review_with_deep_losses_raises_critical_drawdown_alert() -> None:
    bot = make_bot()
    close_series(bot, ["-400"] * 3, end=NOW, span=SIX_HOURS)  # 1200 of 10000 = 12 %
    performance_review(now=NOW)
    kinds = dict(Alert.objects.values_list("kind", "severity"))
    assert kinds == {BreachKind.DRAWDOWN: "critical"}


def test_performance_review_with_email_channel_sends_mail_after_commit(
    rule_win_rate_only: AlertRule, django_capture_on_commit_callbacks
) -> None:
    NotificationChannel.objects.create(
        name="ops-mail", kind="email", email_recipients="ops@example.com,\nrisk@example.com"
    )
    NotificationChannel.objects.create(
        name="pager", kind="email", email_recipients="pager@example.com", min_severity="critical"
    )
    NotificationChannel.objects.create(
        name="off", kind="email", email_recipients="off@example.com", enabled=False
    )
    close_series(make_bot(), LOSING, end=NOW, span=SIX_HOURS)
    with django_capture_on_commit_callbacks(execute=True):
        performance_review(now=NOW)
        assert mail.outbox == []  # nothing leaves before the commit
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "risk@example.com"]
    assert message.subject == "[warning] bot-1: Win rate below minimum"
    assert "win rate 30.0 % is below 40.0 %" in message.body
    (delivery,) = AlertDelivery.objects.all()
    assert delivery.channel_name == "ops-mail" and delivery.status == "sent"


def test_performance_review_with_webhook_channel_posts_signed_json(
    rule_win_rate_only: AlertRule, webhook_server, django_capture_on_commit_callbacks
) -> None:
    receiver = webhook_server([200])
    secret = "hook-secret-7c1f"
    NotificationChannel.objects.create(
        name="hook", kind="webhook", webhook_url=receiver.url, webhook_secret=secret
    )
    close_series(make_bot(), LOSING, end=NOW, span=SIX_HOURS)
    with django_capture_on_commit_callbacks(execute=True):
        performance_review(now=NOW)
    (request,) = receiver.requests
    body = request["body"]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request["headers"]["X-Signature"], expected)
    assert request["headers"]["Content-Type"] == "application/json"
    payload = json.loads(body)
    alert = Alert.objects.get()
    assert payload["id"] == alert.pk and payload["kind"] == "win_rate_low"
    assert payload["bot"] == "bot-1" and payload["severity"] == "warning"
    assert payload["created_at"] == NOW.isoformat()
    delivery = alert.deliveries.get()
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 1, "")


def test_alerts_deliver_with_server_error_then_success_retries_once(webhook_server) -> None:
    receiver = webhook_server([503, 200])
    NotificationChannel.objects.create(name="hook", kind="webhook", webhook_url=receiver.url)
    alert = _alert()
    (delivery,) = alerts_deliver(alert_ids=[alert.pk], now=NOW)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(receiver.requests) == 2 and "X-Signature" not in receiver.requests[0]["headers"]


def test_alerts_deliver_with_failing_webhook_records_failure_without_raising(
    rule_win_rate_only: AlertRule, webhook_server, django_capture_on_commit_callbacks
) -> None:
    receiver = webhook_server([500])
    NotificationChannel.objects.create(name="hook", kind="webhook", webhook_url=receiver.url)
    NotificationChannel.objects.create(name="mail", kind="email", email_recipients="a@b.example")
    close_series(make_bot(), LOSING, end=NOW, span=SIX_HOURS)
    with django_capture_on_commit_callbacks(execute=True):
        performance_review(now=NOW)
    deliveries = {d.channel_name: d for d in AlertDelivery.objects.all()}
    assert deliveries["hook"].status == "failed" and deliveries["hook"].attempts == 2
    assert deliveries["hook"].error == "HTTP 500 Internal Server Error"
    assert deliveries["mail"].status == "sent" and len(mail.outbox) == 1
    assert len(receiver.requests) == 2


def test_alerts_deliver_with_unreachable_webhook_records_failure(no_retry_delay) -> None:
    NotificationChannel.objects.create(
        name="dead", kind="webhook", webhook_url=f"http://127.0.0.1:{free_port()}/x"
    )
    (delivery,) = alerts_deliver(alert_ids=[_alert().pk], now=NOW)
    assert delivery.status == "failed" and delivery.attempts == 2
    assert "refused" in delivery.error.lower()


def test_alerts_deliver_with_client_error_does_not_retry(webhook_server) -> None:
    receiver = webhook_server([404])
    NotificationChannel.objects.create(name="hook", kind="webhook", webhook_url=receiver.url)
    (delivery,) = alerts_deliver(alert_ids=[_alert().pk], now=NOW)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "404" in delivery.error


def test_alerts_deliver_with_alert_already_sent_skips_that_channel() -> None:
    NotificationChannel.objects.create(name="mail", kind="email", email_recipients="a@b.example")
    alert = _alert()
    alerts_deliver(alert_ids=[alert.pk], now=NOW)
    assert alerts_deliver(alert_ids=[alert.pk], now=NOW) == []
    assert len(mail.outbox) == 1


def test_channel_send_test_with_webhook_sends_a_test_payload(webhook_server) -> None:
    receiver = webhook_server([200])
    channel = NotificationChannel.objects.create(
        name="hook", kind="webhook", webhook_url=receiver.url, enabled=False
    )
    result = channel_send_test(channel=channel, now=NOW)
    assert result.ok
    assert json.loads(receiver.requests[0]["body"])["kind"] == "test"
    assert not Alert.objects.exists()


def test_alerts_acknowledge_with_user_marks_only_open_alerts(superuser) -> None:
    first, second = _alert(), _alert()
    assert alerts_acknowledge(alert_ids=[first.pk], user=superuser, now=NOW) == 1
    assert alerts_acknowledge(alert_ids=[first.pk, second.pk], user=None, now=NOW) == 1
    first.refresh_from_db()
    assert first.acknowledged_at == NOW and first.acknowledged_by == superuser


def _alert(severity: str = "warning") -> Alert:
    return Alert.objects.create(
        severity=severity,
        kind=BreachKind.WIN_RATE,
        message="bot-x: win rate 10.0 % is below 40.0 %",
        dedup_key="win_rate_low:*:*",
        created_at=NOW,
    )
