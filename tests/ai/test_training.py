"""Training into the registry as users run it: the ``train_agent`` command, the API with its
worker task, ensembles of trained models, activation and roll-back, the re-training schedule
and the walk-forward judgement, on real candles (small enough for the suite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from apps.ai.models import BotAi, ModelArtifact, ModelPromotion, RetrainRun
from apps.ai.retraining import bot_retrain
from apps.ai.services import model_activate, model_rollback, sha256_of
from apps.bots.models import Bot
from apps.trading.replay import ensure_klines
from tests.factories import make_ai_paper_bot, make_ema_paper_bot

pytestmark = pytest.mark.django_db

FAST = {"n_envs": 2, "n_steps": 128, "batch_size": 128, "episode_length": 256}
# one rollout (n_envs x n_steps): what is asserted is the pipeline, not what the agent learns
TIMESTEPS = "256"
LSTM = {"seq_len": 8, "hidden": 8, "epochs": 2, "batch_size": 128}


@pytest.fixture
def btc_file(shared_data) -> str:
    return str(shared_data / "futures" / "BTCUSDT-1h.csv.gz")


def _train(*args: str) -> tuple[ModelArtifact, str]:
    out = StringIO()
    call_command("train_agent", *args, stdout=out)
    text = out.getvalue()
    return ModelArtifact.objects.get(pk=int(text.strip().splitlines()[-1])), text


def _ppo(btc_file: str, seed: int = 0) -> tuple[ModelArtifact, str]:
    return _train(
        "--kind", "ppo", "--data", btc_file, "--start", "2025-06-01", "--end", "2025-07-15",
        "--oos-end", "2025-08-01", "--timesteps", TIMESTEPS, "--seed", str(seed),
        "--params", json.dumps(FAST),
    )  # fmt: skip


def test_train_agent_stores_a_judged_reproducible_model(btc_file) -> None:
    model, text = _ppo(btc_file)

    assert model.status == ModelArtifact.Status.CANDIDATE and model.progress == 1.0
    data = (Path(settings.AI_MODELS_DIR) / model.file).read_bytes()
    assert sha256_of(data) == model.sha256 and len(data) == model.size_bytes
    for part in ("in_sample", "validation", "out_of_sample"):
        figures = model.metrics[part]["BTCUSDT-1h"]
        assert set(figures) >= {"model", "buy_and_hold", "flat"}, part
        assert figures["flat"]["total_return"] == 0.0
    assert "out_of_sample" in text and "buy&hold" in text
    assert model.feature_spec and model.normalizer and model.code_version
    again, _ = _ppo(btc_file)  # the same request and seed: the very same model file
    assert again.sha256 == model.sha256 and again.pk != model.pk


def test_lstm_and_an_ensemble_of_trained_models(btc_file) -> None:
    agent, _ = _ppo(btc_file)
    lstm, _ = _train(
        "--kind", "lstm", "--data", btc_file, "--start", "2025-06-01", "--end", "2025-07-15",
        "--params", json.dumps(LSTM),
    )  # fmt: skip
    assert lstm.status == "candidate" and lstm.metrics["details"]["history"]

    ensemble, _ = _train(
        "--kind", "ensemble", "--members", str(agent.pk), str(lstm.pk), "--mode", "majority"
    )
    assert ensemble.status == "candidate"
    assert set(ensemble.members.values_list("pk", flat=True)) == {agent.pk, lstm.pk}
    out = StringIO()  # and a backtest trades it
    call_command(
        "backtest", "--strategy", "ai", "--model", str(ensemble.pk), "--data", btc_file,
        "--start", "2025-08-01", "--end", "2025-08-15", stdout=out,
    )  # fmt: skip
    assert "BTCUSDT" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "ppo", "--params", '{"n_env": 2}'], "unknown ppo parameter(s): n_env"),
        (["--kind", "lstm", "--params", '{"hidden": 0}'], "hidden must be a positive integer"),
        (["--kind", "ppo", "--data", "nope.csv"], "no such file: nope.csv"),
        (["--kind", "ensemble", "--members", "1"], "two or more models"),
        (["--kind", "ppo", "--params", "[1]"], "--params must be a JSON object"),
    ],
)
def test_bad_training_requests_get_one_line_and_record_nothing(btc_file, args, message) -> None:
    if "--data" not in args and args[1] != "ensemble":
        args = [*args, "--data", btc_file]
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("train_agent", *args)
    assert not ModelArtifact.objects.exists()


def test_train_api_runs_on_the_worker_and_reports_the_model(
    btc_file, admin_client, client, monkeypatch
) -> None:
    from tradingplatform.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    body = {
        "kind": "a2c",
        "data": [btc_file],
        "start": "2025-06-01T00:00:00Z",
        "end": "2025-07-01T00:00:00Z",
        "timesteps": int(TIMESTEPS),
        "params": FAST,
    }
    assert client.post("/api/models/train/", body, content_type="application/json").status_code in (
        401,
        403,
    )
    answer = admin_client.post("/api/models/train/", body, content_type="application/json")
    assert answer.status_code == 202, answer.content
    model = admin_client.get(f"/api/models/{answer.json()['id']}/").json()
    assert model["status"] == "candidate" and model["progress"] == 1.0 and model["sha256"]
    assert model["metrics"]["validation"]["BTCUSDT-1h"]["model"]["trades"] >= 0

    bad = admin_client.post(
        "/api/models/train/", {**body, "params": {"gama": 0.9}}, content_type="application/json"
    )
    assert bad.status_code == 400 and "unknown a2c parameter(s): gama" in bad.json()["message"]
    assert admin_client.get("/api/models/999999/").status_code == 404
    assert ModelArtifact.objects.count() == 1


def test_activation_is_recorded_and_one_roll_back_restores_the_previous_model(btc_file) -> None:
    first, _ = _ppo(btc_file)
    second, _ = _ppo(btc_file, seed=1)
    bot = make_ai_paper_bot("ai-swap", role="driver", agent=first)
    promotion = model_activate(bot=bot, slot="agent", artifact=second, decided_by="alice")
    assert BotAi.objects.get(bot=bot).agent_id == second.pk
    assert ModelArtifact.objects.get(pk=first.pk).status == "retired"
    assert (promotion.previous_id, promotion.new_id, promotion.decided_by) == (
        first.pk,
        second.pk,
        "alice",
    )

    model_rollback(promotion=promotion, decided_by="bob")

    assert BotAi.objects.get(bot=bot).agent_id == first.pk
    assert ModelArtifact.objects.get(pk=first.pk).status == "active"
    assert ModelPromotion.objects.get(pk=promotion.pk).rolled_back
    assert ModelPromotion.objects.filter(bot=bot).count() == 2


def test_tampered_model_is_never_activated(btc_file) -> None:
    model, _ = _ppo(btc_file)
    bot = make_ema_paper_bot("ai-none", account="paper-ai")
    (Path(settings.AI_MODELS_DIR) / model.file).write_bytes(b"not a model")
    from apps.ai.services import ArtifactError

    with pytest.raises(ArtifactError, match="does not match its sha256"):
        model_activate(bot=bot, slot="agent", artifact=model, decided_by="alice")
    assert not BotAi.objects.filter(bot=bot).exists()


def test_ai_settings_a_bot_cannot_trade_with_are_refused(btc_file) -> None:
    model, _ = _ppo(btc_file)
    rule_bot = make_ema_paper_bot("ai-rule", account="paper-ai")
    with pytest.raises(ValidationError, match="strategy must be of kind 'ai'"):
        BotAi(bot=rule_bot, role="driver", agent=model).full_clean()
    with pytest.raises(ValidationError, match="needs this model"):
        BotAi(bot=rule_bot, role="filter", mode="hybrid", agent=model).full_clean()
    BotAi(bot=rule_bot, role="filter", mode="ppo_only", agent=model).full_clean()


def test_retraining_promotes_a_better_candidate_or_keeps_the_active_model(
    btc_file, shared_data
) -> None:
    now = datetime(2025, 8, 1, tzinfo=UTC)
    ensure_klines(symbol="BTCUSDT", interval="1h", start=now - timedelta(days=40), end=now,
                  data_dir=shared_data)  # fmt: skip
    active, _ = _ppo(btc_file)
    bot = make_ai_paper_bot("ai-retrain", role="driver", agent=active)
    BotAi.objects.filter(bot=bot).update(
        retrain_window_days=30, auto_promote=True, promote_margin=-100
    )

    [run] = bot_retrain(bot_id=bot.pk, now=now)

    assert run.decision == RetrainRun.Decision.PROMOTED, run.detail
    assert run.candidate_score is not None and run.active_score is not None
    assert BotAi.objects.get(bot=bot).agent_id == run.candidate_id
    promotion = ModelPromotion.objects.get(bot=bot)
    assert promotion.decided_by == "schedule" and promotion.previous_id == active.pk

    BotAi.objects.filter(bot=bot).update(promote_margin=100)
    [kept] = bot_retrain(bot_id=bot.pk, now=now)
    assert kept.decision == RetrainRun.Decision.KEPT
    assert BotAi.objects.get(bot=bot).agent_id == run.candidate_id


def test_retraining_schedule_follows_the_bots_settings(btc_file) -> None:
    from django_celery_beat.models import PeriodicTask

    model, _ = _ppo(btc_file)
    bot = make_ai_paper_bot("ai-sched", role="driver", agent=model)
    ai = BotAi.objects.get(bot=bot)
    ai.retrain_every_days = 7
    ai.save()
    task = PeriodicTask.objects.get(name=f"re-train AI of bot {bot.pk}")
    assert task.task == "ai.retrain_bot" and task.interval.every == 7
    ai.retrain_every_days = 0
    ai.save()
    assert not PeriodicTask.objects.filter(name=f"re-train AI of bot {bot.pk}").exists()
    Bot.objects.filter(pk=bot.pk).delete()


def test_walk_forward_judges_the_ai_beside_rules_and_baselines(btc_file, tmp_path) -> None:
    report, page = tmp_path / "wf.json", tmp_path / "wf.html"
    out = StringIO()
    call_command(
        "ai_walkforward", "--kind", "ppo", "--data", btc_file, "--start", "2025-05-01",
        "--end", "2025-06-20", "--train", "800", "--test", "200", "--timesteps", TIMESTEPS,
        "--params", json.dumps(FAST), "--rules", "ema_cross", "--json", str(report),
        "--report", str(page), stdout=out,
    )  # fmt: skip
    data = json.loads(report.read_text())
    assert len(data["windows"]) == 2
    names = set(data["summary"])
    assert {"ppo", "ema_cross", "buy_and_hold", "flat"} <= names, names
    assert "<table" in page.read_text() and "ppo" in out.getvalue()
