"""The AI in bots as they really run: paper bots through the real cycle (the scheduler's
``bot_catch_up`` via a replay, the database, the simulated exchange) with a model from the
registry, in the driver and the filter roles; a tampered or missing model pauses the bot; the
performance review reports the AI's utilisation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings

from apps.ai.domain.agent import AgentConfig, TradingAgent
from apps.ai.domain.env import EnvConfig
from apps.ai.domain.types import AiAction
from apps.ai.models import AiDecision, ModelArtifact
from apps.bots.models import Bot
from apps.exchange.domain.types import datetime_to_ms
from apps.market.data import load_klines
from apps.monitoring.models import PerformanceReport
from apps.monitoring.services import performance_review
from apps.orders.models import Order
from apps.strategies.domain.base import OHLCV
from apps.strategies.domain.registry import build_strategy
from apps.trading.engine import bot_catch_up
from apps.trading.models import BotCycle, Signal, Trade
from apps.trading.replay import ReplayError, ensure_klines, replay_bot
from tests.ai.conftest import register
from tests.conftest import SHARED_DATA, shared_data_file
from tests.factories import make_ai_paper_bot

pytestmark = pytest.mark.django_db

START = datetime(2025, 9, 1, tzinfo=UTC)
HOURS = 72


def _btc() -> OHLCV:
    return OHLCV.of(load_klines(shared_data_file("futures/BTCUSDT-1h.csv.gz")))


@pytest.fixture(scope="module")
def btc() -> OHLCV:
    return _btc()


@pytest.fixture(scope="module")
def agent(btc: OHLCV) -> TradingAgent:
    """A small PPO agent trained on the summer of 2025 (seconds; its skill is not the point)."""
    times = np.asarray(btc.open_time)
    lo, hi = np.searchsorted(times, [datetime_to_ms(START - timedelta(days=90)),
                                     datetime_to_ms(START)])  # fmt: skip
    config = AgentConfig(timesteps=4096, seed=1, n_envs=4, n_steps=128, batch_size=256)
    return TradingAgent.train(
        OHLCV.of(btc, int(lo), int(hi)), config, env_config=EnvConfig(episode_length=256)
    )


def _replay(bot: Bot, hours: int = HOURS) -> Bot:
    end = START + timedelta(hours=hours)
    summary = replay_bot(bot=bot, start=START, end=end, label="t", data_dir=SHARED_DATA)
    return Bot.objects.get(name=summary.bot)


def _batch(model: TradingAgent, btc: OHLCV) -> dict[int, tuple[int, float]]:
    """The model's batch predictions over the replayed hours, by candle open time."""
    times = np.asarray(btc.open_time)
    lo, hi = np.searchsorted(
        times, [datetime_to_ms(START), datetime_to_ms(START) + HOURS * 3600_000]
    )
    window = OHLCV.of(btc, int(lo) - model.lookback, int(hi))
    actions, confidences = model.predict_series(window)
    return {
        int(t): (int(a), float(c))
        for t, a, c in zip(window.open_time, actions, confidences, strict=True)
    }


def test_driver_bot_trades_the_agents_actions_and_records_each_decision(agent, btc) -> None:
    model = register(agent, "ppo", name="driver-ppo")
    copy = _replay(make_ai_paper_bot("ai-driver", role="driver", agent=model))

    decisions = list(AiDecision.objects.filter(bot=copy).order_by("candle_open_time"))
    cycles = BotCycle.objects.filter(bot=copy, status=BotCycle.Status.DONE)
    assert len(decisions) == cycles.count() == HOURS
    batch = _batch(agent, btc)
    for d in decisions:  # the live cycle (database candles, one at a time) = the batch model
        action, confidence = batch[d.candle_open_time]
        assert (AiAction[d.action], d.confidence) == (AiAction(action), confidence)
        assert d.role == "driver" and d.used and d.outcome == AiDecision.Outcome.DECIDED
        assert d.latency_ms > 0
    assert {d.action for d in decisions} >= {"LONG", "SHORT"}, "an agent that never trades"

    trades = list(Trade.objects.filter(bot=copy).order_by("entry_time"))
    assert trades, "the driver never entered"
    by_time = {d.candle_open_time: d for d in decisions}
    for trade in trades:  # each entry is the agent's side at the candle it was decided on
        entry = Order.objects.get(trade=trade, purpose="entry", status="FILLED")
        decided = Signal.objects.get(order=entry)
        wanted = "LONG" if trade.side == "LONG" else "SHORT"
        assert by_time[decided.payload["candle_open_time"]].action == wanted
        assert Order.objects.filter(trade=trade, type="STOP_MARKET").exists()  # sl 2 %


def test_filter_bot_enters_only_where_the_ai_confirms(agent, btc) -> None:
    model = register(agent, "ppo", name="filter-ppo")
    bot = make_ai_paper_bot("ai-filter", role="filter", agent=model, min_confidence="0.34")
    copy = _replay(bot, hours=24 * 20)

    decisions = AiDecision.objects.filter(bot=copy)
    assert decisions.exists(), "the filter was never asked"
    # Asked only about the rule strategy's entries, at candles where it signals one.
    frame = build_strategy("ema_cross", bot.strategy.parameters).evaluate(btc)
    entry_times = set(
        np.asarray(btc.open_time)[np.asarray(frame.enter_long) | np.asarray(frame.enter_short)]
    )
    assert {d.candle_open_time for d in decisions} <= {int(t) for t in entry_times}
    vetoed = decisions.filter(outcome=AiDecision.Outcome.VETOED)
    blocked = Signal.objects.filter(bot=copy, blocked_by="ai_filter")
    assert sorted(vetoed.values_list("candle_open_time", flat=True)) == sorted(
        s.payload["candle_open_time"] for s in blocked
    )
    for d in decisions.filter(outcome=AiDecision.Outcome.CONFIRMED):
        assert d.used and d.confidence >= 0.34 and d.action in ("LONG", "SHORT")
    entered = Signal.objects.filter(bot=copy, order__purpose="entry")
    confirmed = set(
        decisions.filter(outcome="confirmed").values_list("candle_open_time", flat=True)
    )
    assert entered.exists()
    assert {s.payload["candle_open_time"] for s in entered} <= confirmed


