from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.bots.access import action_record
from apps.core.admin import EngineRecordAdmin, ReadOnlyInline
from apps.monitoring.models import (
    Alert,
    AlertDelivery,
    AlertRule,
    NotificationChannel,
    NotificationEvent,
    PerformanceReport,
)
from apps.monitoring.services import alerts_acknowledge, channel_send_test


@admin.register(PerformanceReport)
class PerformanceReportAdmin(EngineRecordAdmin):
    list_display = [
        "created_at",
        "bot",
        "mode",
        "window",
        "trades",
        "win_rate",
        "profit_factor",
        "profit_loss_ratio",
        "net_pnl",
        "max_drawdown_pct",
        "avg_roi",
    ]
    list_filter = ["window", "mode", "bot"]
    search_fields = ["bot__name"]
    date_hierarchy = "created_at"
    list_select_related = ["bot"]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "enabled",
        "min_win_rate",
        "min_profit_factor",
        "max_drawdown_pct",
        "max_consecutive_losses",
        "min_trades",
        "cooldown_hours",
        "updated_at",
    ]
    list_filter = ["enabled"]
    search_fields = ["bot__name"]
    list_select_related = ["bot"]


class AlertDeliveryInline(ReadOnlyInline):
    model = AlertDelivery
    fields = ["channel_name", "status", "attempts", "error", "at"]


@admin.register(Alert)
class AlertAdmin(EngineRecordAdmin):
    list_display = [
        "created_at",
        "severity",
        "kind",
        "bot",
        "message",
        "delivery",
        "acknowledged_at",
        "acknowledged_by",
    ]
    list_filter = ["severity", "kind", ("acknowledged_at", admin.EmptyFieldListFilter), "bot"]
    search_fields = ["message", "bot__name", "kind"]
    date_hierarchy = "created_at"
    list_select_related = ["bot", "acknowledged_by"]
    inlines = [AlertDeliveryInline]
    actions = ["acknowledge"]
    extra_readonly_fields = ["delivery"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.display(description="Delivered")
    def delivery(self, obj: Alert) -> str:
        rows = list(obj.deliveries.all())
        if not rows:
            return "-"
        sent = sum(1 for d in rows if d.status == AlertDelivery.Status.SENT)
        failed = len(rows) - sent
        return f"{sent} sent" + (f", {failed} failed" if failed else "")

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        user = request.user if request.user.is_authenticated else None
        alerts = list(queryset)
        count = alerts_acknowledge(alert_ids=[a.pk for a in alerts], user=user, now=timezone.now())
        for alert in alerts:
            action_record(user=request.user, obj=alert, message="acknowledged")
        self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)


class NotificationChannelForm(forms.ModelForm):
    """The webhook secret is write-only: the form never renders a stored value back."""

    new_webhook_secret = forms.CharField(
        label="Webhook secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the stored secret. Stored encrypted; never shown again. "
        "Signs each body with HMAC-SHA256 in the X-Signature header.",
    )
    clear_webhook_secret = forms.BooleanField(
        required=False, help_text="Remove the stored secret (bodies are sent unsigned)."
    )
    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=NotificationChannel._meta.get_field("webhook_url").help_text,
    )
    events = forms.MultipleChoiceField(
        choices=NotificationEvent.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What this channel is told about. Performance alerts also need the minimum "
        "severity; the other events are sent whatever their severity.",
    )

    class Meta:
        model = NotificationChannel
        fields = [
            "name",
            "kind",
            "enabled",
            "min_severity",
            "events",
            "email_recipients",
            "webhook_url",
            "telegram_chat_ids",
            "timeout_seconds",
        ]

    def clean_events(self) -> list[str]:
        return [str(event) for event in self.cleaned_data.get("events") or []]

    def save(self, commit: bool = True) -> NotificationChannel:
        channel = super().save(commit=False)
        if self.cleaned_data.get("clear_webhook_secret"):
            channel.webhook_secret = ""
        if self.cleaned_data.get("new_webhook_secret"):
            channel.webhook_secret = self.cleaned_data["new_webhook_secret"]
        if commit:
            channel.save()
        return channel


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    form = NotificationChannelForm
    list_display = [
        "name",
        "kind",
        "enabled",
        "min_severity",
        "event_list",
        "target",
        "signed",
        "updated_at",
    ]
    list_filter = ["kind", "enabled", "min_severity"]
    search_fields = ["name", "email_recipients", "webhook_url"]
    readonly_fields = ["signed", "created_at", "updated_at"]
    actions = ["send_test"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled", "min_severity", "timeout_seconds"]}),
        ("Events", {"fields": ["events"]}),
        ("Email", {"fields": ["email_recipients"]}),
        (
            "Telegram (sent by the Telegram bot; admin: Telegram bot)",
            {"fields": ["telegram_chat_ids"]},
        ),
        (
            "Webhook (secret encrypted at rest, write-only)",
            {"fields": ["webhook_url", "signed", "new_webhook_secret", "clear_webhook_secret"]},
        ),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="Events")
    def event_list(self, obj: NotificationChannel) -> str:
        return ", ".join(obj.events or []) or "none"

    @admin.display(description="Target")
    def target(self, obj: NotificationChannel) -> str:
        if obj.kind == NotificationChannel.Kind.EMAIL:
            return ", ".join(obj.recipients)
        if obj.kind == NotificationChannel.Kind.TELEGRAM:
            return obj.telegram_chat_ids
        return obj.webhook_url

    @admin.display(description="Signing secret")
    def signed(self, obj: NotificationChannel) -> str:
        if obj.kind != NotificationChannel.Kind.WEBHOOK:
            return "-"
        return "stored (encrypted)" if obj.webhook_secret else "not set"

    @admin.action(description="Send a test notification", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[NotificationChannel]) -> None:
        for channel in queryset:
            result = channel_send_test(channel=channel, now=timezone.now())
            action_record(
                user=request.user,
                obj=channel,
                message="test notification " + ("sent" if result.ok else "failed"),
            )
            text = f"Test notification to {channel.name}"
            if result.ok:
                self.message_user(request, f"{text} sent.", messages.SUCCESS)
            else:
                self.message_user(request, f"{text} failed: {result.error}", messages.ERROR)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        return {"kind": NotificationChannel.Kind.EMAIL, **initial}
