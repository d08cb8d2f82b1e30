"""The per-process cache of bots and instruments (apps/webhook/selectors.py): a cached entry
only ever says yes. A refusal is decided on what the database says now; a stale "yes" lets an
alert in, and the worker refuses it under the bot's lease."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.bots.models import Bot
from apps.trading.models import Signal
from apps.webhook.domain.security import hash_secret
from apps.webhook.selectors import webhook_bot_get, webhook_lookups_clear

URL = "/api/webhook/tradingview/"
SECRET = "shared-secret-for-tests-0123456789"


@pytest.fixture(autouse=True)
def long_lived_cache(settings):
    settings.WEBHOOK_LOOKUP_CACHE_S = 3600.0  # no expiry during a test: no timing involved
    webhook_lookups_clear()
    yield
    webhook_lookups_clear()


def post(client, **overrides: Any):
    data: dict[str, Any] = {
        "passphrase": SECRET,
        "bot": "tv-bot",
        "symbol": "BTCUSDT.P",
        "action": "buy",
        "quote_amount": "500",
        "alert_id": "lk-1",
        "time": timezone.now().isoformat(),
    }
    data.update(overrides)
    body = json.dumps({k: v for k, v in data.items() if v is not None})
    return client.post(URL, body, content_type="text/plain")


@pytest.mark.django_db
def test_accepted_alert_costs_one_insert_and_no_select_once_the_bot_is_cached(client, signal_bot):
    assert post(client, alert_id="warm").status_code == 202
    with CaptureQueriesContext(connection) as queries:
        assert post(client, alert_id="hot").status_code == 202
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements.count("INSERT") == 1
    assert "SELECT" not in statements, queries.captured_queries


@pytest.mark.django_db
def test_repeat_is_found_by_the_unique_constraint(client, signal_bot):
    first = post(client, alert_id="twice")
    again = post(client, alert_id="twice")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["signal_id"] == first.json()["signal_id"]
    assert again.json()["duplicate"] is True
    assert Signal.objects.count() == 1


@pytest.mark.django_db
def test_bot_paused_without_a_save_signal_is_let_in_while_cached(client, signal_bot):
    assert webhook_bot_get(name="tv-bot").state == Bot.State.RUNNING  # cached: running
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.PAUSED)  # sends no signal
    # The stale entry says yes (the worker refuses it: the last test); it never says no.
    assert post(client, alert_id="after-pause").status_code == 202
    assert Signal.objects.get().outcome == Signal.Outcome.ACCEPTED


@pytest.mark.django_db
def test_bot_resumed_without_a_save_signal_is_accepted_at_once(client, signal_bot):
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.PAUSED)
    assert post(client, alert_id="while-paused").status_code == 422  # cached: paused
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.RUNNING)
    assert post(client, alert_id="after-resume").status_code == 202  # the "no" was re-read


@pytest.mark.django_db
def test_rotated_passphrase_works_at_once_though_the_old_bot_is_cached(client, signal_bot):
    webhook_bot_get(name="tv-bot")  # cached with no passphrase of its own
    Bot.objects.filter(pk=signal_bot.pk).update(webhook_secret_hash=hash_secret("own-token"))
    assert post(client, passphrase="own-token").status_code == 202
    assert post(client, passphrase="wrong", alert_id="x").status_code == 401


@pytest.mark.django_db
def test_save_clears_the_cache(client, signal_bot):
    webhook_bot_get(name="tv-bot")
    signal_bot.state = Bot.State.PAUSED
    signal_bot.save()
    assert webhook_bot_get(name="tv-bot").state == Bot.State.PAUSED


def test_alert_let_in_by_a_stale_entry_is_refused_by_the_worker(eager, client, signal_bot):
    """A real commit and the worker's task (eager, on commit): the bot paused a moment ago
    (no save signal, so this process still has it as running) gets nothing placed."""
    webhook_bot_get(name="tv-bot")
    Bot.objects.filter(pk=signal_bot.pk).update(state=Bot.State.PAUSED)
    assert post(client, alert_id="stale-yes").status_code == 202
    signal = Signal.objects.get(alert_id="stale-yes")
    assert signal.outcome == Signal.Outcome.REJECTED
    assert "paused" in signal.detail
    assert signal.order_id is None
