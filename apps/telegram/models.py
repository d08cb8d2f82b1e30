"""The Telegram bot's configuration, what it was told and did, and the notification outbox."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.core.fields import EncryptedTextField
from apps.monitoring.models import NotificationChannel, NotificationEvent, parse_chat_ids


class TelegramBot(models.Model):
    """The platform's Telegram bot (one row): who may command it and how it is reached."""

    key = models.CharField(max_length=16, default="default", unique=True, editable=False)
    enabled = models.BooleanField(
        default=True, help_text="Off: no polling for commands and no Telegram notifications."
    )
    token = EncryptedTextField(
        blank=True,
        default="",
        help_text="From @BotFather. Stored encrypted; empty: TELEGRAM_BOT_TOKEN from the "
        "environment.",
    )
    allowed_chat_ids = models.TextField(
        blank=True,
        default="",
        help_text="Chats whose commands are obeyed (numbers; groups are negative), separated by "
        "commas or new lines. Any other chat gets no answer at all.",
    )
    commands_per_minute = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(600)],
        help_text="Per chat; a flood beyond this is ignored (with one notice).",
    )
    confirm_seconds = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(10), MaxValueValidator(600)],
        help_text="How long a /killswitch waits for its /confirm CODE.",
    )
    update_offset = models.BigIntegerField(
        default=0, editable=False, help_text="The next Telegram update id to fetch."
    )
    username = models.CharField(max_length=64, blank=True, default="", editable=False)
    last_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, default="", editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Telegram bot"

    def __str__(self) -> str:
        return f"Telegram bot @{self.username}" if self.username else "Telegram bot"

    def __repr__(self) -> str:  # never show the token
        return f"<TelegramBot {self.username or '-'} enabled={self.enabled}>"

    @property
    def allowed(self) -> set[int]:
        return set(parse_chat_ids(self.allowed_chat_ids))

    def clean(self) -> None:
        try:
            parse_chat_ids(self.allowed_chat_ids)
        except ValueError as exc:
            raise ValidationError({"allowed_chat_ids": str(exc)}) from exc


class CommandRecord(models.Model):
    """One command from an allowed chat and what became of it (the audit trail)."""

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        REFUSED = "refused", "Refused (bad input or not possible)"
        AWAITING = "awaiting", "Waiting for confirmation"
        FLOODED = "flooded", "Ignored (flood)"
        FAILED = "failed", "Failed (error)"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    chat_id = models.BigIntegerField()
    username = models.CharField(max_length=64, blank=True, default="")
    actor = models.CharField(max_length=128, help_text="telegram:<chat id>/<username>")
    text = models.CharField(max_length=255)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reply = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor}: {self.text} ({self.outcome})"


class KillSwitchRequest(models.Model):
    """A /killswitch waiting for its /confirm CODE from the same chat."""

    chat_id = models.BigIntegerField()
    actor = models.CharField(max_length=128)
    bots = models.JSONField(default=list, blank=True, help_text="Empty: all bots.")
    code = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["chat_id", "code"])]

    def __str__(self) -> str:
        return f"kill switch of {', '.join(self.bots) or 'all bots'} by {self.actor}"


class Notice(models.Model):
    """One event to tell the notification channels about (the outbox). Written in the
    transaction of the change it reports; sent after commit by the notifier."""

    kind = models.CharField(max_length=16, choices=NotificationEvent.choices)
    bot_name = models.CharField(max_length=64, blank=True, default="")
    subject = models.CharField(max_length=200)
    text = models.TextField()
    payload = models.JSONField(default=dict, blank=True)
    dedup_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["done_at", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}"


class NoticeDelivery(models.Model):
    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    channel_name = models.CharField(max_length=64)
    status = models.CharField(max_length=6, choices=Status.choices)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.CharField(max_length=500, blank=True, default="")
    reached = models.JSONField(
        default=list, blank=True, help_text="Telegram: the chats this attempt reached."
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["notice", "channel_name", "at"]
        verbose_name_plural = "notice deliveries"

    def __str__(self) -> str:
        return f"{self.channel_name}: {self.status}"