def test_filter_that_is_never_confident_vetoes_every_entry(agent) -> None:
    model = register(agent, "ppo")
    copy = _replay(make_ai_paper_bot("ai-veto", role="filter", agent=model, min_confidence="1"))
    assert AiDecision.objects.filter(bot=copy, outcome="vetoed").exists()
    assert not AiDecision.objects.filter(bot=copy).exclude(outcome="vetoed").exists()
    assert not Order.objects.filter(bot=copy, purpose="entry").exists()


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_bot_whose_model_is_tampered_or_missing_pauses_and_never_trades(agent, damage) -> None:
    model = register(agent, "ppo")
    bot = make_ai_paper_bot(f"ai-{damage}", role="driver", agent=model)
    end = START + timedelta(hours=12)
    Bot.objects.filter(pk=bot.pk).update(enabled=True, state=Bot.State.RUNNING)
    ensure_klines(symbol="BTCUSDT", interval="1h", start=START - timedelta(days=10), end=end,
                  data_dir=SHARED_DATA)  # fmt: skip
    path = Path(settings.AI_MODELS_DIR) / model.file
    if damage == "tampered":
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.unlink()

    results = bot_catch_up(bot_id=bot.pk, now=end, start_ms=datetime_to_ms(START))

    assert [r.outcome for r in results] == ["error"]
    bot.refresh_from_db()
    assert bot.state == Bot.State.PAUSED
    expected = "does not match its sha256" if damage == "tampered" else "cannot be read"
    assert bot.state_reason.startswith("AI model:") and expected in bot.state_reason
    assert not Order.objects.filter(bot=bot).exists()
    with pytest.raises(ReplayError, match=expected):  # nor is it replayed
        replay_bot(bot=bot, start=START, end=end, label="r", data_dir=SHARED_DATA)


def test_performance_review_reports_the_ai_utilisation(agent) -> None:
    model = register(agent, "ppo")
    copy = _replay(
        make_ai_paper_bot("ai-review", role="driver", agent=model, min_confidence="0.35")
    )
    decisions = AiDecision.objects.filter(bot=copy)
    used = decisions.filter(used=True).count()
    assert 0 < used < decisions.count()  # some opinions were not confident enough

    performance_review(now=START + timedelta(hours=HOURS))

    report = PerformanceReport.objects.filter(bot=copy, window=PerformanceReport.Window.ALL).first()
    assert Trade.objects.filter(bot=copy, status="CLOSED").exists()
    assert report is not None and report.ai_decisions == decisions.count()
    assert float(report.ai_utilisation) == pytest.approx(used / decisions.count(), abs=1e-4)


def test_models_of_a_bot_are_kept_when_it_is_replayed(agent) -> None:
    model = register(agent, "ppo")
    bot = make_ai_paper_bot("ai-keep", role="driver", agent=model)
    copy = _replay(bot, hours=3)
    assert copy.ai.agent_id == model.pk and copy.ai.role == "driver"
    assert copy.ai.retrain_every_days == 0
    assert ModelArtifact.objects.get(pk=model.pk).file == model.file


async def _ai_events(layer: Any, channel: str) -> list[dict[str, Any]]:
    events = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.2)
        except TimeoutError:
            return events
        if message["event"]["kind"] == "ai_decision":
            events.append(message["event"]["data"])


def test_dashboard_shows_the_ai_at_work_and_its_decisions_reach_the_feed(
    agent, admin_client_logged, django_capture_on_commit_callbacks
) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from apps.events import LIVE_GROUP

    model = register(agent, "ppo")
    bot = make_ai_paper_bot("ai-live", role="driver", agent=model, min_confidence="0.35")
    Bot.objects.filter(pk=bot.pk).update(enabled=True, state=Bot.State.RUNNING)
    end = START + timedelta(hours=6)
    ensure_klines(symbol="BTCUSDT", interval="1h", start=START - timedelta(days=10), end=end,
                  data_dir=SHARED_DATA)  # fmt: skip
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(LIVE_GROUP, channel)

    with django_capture_on_commit_callbacks(execute=True):
        bot_catch_up(bot_id=bot.pk, now=end, start_ms=datetime_to_ms(START))

    events = async_to_sync(_ai_events)(layer, channel)
    decisions = AiDecision.objects.filter(bot=bot)
    assert len(events) == decisions.count() == 6
    assert {e["bot"] for e in events} == {"ai-live"} and all("confidence" in e for e in events)
    html = admin_client_logged.get("/").content.decode()
    used = decisions.filter(used=True).count()
    ai_table = html[html.index("<h2>AI</h2>") :]
    row = ai_table[ai_table.index("<td>ai-live</td>") :].split("</tr>")[0]
    assert "driver" in row and f"#{model.pk} ppo" in row and "<td>6</td>" in row
    assert f"{used / 6 * 100:.2f} %" in row
