from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.bots import access
from apps.bots.models import Bot, BotGrant
from apps.bots.services import BotStateError, bot_pause, bot_resume
from apps.core.forms import RowsField
from apps.exchange.forms import SymbolsField
from apps.risk.models import RiskSettings
from apps.webhook.domain.security import hash_secret


class BotForm(forms.ModelForm):
    """The webhook passphrase is write-only: stored hashed, never rendered back. Symbols are
    chosen among the instruments; partial take-profits are edited one level per line."""

    symbols = SymbolsField(help_text="The symbols the bot trades (Ctrl/Cmd-click for several).")
    exit_levels = RowsField(
        columns=("distance", "fraction"),
        required=False,
        label="Partial take-profits",
        help_text="distance: from the entry, as a fraction of its price (0.02 = 2 %); fraction: "
        "of the position taken off (0.5 = half). Empty: no partial exits.",
    )

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


class RiskSettingsForm(forms.ModelForm):
    breaker_tiers = RowsField(
        columns=("name", "window_minutes", "loss_limit", "action", "size_multiplier"),
        optional=1,
        integers=("window_minutes",),
        label="Circuit-breaker tiers",
        help_text="A loss over loss_limit USDT within window_minutes triggers action: warn, "
        "reduce_size (then size_multiplier, e.g. 0.5), halt or flatten.",
    )
    volatility_bands = RowsField(
        columns=("max_score", "size_multiplier"),
        label="CryptoVIX bands",
        help_text="Up to max_score (0-100) the size is multiplied by size_multiplier (0-1); "
        "the last band must reach 100.",
    )

    class Meta:
        model = RiskSettings
        fields = [
            "breaker_tiers",
            "max_open_positions",
            "max_exposure",
            "risk_per_trade",
            "daily_loss_limit",
            "correlation_threshold",
            "correlation_lookback",
            "volatility_bands",
        ]


class RiskSettingsInline(admin.StackedInline):
    model = RiskSettings
    form = RiskSettingsForm
    can_delete = False
    extra = 1
    max_num = 1


# written by the engine and the state services, shown read-only
STATE_FIELDS = [
    "state",
    "state_cause",
    "state_reason",
    "state_changed_at",
    "restart_at",
    "created_at",
    "updated_at",
]


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
    list_filter = [
        "state",
        "state_cause",
        "enabled",
        "trading_mode",
        "strategy__mode",
        "account__environment",
    ]
    search_fields = ["name", "strategy__name", "state_reason"]
    list_select_related = ["strategy", "account"]
    readonly_fields = [*STATE_FIELDS, "has_webhook_passphrase"]
    fieldsets = [
        (None, {"fields": ["name", "account", "strategy", "symbols", "enabled"]}),
        ("Execution", {"fields": ["trading_mode", "leverage", "margin_type"]}),
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
            {"fields": STATE_FIELDS},
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

    # The actions need their permission (the model's, or a per-bot grant: then every selected
    # bot must be granted, else nothing is done). Django hides an action the user may not use
    # and ignores a POST naming it.
    def has_pause_permission(self, request: HttpRequest) -> bool:
        return access.may_some_bot(request.user, access.PAUSE)

    def has_killswitch_permission(self, request: HttpRequest) -> bool:
        return access.may_some_bot(request.user, access.KILLSWITCH)

    def _refused(self, request: HttpRequest, perm: str, queryset: QuerySet[Bot]) -> bool:
        refused = access.bots_refused(request.user, perm, queryset)
        if refused:
            names = ", ".join(bot.name for bot in refused)
            self.message_user(
                request, f"Not allowed for {names}: nothing was done.", messages.ERROR
            )
        return bool(refused)

    @admin.action(description="Pause selected bots (no new orders)", permissions=["pause"])
    def pause_bots(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        if self._refused(request, access.PAUSE, queryset):
            return
        for bot in queryset:
            bot_pause(bot=bot, reason=f"paused by {request.user}")
            access.action_record(user=request.user, obj=bot, message="paused (admin)")
        self.message_user(request, f"Paused {queryset.count()} bot(s).", messages.SUCCESS)

    @admin.action(description="Resume selected bots", permissions=["pause"])
    def resume_bots(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        if self._refused(request, access.PAUSE, queryset):
            return
        resumed = 0
        for bot in queryset:
            try:
                bot_resume(bot=bot)
                resumed += 1
            except BotStateError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            access.action_record(user=request.user, obj=bot, message="resumed (admin)")
        if resumed:
            self.message_user(request, f"Resumed {resumed} bot(s).", messages.SUCCESS)

    @admin.action(
        description="Kill switch: cancel all orders, close all positions, halt",
        permissions=["killswitch"],
    )
    def emergency_close(self, request: HttpRequest, queryset: QuerySet[Bot]) -> Any:
        from django.template.response import TemplateResponse

        from apps.market.clock import market_now
        from apps.trading.engine import killswitch_engage

        if self._refused(request, access.KILLSWITCH, queryset):
            return None
        reason = (request.POST.get("reason") or "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            bots = list(queryset.select_related("account"))
            for bot in bots:
                bot.open_positions = bot.positions.exclude(quantity=0).count()  # type: ignore[attr-defined]
            return TemplateResponse(
                request,
                "admin/bots/confirm_killswitch.html",
                {
                    **self.admin_site.each_context(request),
                    "bots": bots,
                    "user": request.user,
                    "back": request.get_full_path(),
                },
            )
        try:
            reports = killswitch_engage(
                reason=f"{reason} (admin, {request.user})",
                now=market_now(),
                bot_names=list(queryset.values_list("name", flat=True)),
            )
        except ValueError as exc:
            self.message_user(request, f"Kill switch failed: {exc}", messages.ERROR)
            return None
        for bot in queryset:
            access.action_record(
                user=request.user, obj=bot, message=f"kill switch (admin): {reason}"
            )
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
        return None

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        RiskSettings.objects.get_or_create(bot=form.instance)


@admin.register(BotGrant)
class BotGrantAdmin(admin.ModelAdmin):
    """Per-bot permissions: a user may pause/resume or fire the kill switch for one bot without
    the model-wide permission (docs/security.md)."""

    list_display = ["bot", "user", "permission", "granted_by", "created_at"]
    list_filter = ["permission", "bot"]
    search_fields = ["bot__name", "user__username"]
    list_select_related = ["bot", "user"]
    autocomplete_fields = ["user"]
    fields = ["user", "bot", "permission"]

    def save_model(self, request: HttpRequest, obj: BotGrant, form: Any, change: bool) -> None:
        obj.granted_by = str(request.user)
        super().save_model(request, obj, form, change)
