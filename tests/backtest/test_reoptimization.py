"""Scheduled re-optimisation of a bot's parameters: searched on recent imported candles, judged
on held-out ones, promoted only by the margin (to the bot alone), recorded, rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from apps.backtest.models import Reoptimization, ReoptimizationRun
from apps.backtest.optimisation.reoptimization import (
    bot_reoptimise,
    parameters_promote,
    parameters_rollback,
)
from apps.bots.models import Bot
from apps.trading.replay import ensure_klines
from tests.factories import make_ema_paper_bot

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 8, 1, tzinfo=UTC)


@pytest.fixture
def bots(shared_data) -> tuple[Bot, Bot]:
    ensure_klines(symbol="BTCUSDT", interval="1h", start=NOW - timedelta(days=60), end=NOW,
                  data_dir=shared_data)  # fmt: skip
    first = make_ema_paper_bot("reopt-a", account="paper-reopt", symbols=("BTCUSDT",))
    second = make_ema_paper_bot("reopt-b", account="paper-reopt", symbols=("BTCUSDT",))
    assert first.strategy_id == second.strategy_id  # one strategy row, shared
    return first, second


def _settings(bot: Bot, **fields: object) -> Reoptimization:
    return Reoptimization.objects.create(
        bot=bot, window_days=60, trials=8, **{"promote_margin": -100, **fields}
    )


def test_better_parameters_are_promoted_to_the_bot_alone_and_rolled_back(bots) -> None:
    bot, other = bots
    _settings(bot, auto_promote=True)
    old = bot.strategy

    run = bot_reoptimise(bot_id=bot.pk, now=NOW)

    assert run.decision == ReoptimizationRun.Decision.PROMOTED, run.detail
    assert run.candidate_params != run.active_params and run.decided_by == "schedule"
    assert run.active_params == old.parameters
    assert run.candidate_score is not None and run.active_score is not None
    bot.refresh_from_db()
    assert bot.strategy_id == run.new_strategy_id != old.pk
    assert bot.strategy.parameters == run.candidate_params and bot.strategy.kind == old.kind
    other.refresh_from_db()
    assert other.strategy_id == old.pk  # the other bot on the old row is untouched
    again = bot_reoptimise(bot_id=bot.pk, now=NOW)  # the same search: the same winner
    assert again.candidate_params == run.candidate_params, again.detail

    parameters_rollback(run=run, decided_by="alice")

    bot.refresh_from_db()
    assert bot.strategy_id == old.pk
    assert ReoptimizationRun.objects.get(pk=run.pk).rolled_back
    with pytest.raises(ValueError, match="no promotion to roll back"):
        parameters_rollback(run=ReoptimizationRun.objects.get(pk=run.pk), decided_by="alice")


def test_candidate_not_better_by_the_margin_is_kept_or_awaits_approval(bots) -> None:
    bot, _ = bots
    settings_ = _settings(bot, promote_margin=100)
    kept = bot_reoptimise(bot_id=bot.pk, now=NOW)
    assert kept.decision == ReoptimizationRun.Decision.KEPT
    assert Bot.objects.get(pk=bot.pk).strategy_id == bot.strategy_id

    settings_.promote_margin = -100
    settings_.save()
    awaiting = bot_reoptimise(bot_id=bot.pk, now=NOW)
    assert awaiting.decision == ReoptimizationRun.Decision.AWAITING  # no auto promotion
    assert Bot.objects.get(pk=bot.pk).strategy_id == bot.strategy_id
    parameters_promote(run=awaiting, decided_by="alice")
    assert Bot.objects.get(pk=bot.pk).strategy.parameters == awaiting.candidate_params


def test_a_slow_strategy_whose_warm_up_exceeds_the_window_is_still_judged(bots) -> None:
    """ema slow 102 wants 2,040 candles of warm-up for exact values; a 60-day 1h window has
    1,440. The judgement starts from the candles the slower strategy needs (CI found a
    promoted slow EMA could not be re-optimised again)."""
    bot, _ = bots
    bot.strategy.parameters = {**bot.strategy.parameters, "fast": 28, "slow": 102}
    bot.strategy.save()
    _settings(bot)
    run = bot_reoptimise(bot_id=bot.pk, now=NOW)
    assert run.decision in {"awaiting", "kept"}, run.detail
    assert run.candidate_score is not None and run.active_score is not None


def test_reoptimisation_without_candles_fails_with_the_reason(bots) -> None:
    bot, _ = bots
    _settings(bot)
    run = bot_reoptimise(bot_id=bot.pk, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert run.decision == ReoptimizationRun.Decision.FAILED
    assert "no imported BTCUSDT 1h candles" in run.detail


def test_schedule_follows_the_settings_and_refuses_a_kind_it_cannot_search(bots) -> None:
    from django_celery_beat.models import PeriodicTask

    bot, _ = bots
    settings_ = _settings(bot, every_days=7)
    settings_.full_clean()
    task = PeriodicTask.objects.get(name=f"re-optimise parameters of bot {bot.pk}")
    assert task.task == "backtest.reoptimise_bot" and task.interval.every == 7
    settings_.every_days = 0
    settings_.save()
    assert not PeriodicTask.objects.filter(task="backtest.reoptimise_bot").exists()

    signal_bot = Bot.objects.get(pk=bot.pk)
    signal_bot.strategy.kind = "signal"
    with pytest.raises(ValidationError, match="cannot be optimised"):
        Reoptimization(bot=signal_bot, every_days=7).full_clean()


def test_admin_approves_and_rolls_back_a_reoptimisation(bots, admin_client_logged) -> None:
    bot, _ = bots
    _settings(bot)
    run = bot_reoptimise(bot_id=bot.pk, now=NOW)
    assert run.decision == "awaiting"
    url = "/admin/backtest/reoptimizationrun/"
    admin_client_logged.post(url, {"action": "approve", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.decision == "promoted" and run.decided_by == "root"
    assert Bot.objects.get(pk=bot.pk).strategy_id == run.new_strategy_id
    admin_client_logged.post(url, {"action": "roll_back", "_selected_action": [run.pk]})
    assert Bot.objects.get(pk=bot.pk).strategy_id == run.active_strategy_id
    page = admin_client_logged.get(f"/admin/bots/bot/{bot.pk}/change/").content.decode()
    assert "Parameter re-optimisation (rule strategies)" in page
