"""An experiment as an operator runs it: made in the admin, started, two paper variants trading
real BTCUSDT hours through the scheduler's own task on the replayed clock, stopped, reported
(admin page, API, command)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.bots.models import Bot
from apps.experiments.models import Experiment
from apps.trading.models import BotCycle, Trade
from apps.trading.tasks import bot_tick
from tests.experiments.conftest import START

pytestmark = pytest.mark.django_db

DAYS = 4


def _variant_form(index: int, label: str, **fields: str) -> dict[str, str]:
    row = {
        "label": label,
        "strategy": "",
        "parameters": "{}",
        "ai_mode": "",
        "risk": "{}",
        "leverage": "",
    }
    row.update(fields)
    return {f"variants-{index}-{k}": v for k, v in row.items()}


def test_experiment_made_in_admin_runs_two_paper_variants_and_reports(
    admin_client_logged, base_bot, btc_hours, set_market_time
) -> None:
    client = admin_client_logged
    form = {
        "name": "ema-speed",
        "description": "faster EMAs against the base",
        "base_bot": str(base_bot.pk),
        "symbols": '["BTCUSDT"]',
        "capital": "5000",
        "confidence": "0.95",
        "resamples": "500",
        "seed": "3",
        "variants-TOTAL_FORMS": "2",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        **_variant_form(0, "A"),
        **_variant_form(1, "B", parameters='{"fast": 5, "slow": 13}', leverage="5"),
    }
    response = client.post(reverse("admin:experiments_experiment_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    experiment = Experiment.objects.get(name="ema-speed")
    variants = {v.label: v for v in experiment.variants.select_related("bot__strategy")}
    bots = [variants["A"].bot, variants["B"].bot]
    assert all(b is not None and b.trading_mode == Bot.TradingMode.PAPER for b in bots)
    assert all(b.state == Bot.State.PAUSED and b.account == experiment.account for b in bots)
    assert experiment.account.paper_starting_balance == 5000
    assert variants["B"].bot.strategy.parameters["fast"] == 5
    assert variants["A"].bot.strategy == base_bot.strategy

    # Start both at once, at a replayed market time.
    set_market_time(START + timedelta(seconds=30))
    changelist = reverse("admin:experiments_experiment_changelist")
    client.post(changelist, {"action": "start_experiments", "_selected_action": [experiment.pk]})
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.RUNNING
    assert experiment.started_at.date() == START.date() and experiment.started_by == "root"
    ids = [b.pk for b in bots]
    assert set(Bot.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"running"}

    # The worker's tick for each bot, once per replayed day: every closed candle in order.
    for day in range(DAYS + 1):
        set_market_time(START + timedelta(days=day, seconds=30))
        for bot_id in ids:
            bot_tick(bot_id)

    set_market_time(START + timedelta(days=DAYS, seconds=40))
    client.post(changelist, {"action": "stop_experiments", "_selected_action": [experiment.pk]})
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.STOPPED
    assert set(Bot.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"paused"}

    # The same market stream: both decided exactly the same candles.
    candles = [
        list(
            BotCycle.objects.filter(bot_id=i)
            .order_by("candle_open_time")
            .values_list("candle_open_time", flat=True)
        )
        for i in ids
    ]
    assert candles[0] == candles[1] and len(candles[0]) == DAYS * 24 + 1
    trades = {b.pk: Trade.objects.filter(bot_id=b.pk, status="CLOSED").count() for b in bots}
    assert all(trades.values()), f"a variant never traded on real candles: {trades}"

    api = client.get(reverse("api-experiment-report", args=["ema-speed"]))
    assert api.status_code == 200, api.content
    report = api.json()
    assert report["days"] == DAYS + 1 and report["status"] == "stopped"
    assert [v["trades"] for v in report["variants"]] == [trades[b.pk] for b in bots]
    comparison = report["comparisons"][0]
    assert comparison["label_a"] == "A" and comparison["label_b"] == "B"
    assert comparison["days"] == DAYS + 1 and comparison["resamples"] == 500
    assert comparison["verdict"]
    assert "ci_low" in comparison["sharpe_diff"] and "p_value" in comparison["mean_diff"]

    page = client.get(reverse("admin:experiments_experiment_report", args=[experiment.pk]))
    assert page.status_code == 200
    assert comparison["verdict"] in page.content.decode()
    change = client.get(reverse("admin:experiments_experiment_change", args=[experiment.pk]))
    assert comparison["verdict"] in change.content.decode()

    out = StringIO()
    call_command("experiment_report", "ema-speed", stdout=out)
    assert comparison["verdict"] in out.getvalue()
    out = StringIO()
    call_command("experiment_report", "ema-speed", "--json", stdout=out)
    assert json.loads(out.getvalue())["comparisons"][0]["verdict"] == comparison["verdict"]
