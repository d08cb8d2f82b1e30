"""Every admin page a user opens renders; secrets never come back in the HTML."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from tests.factories import make_bot, make_order

pytestmark = pytest.mark.django_db

SECRET = "very-secret-api-secret-value-4242"
KEY = "public-looking-api-key-value-1717"


def _models() -> list[type]:
    return list(admin.site._registry)


@pytest.mark.parametrize("model", _models(), ids=lambda m: m._meta.label)
def test_admin_changelist_with_demo_data_renders(admin_client_logged, demo, model) -> None:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = admin_client_logged.get(url)
    assert response.status_code == 200, url


@pytest.mark.parametrize("model", _models(), ids=lambda m: m._meta.label)
def test_admin_add_page_with_superuser_renders_or_is_forbidden_by_design(
    admin_client_logged, model
) -> None:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    response = admin_client_logged.get(url)
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(response.wsgi_request):
        assert response.status_code == 200, url
    else:  # engine-written records (orders, fills, trades) are read-only in the admin
        assert response.status_code == 403, url


def test_admin_change_pages_with_engine_records_render(admin_client_logged, demo) -> None:
    bot = Bot.objects.get(name="demo-scalp")
    order = make_order(bot)
    for url in (
        reverse("admin:bots_bot_change", args=[bot.pk]),
        reverse("admin:orders_order_change", args=[order.pk]),
        reverse("admin:risk_risksettings_change", args=[bot.risk.pk]),
    ):
        assert admin_client_logged.get(url).status_code == 200, url


def test_exchange_account_admin_with_stored_keys_never_shows_them(admin_client_logged) -> None:
    account = ExchangeAccount.objects.create(
        name="binance-testnet", environment="testnet", api_key=KEY, api_secret=SECRET
    )
    pages = [
        reverse("admin:exchange_exchangeaccount_changelist"),
        reverse("admin:exchange_exchangeaccount_change", args=[account.pk]),
        reverse("admin:exchange_exchangeaccount_changelist") + "?q=binance",
    ]
    for url in pages:
        html = admin_client_logged.get(url).content.decode()
        assert SECRET not in html and KEY not in html, url
    assert "stored (encrypted)" in admin_client_logged.get(pages[1]).content.decode()


def test_exchange_account_admin_with_new_keys_stores_them_encrypted(admin_client_logged) -> None:
    url = reverse("admin:exchange_exchangeaccount_add")
    response = admin_client_logged.post(
        url,
        {
            "name": "testnet-1",
            "venue": "binance_usdm",
            "environment": "testnet",
            "base_url": "",
            "paper_starting_balance": "10000",
            "notes": "",
            "new_api_key": KEY,
            "new_api_secret": SECRET,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = ExchangeAccount.objects.get(name="testnet-1")
    assert account.api_secret == SECRET and account.api_key == KEY
    html = admin_client_logged.get(
        reverse("admin:exchange_exchangeaccount_change", args=[account.pk])
    ).content.decode()
    assert SECRET not in html


def test_exchange_account_admin_with_live_env_and_no_keys_refuses(admin_client_logged) -> None:
    response = admin_client_logged.post(
        reverse("admin:exchange_exchangeaccount_add"),
        {
            "name": "live-1",
            "venue": "binance_usdm",
            "environment": "live",
            "paper_starting_balance": "0",
        },
    )
    assert response.status_code == 200
    assert "needs an API key and secret" in response.content.decode()
    assert not ExchangeAccount.objects.filter(name="live-1").exists()


def test_bot_admin_pause_and_resume_actions_change_state(admin_client_logged) -> None:
    bot = make_bot(state=Bot.State.RUNNING)
    url = reverse("admin:bots_bot_changelist")
    admin_client_logged.post(url, {"action": "pause_bots", "_selected_action": [bot.pk]})
    bot.refresh_from_db()
    assert bot.state == Bot.State.PAUSED and "paused by root" in bot.state_reason
    admin_client_logged.post(url, {"action": "resume_bots", "_selected_action": [bot.pk]})
    bot.refresh_from_db()
    assert bot.state == Bot.State.RUNNING and bot.state_reason == ""


def test_bot_admin_resume_with_disabled_bot_reports_error(admin_client_logged) -> None:
    bot = make_bot(enabled=False)
    url = reverse("admin:bots_bot_changelist")
    response = admin_client_logged.post(
        url, {"action": "resume_bots", "_selected_action": [bot.pk]}, follow=True
    )
    bot.refresh_from_db()
    assert bot.state == Bot.State.PAUSED
    assert "is disabled" in response.content.decode()


def test_bot_admin_edits_symbols_and_exit_levels_as_fields_not_json(
    admin_client_logged, demo
) -> None:
    from apps.bots.admin import BotForm, RiskSettingsForm
    from apps.bots.models import Bot

    bot = Bot.objects.get(name="demo-swing")
    page = admin_client_logged.get(f"/admin/bots/bot/{bot.pk}/change/").content.decode()
    assert '<select name="symbols"' in page and '<option value="XRPUSDT" selected>' in page
    assert "One per line: distance fraction" in page and '{"distance"' not in page
    assert "One per line: name window_minutes loss_limit action [size_multiplier]" in page
    form = BotForm(instance=bot)
    data = {name: form[name].value() for name in form.fields}
    data.update(
        symbols=["BTCUSDT", "ETHUSDT"],
        exit_levels="0.01 0.3\n0.03 0.5\n",
        new_webhook_passphrase="",
        clear_webhook_passphrase="",
    )
    form = BotForm(data=data, instance=bot)
    assert form.is_valid(), form.errors
    form.save()
    bot.refresh_from_db()
    assert bot.symbols == ["BTCUSDT", "ETHUSDT"]
    assert bot.exit_levels == [
        {"distance": "0.01", "fraction": "0.3"},
        {"distance": "0.03", "fraction": "0.5"},
    ]
    bad = BotForm(data={**data, "exit_levels": "0.01 0.3 9"}, instance=bot)
    assert not bad.is_valid()
    assert "line 1 ('0.01 0.3 9'): expected distance fraction" in bad.errors["exit_levels"][0]
    risk = RiskSettingsForm(
        data={
            "breaker_tiers": "fast 15 150 warn\nhour 60 300 reduce_size 0.5\nday 1440 800 flatten",
            "volatility_bands": "50 1\n100 0.5",
            "max_open_positions": 3,
            "max_exposure": "5000",
            "risk_per_trade": "0.01",
            "daily_loss_limit": "500",
            "correlation_threshold": "0.8",
            "correlation_lookback": 100,
        },
        instance=bot.risk,
    )
    assert risk.is_valid(), risk.errors
    tiers = risk.cleaned_data["breaker_tiers"]
    assert tiers[1] == {
        "name": "hour",
        "window_minutes": 60,
        "loss_limit": "300",
        "action": "reduce_size",
        "size_multiplier": "0.5",
    }
    wrong = RiskSettingsForm(data={**risk.data, "volatility_bands": "50 1"}, instance=bot.risk)
    assert not wrong.is_valid() and "100" in str(wrong.errors["volatility_bands"])
