"""Experiments: variants built from the base bot, start / stop, the report without trades,
promotion with its actor, permissions, and two backtest runs compared."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.ai.models import BotAi
from apps.backtest.models import BacktestRun
from apps.backtest.services import backtest_run_execute
from apps.bots.models import Bot
from apps.experiments.models import BacktestComparison, Experiment, Promotion, Variant
from apps.experiments.selectors import experiment_report, report_winner
from apps.experiments.services import (
    ExperimentError,
    experiment_start,
    experiment_stop,
    experiment_variants_build,
    variant_promote,
)
from apps.risk.models import RiskSettings
from tests.experiments.conftest import START

pytestmark = pytest.mark.django_db


def _ran(experiment: Experiment, days: int = 6) -> Experiment:
    experiment_start(experiment=experiment, actor="tester", now=START)
    experiment_stop(experiment=experiment, actor="tester", now=START + timedelta(days=days))
    experiment.refresh_from_db()
    return experiment


def test_variants_build_copies_the_base_bot_with_each_variant_change(built_experiment) -> None:
    a, b = built_experiment.variants.select_related("bot__strategy", "bot__risk")
    base = built_experiment.base_bot
    assert a.bot.strategy == base.strategy and a.bot.leverage == base.leverage
    assert b.bot.strategy.parameters == {**base.strategy.parameters, "fast": 5, "slow": 13}
    assert b.bot.leverage == 5 and b.bot.risk.risk_per_trade == Decimal("0.02")
    assert a.bot.risk.risk_per_trade == base.risk.risk_per_trade
    assert {a.bot.account_id, b.bot.account_id} == {built_experiment.account_id}
    assert a.bot.trading_mode == b.bot.trading_mode == Bot.TradingMode.PAPER


def test_variant_with_another_strategy_trades_it(built_experiment) -> None:
    from apps.strategies.models import Strategy

    other = Strategy.objects.create(name="boll", kind="bollinger_scalp", timeframe="1h")
    Variant.objects.create(experiment=built_experiment, label="C", strategy=other)
    experiment_variants_build(experiment=built_experiment)
    assert built_experiment.variants.get(label="C").bot.strategy == other


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parameters": {"fast": -3}}, "variant C"),
        ({"risk": {"stop_everything": True}}, "unknown risk setting 'stop_everything'"),
        ({"risk": {"risk_per_trade": "0.9"}}, "variant C risk"),
        ({"ai_mode": "hybrid"}, "uses no AI"),
    ],
)
def test_variants_build_with_a_bad_change_refuses_and_changes_nothing(
    built_experiment, change, message
) -> None:
    bots = Bot.objects.count()
    Variant.objects.create(experiment=built_experiment, label="C", **change)
    with pytest.raises(ExperimentError, match=message):
        experiment_variants_build(experiment=built_experiment)
    assert Bot.objects.count() == bots


def test_start_needs_two_variants(base_bot) -> None:
    experiment = Experiment.objects.create(name="lonely", base_bot=base_bot)
    Variant.objects.create(experiment=experiment, label="A")
    with pytest.raises(ExperimentError, match="at least 2 are needed"):
        experiment_start(experiment=experiment, actor="tester", now=START)
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.DRAFT


def test_start_and_stop_move_every_variant_together(built_experiment) -> None:
    experiment_start(experiment=built_experiment, actor="tester", now=START)
    states = set(
        Bot.objects.filter(experiment_variant__experiment=built_experiment).values_list(
            "state", flat=True
        )
    )
    assert states == {Bot.State.RUNNING}
    with pytest.raises(ExperimentError, match="only a draft can be started"):
        experiment_start(experiment=built_experiment, actor="tester", now=START)
    stopped = experiment_stop(
        experiment=built_experiment, actor="tester", now=START + timedelta(days=2)
    )
    assert stopped.stopped_at == START + timedelta(days=2) and stopped.stopped_by == "tester"
    bots = Bot.objects.filter(experiment_variant__experiment=built_experiment)
    assert {b.state for b in bots} == {Bot.State.PAUSED}
    assert all("experiment ema-speed stopped by tester" in b.state_reason for b in bots)


def test_report_with_variants_without_trades_says_no_difference(built_experiment) -> None:
    _ran(built_experiment, days=6)
    report = experiment_report(experiment=built_experiment, now=START + timedelta(days=30))
    assert len(report.days) == 7
    assert [(v.trades, v.net_pnl, v.win_rate) for v in report.variants] == [
        (0, 0, None),
        (0, 0, None),
    ]
    (comparison,) = report.comparisons
    assert comparison.verdict.startswith("no difference")
    assert not comparison.significant and report_winner(report) is None
    assert report.as_dict()["variants"][0]["win_rate"] is None


def test_promotion_through_the_admin_copies_settings_and_records_the_actor(
    admin_client_logged, built_experiment, live_bot
) -> None:
    _ran(built_experiment)
    url = reverse("admin:experiments_experiment_promote", args=[built_experiment.pk])
    page = admin_client_logged.get(url, {"variant": "B", "bot": live_bot.pk})
    assert page.status_code == 200
    assert "Are you sure? live-btc will trade variant B" in page.content.decode()
    live_bot.refresh_from_db()
    assert live_bot.strategy.name == "live-ema"  # the confirmation page changes nothing

    response = admin_client_logged.post(url, {"variant": "B", "bot": live_bot.pk, "confirm": "yes"})
    assert response.status_code == 302
    live_bot.refresh_from_db()
    variant_bot = built_experiment.variants.get(label="B").bot
    assert live_bot.strategy.parameters == variant_bot.strategy.parameters
    assert live_bot.strategy.parameters["fast"] == 5 and live_bot.strategy != variant_bot.strategy
    assert live_bot.leverage == 5
    assert RiskSettings.objects.get(bot=live_bot).risk_per_trade == Decimal("0.02")
    assert live_bot.trading_mode == Bot.TradingMode.LIVE and live_bot.symbols == ["BTCUSDT"]
    promotion = Promotion.objects.get()
    assert promotion.decided_by == "root" and promotion.bot == live_bot
    assert promotion.before["strategy"]["parameters"] == {"fast": 9, "slow": 21}
    assert promotion.after["leverage"] == 5
    log = LogEntry.objects.get(object_id=str(built_experiment.pk))
    assert (
        log.user.username == "root" and "promoted variant B to bot live-btc" in log.change_message
    )


def test_variant_ai_mode_runs_the_base_models_and_promotion_copies_it(base_bot, live_bot) -> None:
    from apps.ai.models import ModelArtifact

    agent = ModelArtifact.objects.create(kind="ppo", name="agent")
    lstm = ModelArtifact.objects.create(kind="lstm", name="lstm")
    BotAi.objects.create(
        bot=base_bot, role=BotAi.Role.FILTER, mode=BotAi.Mode.PPO_ONLY, agent=agent, predictor=lstm
    )
    experiment = Experiment.objects.create(name="ai-modes", base_bot=base_bot)
    Variant.objects.create(experiment=experiment, label="A")
    Variant.objects.create(experiment=experiment, label="B", ai_mode=BotAi.Mode.HYBRID)
    experiment_variants_build(experiment=experiment)
    a, b = (BotAi.objects.get(bot=v.bot) for v in experiment.variants.all())
    assert (a.mode, b.mode) == (BotAi.Mode.PPO_ONLY, BotAi.Mode.HYBRID)
    assert b.role == BotAi.Role.FILTER and (b.agent, b.predictor) == (agent, lstm)

    _ran(experiment)
    variant_promote(variant=experiment.variants.get(label="B"), bot=live_bot, actor="alice")
    ai = BotAi.objects.get(bot=live_bot)
    assert (ai.role, ai.mode, ai.agent, ai.predictor) == ("filter", "hybrid", agent, lstm)
    assert Promotion.objects.get().after["ai"]["mode"] == "hybrid"


def test_promotion_to_a_paper_bot_or_before_the_start_is_refused(built_experiment) -> None:
    variant = built_experiment.variants.get(label="B")
    with pytest.raises(ExperimentError, match="has not run"):
        variant_promote(variant=variant, bot=built_experiment.base_bot, actor="alice")
    _ran(built_experiment)
    with pytest.raises(ExperimentError, match="not a live bot"):
        variant_promote(variant=variant, bot=built_experiment.base_bot, actor="alice")
    assert not Promotion.objects.exists()


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_user("bob", password="pw-123456", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="experiments",
            codename__in=["view_experiment", "change_experiment"],
        )
    )
    client.force_login(user)
    return user


def _grant(user, codename: str) -> None:
    user.user_permissions.add(Permission.objects.get(codename=codename))


def test_staff_without_permission_cannot_start_stop_or_promote(
    client, staff, built_experiment, live_bot
) -> None:
    changelist = reverse("admin:experiments_experiment_changelist")
    client.post(
        changelist, {"action": "start_experiments", "_selected_action": [built_experiment.pk]}
    )
    built_experiment.refresh_from_db()
    assert built_experiment.status == Experiment.Status.DRAFT
    api_start = reverse("api-experiment-start", args=["ema-speed"])
    refused = client.post(api_start)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"

    _grant(staff, "run_experiment")
    staff = get_user_model().objects.get(pk=staff.pk)  # drop the permission cache
    client.force_login(staff)
    assert client.post(api_start).status_code == 200
    assert client.post(reverse("api-experiment-stop", args=["ema-speed"])).status_code == 200

    promote = reverse("admin:experiments_experiment_promote", args=[built_experiment.pk])
    assert client.get(promote).status_code == 403
    api_promote = reverse("api-experiment-promote", args=["ema-speed"])
    body = {"variant": "B", "bot": live_bot.name}
    assert client.post(api_promote, body, content_type="application/json").status_code == 403
    assert not Promotion.objects.exists()

    _grant(staff, "promote_variant")
    client.force_login(get_user_model().objects.get(pk=staff.pk))
    done = client.post(api_promote, body, content_type="application/json")
    assert done.status_code == 200, done.content
    assert done.json()["decided_by"] == "bob"
    assert Promotion.objects.get().decided_by == "bob"


def test_report_api_and_command_on_a_draft_answer_one_line(
    admin_client_logged, built_experiment
) -> None:
    answer = admin_client_logged.get(reverse("api-experiment-report", args=["ema-speed"]))
    assert answer.status_code == 400
    assert answer.json()["message"] == "experiment ema-speed has not started: nothing to report"
    with pytest.raises(CommandError, match="has not started"):
        call_command("experiment_report", "ema-speed")
    with pytest.raises(CommandError, match="no experiment named 'nope'"):
        call_command("experiment_report", "nope")


# --- two backtest runs -------------------------------------------------------------------------


def _backtest(params: dict) -> BacktestRun:
    run = BacktestRun.objects.create(
        strategy="ema_cross",
        parameters=params,
        data_files=["futures/BTCUSDT-1h.csv.gz"],
        start_ms=int(START.timestamp() * 1000),
        end_ms=int((START + timedelta(days=90)).timestamp() * 1000),
    )
    return backtest_run_execute(run_id=run.pk)


def test_two_backtest_runs_compared_by_api_admin_and_command(
    admin_client_logged, shared_data, settings
) -> None:
    settings.SHARED_DATA_DIR = shared_data
    fast = _backtest({"fast": 5, "slow": 13, "sl": 0.02, "tp": 0.04})
    slow = _backtest({"fast": 20, "slow": 50, "sl": 0.02, "tp": 0.04})
    assert fast.status == slow.status == BacktestRun.Status.DONE, (fast.error, slow.error)
    assert fast.trade_count > 0

    answer = admin_client_logged.post(
        reverse("api-experiments-backtest-compare"),
        {"run_a": slow.pk, "run_b": fast.pk, "resamples": 500},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    result = answer.json()
    assert result["days"] >= 89 and result["a"]["id"] == slow.pk
    assert result["b"]["trades_in_common_days"] == fast.trade_count
    comparison = result["comparison"]
    assert comparison["label_a"] == f"run {slow.pk}" and comparison["verdict"]
    stored = BacktestComparison.objects.get(pk=result["id"])
    assert stored.result["comparison"] == comparison

    add = admin_client_logged.post(
        reverse("admin:experiments_backtestcomparison_add"),
        {
            "run_a": slow.pk,
            "run_b": fast.pk,
            "confidence": "0.95",
            "resamples": "500",
            "seed": "0",
        },
    )
    assert add.status_code == 302
    assert BacktestComparison.objects.count() == 2
    assert BacktestComparison.objects.first().result["comparison"] == comparison

    same = admin_client_logged.post(
        reverse("api-experiments-backtest-compare"),
        {"run_a": fast.pk, "run_b": fast.pk},
        content_type="application/json",
    )
    assert same.status_code == 400 and "two different" in same.json()["message"]

    out = StringIO()
    call_command("experiment_report", "--backtests", str(slow.pk), str(fast.pk), stdout=out)
    assert comparison["verdict"].split(";")[0] in out.getvalue()


def test_calibrate_command_prints_both_error_rates() -> None:
    out = StringIO()
    call_command(
        "experiment_calibrate",
        "--runs",
        "5",
        "--days",
        "10",
        "--resamples",
        "100",
        stdout=out,
        stderr=StringIO(),
    )
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("identical variants called different: ")
    assert lines[1].startswith("edge of 0.0030/day found: ") and "of 5 experiments" in lines[1]
    with pytest.raises(CommandError, match="--days at least 5"):
        call_command("experiment_calibrate", "--days", "2")
