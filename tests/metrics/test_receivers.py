"""Trading metrics recorded from what the platform writes: real paper cycles over shipped
candles move the order, fill, cycle and signal metrics; state services move halts and the kill
switch; a rolled back write counts nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from apps.ai.models import AiDecision
from apps.bots.models import Bot
from apps.bots.services import bot_halt, bot_pause
from apps.market.services import klines_import
from apps.orders.models import Order
from apps.orders.services import order_reject
from apps.strategies.models import Strategy
from apps.trading.engine import bot_cycle_run
from apps.trading.models import BotCycle
from tests.factories import make_bot, make_order

from .conftest import sample, total

pytestmark = pytest.mark.django_db

START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000


@pytest.fixture
def btc_hours(shared_data):
    klines_import(
        path=shared_data / "futures" / "BTCUSDT-1h.csv.gz",
        since_ms=START - 100 * HOUR,
        until_ms=START + 24 * 15 * HOUR,
    )


def test_paper_cycles_on_real_candles_count_orders_fills_cycles_and_signals(
    btc_hours, django_capture_on_commit_callbacks
) -> None:
    strategy = Strategy.objects.create(
        name="ema-metrics",
        kind="ema_cross",
        mode="SWING",
        timeframe="1h",
        parameters={"fast": 9, "slow": 21, "warmup": 50, "sl": 0.02, "tp": 0.04},
    )
    bot = make_bot("metrics-paper", strategy=strategy, state=Bot.State.RUNNING, leverage=3)
    name = bot.name
    cycles_timed = sample("tradingplatform_cycle_duration_seconds_count", bot=name)
    with django_capture_on_commit_callbacks(execute=True):
        for t in range(START, START + 24 * 14 * HOUR, HOUR):  # until the first entry filled
            close = datetime.fromtimestamp((t + HOUR) / 1000, tz=UTC)
            bot_cycle_run(bot_id=bot.pk, symbol="BTCUSDT", candle_open_time=t, now=close)
            if Order.objects.filter(bot=bot, purpose="entry", status="FILLED").exists():
                break
    orders = Order.objects.filter(bot=bot)
    assert orders.filter(status="FILLED").exists()
    # every recorded order counted once as PENDING_NEW, and each status it reached
    assert total("tradingplatform_orders_total", bot=name, status="PENDING_NEW") == orders.count()
    assert total("tradingplatform_orders_total", bot=name, status="FILLED") == (
        orders.filter(status="FILLED").count()
    )
    fills = total("tradingplatform_fills_total", bot=name)
    assert fills == sum(o.fills.count() for o in orders) > 0
    assert total("tradingplatform_fill_notional_usdt_total", bot=name) > 0
    slipped = orders.filter(status="FILLED", slippage_bps__isnull=False).count()
    assert total("tradingplatform_order_slippage_bps_count", bot=name) == slipped > 0
    assert total("tradingplatform_order_roundtrip_seconds_count", bot=name) > 0
    finished = BotCycle.objects.filter(bot=bot).exclude(status="running").count()
    assert total("tradingplatform_cycles_total", bot=name) == finished
    assert (
        sample("tradingplatform_cycle_duration_seconds_count", bot=name) == cycles_timed + finished
    )
    assert total("tradingplatform_signals_total", bot=name, source="strategy") > 0


def test_rolled_back_order_counts_nothing(django_capture_on_commit_callbacks) -> None:
    bot = make_bot("metrics-rollback")
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                make_order(bot, "t-rolled-back")
                raise RuntimeError("cycle failed")
        except RuntimeError:
            pass
    assert total("tradingplatform_orders_total", bot=bot.name) == 0


def test_rejected_order_counts_its_binance_code(django_capture_on_commit_callbacks) -> None:
    bot = make_bot("metrics-reject")
    order = make_order(bot, "t-rejected")
    with django_capture_on_commit_callbacks(execute=True):
        order_reject(order=order, at=datetime.now(tz=UTC), reason="margin", code=-2019)
    assert (
        sample("tradingplatform_order_rejects_total", bot=bot.name, symbol="BTCUSDT", code="-2019")
        == 1
    )
    assert total("tradingplatform_orders_total", bot=bot.name, status="REJECTED") == 1


def test_halts_count_kill_switch_and_reconciliation_but_not_a_pause(
    django_capture_on_commit_callbacks,
) -> None:
    bot = make_bot("metrics-halts", state=Bot.State.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        bot_pause(bot=bot)
        bot_halt(bot=bot, reason="kill switch: test", cause=Bot.Cause.KILL_SWITCH)
        bot_halt(bot=bot, reason="kill switch: again", cause=Bot.Cause.KILL_SWITCH)
        bot_halt(bot=bot, reason="reconcile: mismatch", cause=Bot.Cause.RECONCILIATION)
    assert sample("tradingplatform_kill_switch_activations_total", bot=bot.name) == 2
    assert sample("tradingplatform_reconciliation_mismatches_total", bot=bot.name) == 1
    assert total("tradingplatform_bot_halts_total", bot=bot.name) == 3


def test_ai_decision_records_latency_and_confidence(django_capture_on_commit_callbacks) -> None:
    bot = make_bot("metrics-ai")
    with django_capture_on_commit_callbacks(execute=True):
        AiDecision.objects.create(
            bot=bot,
            symbol="BTCUSDT",
            candle_open_time=START,
            role="filter",
            mode="ppo_only",
            action="LONG",
            confidence=0.83,
            latency_ms=12.5,
            used=True,
            outcome=AiDecision.Outcome.CONFIRMED,
            at=datetime.now(tz=UTC),
        )
    labels = {"bot": bot.name, "role": "filter"}
    assert sample("tradingplatform_ai_inference_seconds_sum", **labels) == pytest.approx(0.0125)
    assert sample("tradingplatform_ai_confidence_ratio_bucket", **labels, le="0.9") == 1
    assert sample("tradingplatform_ai_confidence_ratio_bucket", **labels, le="0.8") == 0
    assert sample("tradingplatform_ai_decisions_total", **labels, outcome="confirmed") == 1
