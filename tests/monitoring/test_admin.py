"""The monitoring admin: pages render, actions work, the webhook secret never comes back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from apps.monitoring.models import (
    Alert,
    AlertDelivery,
    AlertRule,
    NotificationChannel,
    PerformanceReport,
)
from apps.monitoring.services import performance_review
from tests.factories import make_bot
from tests.monitoring.conftest import NOW, close_series
from testsupport.processes import free_port

pytestmark = pytest.mark.django_db

SECRET = "webhook-signing-secret-5150"


@pytest.fixture
def filled() -> dict[str, object]:
    """Reports, alerts with deliveries and channels of both kinds."""
    bot = make_bot()
    close_series(bot, ["-400", "-400", "-400"], end=NOW, span=timedelta(hours=6))
    performance_review(now=NOW)
    alert = Alert.objects.get()
    hook = NotificationChannel.objects.create(
        name="hook",
        kind="webhook",
        webhook_url=f"http://127.0.0.1:{free_port()}/x",
        webhook_secret=SECRET,
    )
    NotificationChannel.objects.create(name="mail", kind="email", email_recipients="a@b.example")
    AlertDelivery.objects.create(
        alert=alert, channel=hook, channel_name="hook", status="failed", attempts=2, error="x"
    )
    return {"bot": bot, "alert": alert, "hook": hook}


@pytest.mark.parametrize(
    "model", [PerformanceReport, AlertRule, Alert, NotificationChannel], ids=lambda m: m.__name__
)
def test_monitoring_changelist_with_data_renders(admin_client_logged, filled, model) -> None:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = admin_client_logged.get(url)
    assert response.status_code == 200, url
    response = admin_client_logged.get(url + "?q=bot")
    assert response.status_code == 200, url


def test_monitoring_change_pages_with_data_render(admin_client_logged, filled) -> None:
    urls = [
        reverse("admin:monitoring_alert_change", args=[filled["alert"].pk]),
        reverse(
            "admin:monitoring_performancereport_change",
            args=[PerformanceReport.objects.first().pk],
        ),
        reverse("admin:monitoring_alertrule_change", args=[AlertRule.objects.get().pk]),
        reverse("admin:monitoring_notificationchannel_add"),
        reverse("admin:monitoring_alertrule_add"),
    ]
    for url in urls:
        assert admin_client_logged.get(url).status_code == 200, url
    html = admin_client_logged.get(urls[0]).content.decode()
    assert "0 sent, 1 failed" in html


def test_alert_admin_with_engine_records_has_no_add_page(admin_client_logged) -> None:
    for name in ("alert", "performancereport"):
        assert admin_client_logged.get(reverse(f"admin:monitoring_{name}_add")).status_code == 403


def test_channel_admin_with_stored_secret_never_shows_it(admin_client_logged, filled) -> None:
    hook = filled["hook"]
    pages = [
        reverse("admin:monitoring_notificationchannel_changelist"),
        reverse("admin:monitoring_notificationchannel_changelist") + "?q=hook",
        reverse("admin:monitoring_notificationchannel_change", args=[hook.pk]),
    ]
    for url in pages:
        html = admin_client_logged.get(url).content.decode()
        assert SECRET not in html, url
    assert "stored (encrypted)" in admin_client_logged.get(pages[2]).content.decode()
    assert SECRET not in repr(hook)


def test_channel_admin_with_new_secret_stores_it_encrypted(admin_client_logged) -> None:
    response = admin_client_logged.post(
        reverse("admin:monitoring_notificationchannel_add"),
        {
            "name": "hook-2",
            "kind": "webhook",
            "enabled": "on",
            "min_severity": "warning",
            "email_recipients": "",
            "webhook_url": "https://hooks.example.com/alerts",
            "timeout_seconds": "5",
            "new_webhook_secret": SECRET,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    channel = NotificationChannel.objects.get(name="hook-2")
    assert channel.webhook_secret == SECRET
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT webhook_secret FROM monitoring_notificationchannel WHERE id = %s", [channel.pk]
        )
        (stored,) = cursor.fetchone()
    assert stored.startswith("fernet:") and SECRET not in stored


def test_channel_admin_with_webhook_and_no_url_refuses(admin_client_logged) -> None:
    response = admin_client_logged.post(
        reverse("admin:monitoring_notificationchannel_add"),
        {"name": "bad", "kind": "webhook", "min_severity": "info", "timeout_seconds": "5"},
    )
    assert response.status_code == 200
    assert "a webhook channel needs a URL" in response.content.decode()
    assert not NotificationChannel.objects.filter(name="bad").exists()


def test_alert_admin_acknowledge_action_marks_alerts(admin_client_logged, filled) -> None:
    alert = filled["alert"]
    url = reverse("admin:monitoring_alert_changelist")
    response = admin_client_logged.post(
        url, {"action": "acknowledge", "_selected_action": [alert.pk]}, follow=True
    )
    assert "1 alert(s) acknowledged." in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by.username == "root"


def test_channel_admin_send_test_action_reports_each_result(
    admin_client_logged, filled, no_retry_delay
) -> None:
    url = reverse("admin:monitoring_notificationchannel_changelist")
    ids = list(NotificationChannel.objects.values_list("pk", flat=True))
    response = admin_client_logged.post(
        url, {"action": "send_test", "_selected_action": ids}, follow=True
    )
    html = response.content.decode()
    assert "Test notification to mail sent." in html
    assert "Test notification to hook failed: URLError" in html
    assert len(mail.outbox) == 1 and mail.outbox[0].subject.startswith("[test]")


def test_alert_rule_admin_with_second_default_rule_refuses(admin_client_logged) -> None:
    response = admin_client_logged.post(
        reverse("admin:monitoring_alertrule_add"),
        {
            "bot": "",
            "enabled": "on",
            "min_win_rate": "0.5",
            "min_profit_factor": "1",
            "max_drawdown_pct": "10",
            "max_consecutive_losses": "5",
            "min_trades": "10",
            "cooldown_hours": "24",
        },
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert AlertRule.objects.count() == 1
    assert AlertRule.objects.get().min_win_rate == Decimal("0.40")
