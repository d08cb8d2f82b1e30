from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.admin import EngineRecordAdmin, ReadOnlyInline
from apps.telegram.client import TelegramError
from apps.telegram.models import (
    CommandRecord,
    KillSwitchRequest,
    Notice,
    NoticeDelivery,
    TelegramBot,
)
from apps.telegram.selectors import telegram_api, telegram_token
from apps.telegram.services import telegram_bot_seen


class TelegramBotForm(forms.ModelForm):
    """The token is write-only: the form never renders a stored value back."""

    new_token = forms.CharField(
        label="Bot token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="From @BotFather (123456:ABC...). Leave empty to keep the stored token. "
        "Stored encrypted; never shown again. Empty everywhere: TELEGRAM_BOT_TOKEN.",
    )
    clear_token = forms.BooleanField(
        required=False, help_text="Remove the stored token (TELEGRAM_BOT_TOKEN is used then)."
    )

    class Meta:
        model = TelegramBot
        fields = ["enabled", "allowed_chat_ids", "commands_per_minute", "confirm_seconds"]

    def clean_new_token(self) -> str:
        token = str(self.cleaned_data.get("new_token") or "")
        if token and (":" not in token or any(c.isspace() for c in token)):
            raise forms.ValidationError("a bot token looks like 123456789:AAE... (from @BotFather)")
        return token

    def save(self, commit: bool = True) -> TelegramBot:
        bot = super().save(commit=False)
        if self.cleaned_data.get("clear_token"):
            bot.token = ""
        if self.cleaned_data.get("new_token"):
            bot.token = self.cleaned_data["new_token"]
            bot.username = ""  # asked again (getMe) with the new token
            bot.update_offset = 0
        if commit:
            bot.save()
        return bot


@admin.register(TelegramBot)
class TelegramBotAdmin(admin.ModelAdmin):
    form = TelegramBotForm
    list_display = ["__str__", "enabled", "token_state", "allowed_chat_ids", "last_poll_at"]
    readonly_fields = ["token_state", "username", "update_offset", "last_poll_at", "last_error"]
    actions = ["check_token"]
    fieldsets = [
        (
            None,
            {"fields": ["enabled", "allowed_chat_ids", "commands_per_minute", "confirm_seconds"]},
        ),
        (
            "Token (encrypted at rest, write-only)",
            {"fields": ["token_state", "new_token", "clear_token"]},
        ),
        ("Polling", {"fields": ["username", "update_offset", "last_poll_at", "last_error"]}),
    ]

    @admin.display(description="Token")
    def token_state(self, obj: TelegramBot) -> str:
        if obj.token:
            return "stored (encrypted)"
        return "from TELEGRAM_BOT_TOKEN" if telegram_token(obj) else "not set"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not TelegramBot.objects.exists()

    @admin.action(description="Check the token (ask Telegram who the bot is)")
    def check_token(self, request: HttpRequest, queryset: QuerySet[TelegramBot]) -> None:
        for config in queryset:
            api = telegram_api(config)
            if api is None:
                self.message_user(request, "Disabled or no token.", messages.ERROR)
                continue
            try:
                username = str(api.get_me().get("username", ""))
            except TelegramError as exc:
                self.message_user(request, f"Telegram refused: {exc}", messages.ERROR)
                continue
            telegram_bot_seen(config=config, username=username)
            self.message_user(request, f"The token belongs to @{username}.", messages.SUCCESS)


@admin.register(CommandRecord)
class CommandRecordAdmin(EngineRecordAdmin):
    list_display = ["at", "actor", "text", "outcome"]
    list_filter = ["outcome"]
    search_fields = ["actor", "text", "reply"]
    date_hierarchy = "at"


@admin.register(KillSwitchRequest)
class KillSwitchRequestAdmin(EngineRecordAdmin):
    list_display = ["created_at", "actor", "bots", "expires_at", "confirmed_at"]
    search_fields = ["actor"]


class NoticeDeliveryInline(ReadOnlyInline):
    model = NoticeDelivery
    fields = ["channel_name", "status", "attempts", "error", "at"]


@admin.register(Notice)
class NoticeAdmin(EngineRecordAdmin):
    list_display = ["created_at", "kind", "bot_name", "subject", "attempts", "done_at"]
    list_filter = ["kind", ("done_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject", "text", "bot_name"]
    date_hierarchy = "created_at"
    inlines = [NoticeDeliveryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notice]:
        return super().get_queryset(request).prefetch_related("deliveries")
