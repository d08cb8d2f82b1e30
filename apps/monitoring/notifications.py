"""Sending a notification over one channel: email (Django's mail backend), a signed webhook,
or Telegram (``sendMessage`` of the platform's Telegram bot: ``apps.telegram.delivery``,
registered here by ``sender_register`` when that app starts).

Transport only: nothing here writes to the database, and :func:`send` never raises; a failure
comes back as a :class:`DeliveryResult` with the error, for the caller to record.

Webhook: ``POST`` of the JSON payload (``Content-Type: application/json``). With a secret, the
header ``X-Signature: sha256=<hex>`` holds HMAC-SHA256(secret, raw body); a receiver recomputes
it over the exact bytes it received and compares in constant time. A network error, a timeout,
HTTP 429 or a 5xx is retried once after ``WEBHOOK_RETRY_DELAY_SECONDS``; other 4xx are not.
Email is sent once (the SMTP backend has its own connection handling); settings: ``EMAIL_*``,
sender ``DEFAULT_FROM_EMAIL``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail

from apps.monitoring.models import NotificationChannel

logger = logging.getLogger(__name__)

WEBHOOK_RETRIES = 1
WEBHOOK_RETRY_DELAY_SECONDS = 1.0
SIGNATURE_HEADER = "X-Signature"
USER_AGENT = "tradingplatform-monitor/1"


@dataclass(frozen=True, slots=True)
class Notification:
    subject: str
    text: str
    payload: dict[str, Any]
    chat_text: str = ""  # the short form for chats (Telegram); empty: built from the above
    skip_targets: frozenset[str] = frozenset()  # chats an earlier attempt already reached


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    attempts: int
    error: str = ""
    reached: tuple[str, ...] = ()  # Telegram: the chats this attempt reached


class _Temporary(Exception):
    """A failure worth one more attempt."""


def sign(body: bytes, secret: str) -> str:
    """Return the ``X-Signature`` value for `body`: ``sha256=`` + hex HMAC-SHA256."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def encode_payload(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def send_email(*, channel: NotificationChannel, notification: Notification) -> DeliveryResult:
    recipients = channel.recipients
    if not recipients:
        return DeliveryResult(ok=False, attempts=0, error="no recipients configured")
    try:
        send_mail(
            subject=notification.subject,
            message=notification.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
            fail_silently=False,
        )
    except Exception as exc:
        return DeliveryResult(ok=False, attempts=1, error=_describe(exc))
    return DeliveryResult(ok=True, attempts=1)


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as exc:
        message = f"HTTP {exc.code} {exc.reason}"
        if exc.code == 429 or exc.code >= 500:
            raise _Temporary(message) from exc
        raise RuntimeError(message) from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise _Temporary(_describe(exc)) from exc


def send_webhook(*, channel: NotificationChannel, notification: Notification) -> DeliveryResult:
    url = channel.webhook_url
    if urlsplit(url).scheme not in ("http", "https"):
        return DeliveryResult(ok=False, attempts=0, error="webhook URL must be http(s)")
    body = encode_payload(notification.payload)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if channel.webhook_secret:
        headers[SIGNATURE_HEADER] = sign(body, str(channel.webhook_secret))
    attempts = 0
    while True:
        attempts += 1
        try:
            _post_once(url, body, headers, float(channel.timeout_seconds))
        except _Temporary as exc:
            if attempts <= WEBHOOK_RETRIES:
                logger.warning("webhook %s failed (%s); retrying", channel.name, exc)
                time.sleep(WEBHOOK_RETRY_DELAY_SECONDS)
                continue
            return DeliveryResult(ok=False, attempts=attempts, error=str(exc))
        except Exception as exc:
            return DeliveryResult(ok=False, attempts=attempts, error=_describe(exc))
        return DeliveryResult(ok=True, attempts=attempts)


def chat_text_of(notification: Notification) -> str:
    if notification.chat_text:
        return notification.chat_text
    first = notification.text.split("\n\n", 1)[0].strip()
    return f"{notification.subject}\n{first}" if first else notification.subject


Sender = Callable[..., DeliveryResult]
_SENDERS: dict[str, Sender] = {}


def sender_register(kind: str, sender: Sender) -> None:
    """Deliver channels of ``kind`` with ``sender(channel=, notification=)`` (the Telegram app
    registers the Telegram kind when it starts: monitoring does not reach up into it)."""
    _SENDERS[kind] = sender


def send(*, channel: NotificationChannel, notification: Notification) -> DeliveryResult:
    """Send `notification` over `channel`; never raise."""
    try:
        if channel.kind == NotificationChannel.Kind.EMAIL:
            return send_email(channel=channel, notification=notification)
        if channel.kind == NotificationChannel.Kind.WEBHOOK:
            return send_webhook(channel=channel, notification=notification)
        sender = _SENDERS.get(channel.kind)
        if sender is not None:
            return sender(channel=channel, notification=notification)
        return DeliveryResult(
            ok=False, attempts=0, error=f"no sender for channel kind {channel.kind}"
        )
    except Exception as exc:  # e.g. an undecryptable secret: record it, never break the review
        logger.exception("notification over %s failed", channel.name)
        return DeliveryResult(ok=False, attempts=0, error=_describe(exc))


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = f"{type(exc).__name__}: {reason if reason is not None else exc}"
    return text[:500]
