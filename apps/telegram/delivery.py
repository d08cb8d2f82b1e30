"""A monitoring channel of kind Telegram, delivered through the platform's Telegram bot:
one short plain-text message to each of the channel's chat ids (``chat_text``, else the subject
and the first paragraph of the text); a 429 (flood control) or a network error is retried once
after ``retry_after`` (at most 5 s). Registered with ``apps.monitoring.notifications`` when the
app starts (``TelegramConfig.ready``)."""

from __future__ import annotations

import time

from apps.monitoring import notifications
from apps.monitoring.models import NotificationChannel
from apps.monitoring.notifications import DeliveryResult, Notification, chat_text_of
from apps.telegram.client import TelegramError
from apps.telegram.domain.messages import clip
from apps.telegram.selectors import telegram_api, telegram_bot_get


def send_telegram(*, channel: NotificationChannel, notification: Notification) -> DeliveryResult:
    try:
        chat_ids = channel.chat_ids
    except ValueError as exc:
        return DeliveryResult(ok=False, attempts=0, error=str(exc))
    if not chat_ids:
        return DeliveryResult(ok=False, attempts=0, error="no chat ids configured")
    api = telegram_api(telegram_bot_get(), timeout=float(channel.timeout_seconds))
    if api is None:
        return DeliveryResult(
            ok=False, attempts=0, error="no enabled Telegram bot with a token (admin: Telegram bot)"
        )
    text = clip(chat_text_of(notification))
    attempts, failures, reached = 0, [], []
    for chat_id in chat_ids:
        if str(chat_id) in notification.skip_targets:
            continue
        for attempt in range(1 + notifications.WEBHOOK_RETRIES):
            attempts += 1
            try:
                api.send_message(chat_id=chat_id, text=text)
                reached.append(str(chat_id))
                break
            except TelegramError as exc:  # its message never holds the token
                if exc.temporary and attempt < notifications.WEBHOOK_RETRIES:
                    time.sleep(
                        min(5.0, exc.retry_after or notifications.WEBHOOK_RETRY_DELAY_SECONDS)
                    )
                    continue
                failures.append(f"chat {chat_id}: {exc}")
    if failures:
        error = "; ".join(failures)[:500]
        return DeliveryResult(ok=False, attempts=attempts, error=error, reached=tuple(reached))
    return DeliveryResult(ok=True, attempts=attempts, reached=tuple(reached))
