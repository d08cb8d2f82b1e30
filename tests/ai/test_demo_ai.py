"""The demo's AI bot: the shipped models, registered as the manifest says, trading on paper."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from apps.ai import demo as ai_demo
from apps.ai.models import AiDecision, BotAi, ModelArtifact
from apps.ai.services import sha256_of
from apps.bots.models import Bot
from apps.core.demo import demo_load
from apps.trading.models import Trade
from apps.trading.replay import replay_bot

pytestmark = pytest.mark.django_db


def test_demo_ai_bot_uses_the_shipped_models_and_trades_them(shared_data) -> None:
    summary = demo_load(running=True)
    assert not summary.data_note
    bot = Bot.objects.get(name="demo-ai")
    assert bot.state == Bot.State.RUNNING and bot.strategy.kind == "ai"
    ai = BotAi.objects.get(bot=bot)
    assert (ai.role, ai.mode) == ("driver", "hybrid")
    manifest = json.loads(ai_demo.MANIFEST.read_text())
    for artifact, entry in zip((ai.agent, ai.predictor), manifest["models"], strict=True):
        assert artifact.status == ModelArtifact.Status.ACTIVE and artifact.sha256 == entry["sha256"]
        data = (Path(settings.AI_MODELS_DIR) / artifact.file).read_bytes()
        assert sha256_of(data) == entry["sha256"]
        # trained before the month the demo replays, and judged out of sample up to it
        assert artifact.train_end <= datetime(2025, 7, 1, tzinfo=UTC)
        assert "out_of_sample" in artifact.metrics
    demo_load(running=True)  # loading again adds nothing
    assert ModelArtifact.objects.count() == 2 and BotAi.objects.count() == 1

    summary = replay_bot(
        bot=bot,
        start=datetime(2025, 9, 1, tzinfo=UTC),
        end=datetime(2025, 9, 8, tzinfo=UTC),
        label="t",
        data_dir=shared_data,
    )
    copy = Bot.objects.get(name=summary.bot)
    decisions = AiDecision.objects.filter(bot=copy)
    assert decisions.count() == 7 * 24 and decisions.filter(used=True).exists()
    assert Trade.objects.filter(bot=copy).exists()


def test_demo_ai_bot_waits_paused_when_a_shipped_model_is_damaged(tmp_path, monkeypatch) -> None:
    for path in ai_demo.DEMO_DIR.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "demo-lstm.bin").write_bytes(b"damaged")
    monkeypatch.setattr(ai_demo, "DEMO_DIR", tmp_path)
    monkeypatch.setattr(ai_demo, "MANIFEST", tmp_path / "manifest.json")

    summary = demo_load(running=True)

    bot = Bot.objects.get(name="demo-ai")
    assert bot.state == Bot.State.PAUSED
    assert "demo-lstm" in bot.state_reason and "sha256" in bot.state_reason
    assert "demo-ai paused" in summary.data_note
    assert not BotAi.objects.filter(bot=bot).exists() and not ModelArtifact.objects.exists()
    assert Bot.objects.filter(name="demo-swing", state=Bot.State.RUNNING).exists()
