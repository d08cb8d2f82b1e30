from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from apps.exchange.models import ExchangeAccount, Instrument


class ExchangeAccountForm(forms.ModelForm):
    """API key and secret are write-only: the form never renders a stored value back."""

    new_api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the stored key. Stored encrypted; never shown again.",
    )
    new_api_secret = forms.CharField(
        label="API secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the stored secret. Stored encrypted; never shown again.",
    )
    base_url = forms.URLField(
        required=False,
        assume_scheme="http",
        help_text=ExchangeAccount._meta.get_field("base_url").help_text,
    )
    clear_credentials = forms.BooleanField(
        required=False, help_text="Remove the stored key and secret."
    )

    class Meta:
        model = ExchangeAccount
        fields = ["name", "venue", "environment", "base_url", "paper_starting_balance", "notes"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        env = data.get("environment")
        has_new = bool(data.get("new_api_key")) or bool(data.get("new_api_secret"))
        if bool(data.get("new_api_key")) != bool(data.get("new_api_secret")) and not (
            self.instance.pk and self.instance.has_credentials
        ):
            raise forms.ValidationError("Enter both the API key and the API secret.")
        if (
            env in ("testnet", "live")
            and not has_new
            and not (self.instance.pk and self.instance.has_credentials)
            and not data.get("clear_credentials")
        ):
            raise forms.ValidationError(f"A {env} account needs an API key and secret.")
        return data

    def save(self, commit: bool = True) -> ExchangeAccount:
        account = super().save(commit=False)
        if self.cleaned_data.get("clear_credentials"):
            account.api_key = ""
            account.api_secret = ""
        if self.cleaned_data.get("new_api_key"):
            account.api_key = self.cleaned_data["new_api_key"]
        if self.cleaned_data.get("new_api_secret"):
            account.api_secret = self.cleaned_data["new_api_secret"]
        if commit:
            account.save()
        return account


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    form = ExchangeAccountForm
    list_display = ["name", "venue", "environment", "credentials", "base_url", "updated_at"]
    list_filter = ["venue", "environment"]
    search_fields = ["name", "notes"]
    readonly_fields = ["credentials", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "venue", "environment", "base_url", "paper_starting_balance"]}),
        (
            "Credentials (encrypted at rest, write-only)",
            {"fields": ["credentials", "new_api_key", "new_api_secret", "clear_credentials"]},
        ),
        ("Notes", {"fields": ["notes", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Credentials")
    def credentials(self, obj: ExchangeAccount) -> str:
        if obj.pk is None:
            return "not set"
        return "stored (encrypted)" if obj.has_credentials else "not set"


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = [
        "symbol",
        "base_asset",
        "quote_asset",
        "tick_size",
        "step_size",
        "min_qty",
        "min_notional",
        "max_leverage",
        "status",
        "refreshed_at",
    ]
    list_filter = ["venue", "status", "quote_asset"]
    search_fields = ["symbol", "base_asset"]
    readonly_fields = ["refreshed_at"]
