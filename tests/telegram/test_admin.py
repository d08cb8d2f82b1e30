"""The Telegram admin: the token is write-only and encrypted, allowed chats and a channel's
events are chosen there, and the token can be checked against Telegram (the fake)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from apps.monitoring.models import NotificationChannel
from apps.telegram.models import CommandRecord, KillSwitchRequest, Notice, TelegramBot
from tests.telegram.conftest import TOKEN

pytestmark = pytest.mark.django_db


def _raw_token(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM telegram_telegrambot WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def test_telegram_bot_admin_stores_token_encrypted_and_never_shows_it(
    admin_client_logged, tg, settings
) -> None:
    settings.TELEGRAM_API_BASE_URL = tg.url
    add = reverse("admin:telegram_telegrambot_add")
    response = admin_client_logged.post(
        add,
        {
            "enabled": "on",
            "allowed_chat_ids": "1001\n-2002",
            "commands_per_minute": "20",
            "confirm_seconds": "60",
            "new_token": TOKEN,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    config = TelegramBot.objects.get()
    assert config.token == TOKEN and config.allowed == {1001, -2002}
    raw = _raw_token(config.pk)
    assert raw.startswith("fernet:") and TOKEN.split(":", 1)[1] not in raw
    change = reverse("admin:telegram_telegrambot_change", args=[config.pk])
    listing = reverse("admin:telegram_telegrambot_changelist")
    for url in (change, listing):
        html = admin_client_logged.get(url).content.decode()
        assert TOKEN.split(":", 1)[1] not in html
    assert "stored (encrypted)" in admin_client_logged.get(change).content.decode()
    assert TOKEN not in repr(config)
    assert admin_client_logged.get(add).status_code == 403  # one bot only

    response = admin_client_logged.post(
        listing, {"action": "check_token", "_selected_action": [config.pk]}, follow=True
    )
    assert "The token belongs to @tp_test_bot." in response.content.decode()


def test_telegram_bot_admin_with_bad_chat_id_or_token_refuses(admin_client_logged) -> None:
    response = admin_client_logged.post(
        reverse("admin:telegram_telegrambot_add"),
        {
            "enabled": "on",
            "allowed_chat_ids": "1001, @alice",
            "commands_per_minute": "20",
            "confirm_seconds": "60",
            "new_token": "no colon here",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "not a Telegram chat id (a whole number): @alice" in html
    assert "a bot token looks like 123456789:AAE" in html
    assert not TelegramBot.objects.exists()


def test_channel_admin_with_telegram_kind_stores_chosen_events(admin_client_logged) -> None:
    add = reverse("admin:monitoring_notificationchannel_add")
    assert 'value="daily_summary"' in admin_client_logged.get(add).content.decode()
    form = {
        "name": "desk",
        "kind": "telegram",
        "enabled": "on",
        "min_severity": "warning",
        "timeout_seconds": "5",
        "events": ["trade_closed", "kill_switch"],
    }
    response = admin_client_logged.post(add, form)
    assert response.status_code == 200
    assert "a Telegram channel needs at least one chat id" in response.content.decode()
    response = admin_client_logged.post(add, {**form, "telegram_chat_ids": "-2002"})
    assert response.status_code == 302
    channel = NotificationChannel.objects.get(name="desk")
    assert channel.events == ["trade_closed", "kill_switch"] and channel.chat_ids == [-2002]
    assert channel.wants("kill_switch") and not channel.accepts("critical")  # no alerts chosen


@pytest.mark.parametrize("model", [CommandRecord, KillSwitchRequest, Notice])
def test_record_changelists_render(admin_client_logged, model) -> None:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client_logged.get(url).status_code == 200
