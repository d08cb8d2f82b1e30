from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.bots.models import Bot
from apps.bots.services import BotStateError, bot_pause, bot_resume
from apps.risk.models import RiskSettings
from apps.webhook.domain.security import hash_secret


class BotForm(forms.ModelForm):
    """The webhook passphrase is write-only: stored hashed, never rendered back."""

    new_webhook_passphrase = forms.CharField(
        label="Webhook passphrase",
        required=False,
        strip=True,
        min_length=16,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Set a new passphrase for this bot's TradingView alerts (16+ characters; "
        "`manage.py webhook_secret BOT` generates one). Leave empty to keep the current one.",
    )
    clear_webhook_passphrase = forms.BooleanField(
        required=False, help_text="Remove the bot's own passphrase (WEBHOOK_SECRET still works)."
    )

    class Meta:
        model = Bot
        fields = [  # everything but webhook_secret_hash (the admin's fieldsets pick from these)
            "name",
            "account",
            "strategy",
            "symbols",
            "enabled",
            "trading_mode",
            "leverage",
            "margin_type",
            "position_mode",
            "exit_levels",
            "break_even_after_first_exit",
            "trailing",
            "trailing_activation",
            "trailing_callback",
        ]

    def save(self, commit: bool = True) -> Bot:
        bot = super().save(commit=False)
        if self.cleaned_data.get("clear_webhook_passphrase"):
            bot.webhook_secret_hash = ""
        elif self.cleaned_data.get("new_webhook_passphrase"):
            bot.webhook_secret_hash = hash_secret(self.cleaned_data["new_webhook_passphrase"])
        if commit:
            bot.save()
        return bot


class RiskSettingsInline(admin.StackedInline):
    model = RiskSettings
    can_delete = False
    extra = 1
    max_num = 1


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    form = BotForm
    list_display = [
        "name",
        "strategy",
        "mode",
        "symbol_list",
        "account",
        "trading_mode",
        "leverage",
        "enabled",
        "state",
        "state_reason",
        "open_trades",
    ]
    list_filter = ["state", "enabled", "trading_mode", "strategy__mode", "account__environment"]
    search_fields = ["name", "strategy__name", "state_reason"]
    list_select_related = ["strategy", "account"]
    readonly_fields = [
        "state",
        "state_reason",
        "state_changed_at",
        "restart_at",
        "created_at",
        "updated_at",
        "has_webhook_passphrase",
    ]
    fieldsets = [
        (None, {"fields": ["name", "account", "strategy", "symbols", "enabled"]}),
        ("Execution", {"fields": ["trading_mode", "leverage", "margin_type", "position_mode"]}),
        (
            "Webhook",
            {
                "fields": [
                    "has_webhook_passphrase",
                    "new_webhook_passphrase",
                    "clear_webhook_passphrase",
                ]
            },
        ),
        (
            "Exits",
            {
                "fields": [
                    "exit_levels",
                    "break_even_after_first_exit",
                    "trailing",
                    "trailing_activation",
                    "trailing_callback",
                ]
            },
        ),
        (
            "State (use the Pause / Resume actions)",
            {
                "fields": [
                    "state",
                    "state_reason",
                    "state_changed_at",
                    "restart_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    inlines = [RiskSettingsInline]
    actions = ["pause_bots", "resume_bots", "emergency_close"]

    @admin.display(description="Mode", ordering="strategy__mode")
    def mode(self, obj: Bot) -> str:
        return obj.strategy.mode

    @admin.display(description="Own webhook passphrase", boolean=True)
    def has_webhook_passphrase(self, obj: Bot) -> bool:
        return bool(obj.webhook_secret_hash)

    @admin.display(description="Symbols")
    def symbol_list(self, obj: Bot) -> str:
        return ", ".join(obj.symbols or [])

    @admin.display(description="Open trades")
    def open_trades(self, obj: Bot) -> int:
        return obj.trades.filter(status="OPEN").count()

    @admin.action(description="Pause selected bots (no new orders)")
    def pause_bots(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        for bot in queryset:
            bot_pause(bot=bot, reason=f"paused by {request.user}")
        self.message_user(request, f"Paused {queryset.count()} bot(s).", messages.SUCCESS)

    @admin.action(description="Resume selected bots")
    def resume_bots(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        resumed = 0
        for bot in queryset:
            try:
                bot_resume(bot=bot)
                resumed += 1
            except BotStateError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        if resumed:
            self.message_user(request, f"Resumed {resumed} bot(s).", messages.SUCCESS)

    @admin.action(description="Kill switch: cancel all orders, close all positions, halt")
    def emergency_close(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        from apps.market.clock import market_now
        from apps.trading.engine import killswitch_engage

        try:
            reports = killswitch_engage(
                reason=f"kill switch by {request.user}",
                now=market_now(),
                bot_names=list(queryset.values_list("name", flat=True)),
            )
        except ValueError as exc:
            self.message_user(request, f"Kill switch failed: {exc}", messages.ERROR)
            return
        for r in reports:
            failed = r.error or r.open_orders_left or r.open_positions_left
            self.message_user(
                request,
                f"{r.bot}: canceled {r.orders_canceled} order(s), closed {r.positions_closed} "
                f"position(s), left open {r.open_orders_left} order(s) / "
                f"{r.open_positions_left} position(s); halted."
                + (f" FAILED: {r.error}" if r.error else "")
                + "".join(f" {note}." for note in r.notes),
                messages.ERROR if failed else messages.WARNING,
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        RiskSettings.objects.get_or_create(bot=form.instance)
