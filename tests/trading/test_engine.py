"""AutoTradingService on real data: a paper bot's real loop over shipped BTCUSDT candles."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.bots.models import Bot
from apps.market.services import klines_import
from apps.orders.models import Order
from apps.strategies.models import Strategy
from apps.trading.engine import bot_cycle_run
from apps.trading.models import BotCycle, Position, Signal, Trade
from tests.factories import make_bot

pytestmark = pytest.mark.django_db

START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
END = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000


@pytest.fixture
def btc_hours(shared_data):
    klines_import(
        path=shared_data / "futures" / "BTCUSDT-1h.csv.gz",
        since_ms=START - 600 * HOUR,
        until_ms=END,
    )


def _ema_bot() -> Bot:
    strategy = Strategy.objects.create(
        name="ema-fast",
        kind="ema_cross",
        mode="SWING",
        timeframe="1h",
        parameters={"fast": 9, "slow": 21, "warmup": 50, "sl": 0.02, "tp": 0.04},
    )
    return make_bot("ema-paper", strategy=strategy, state=Bot.State.RUNNING, leverage=3)


def _run(bot: Bot, start: int, end: int) -> list[str]:
    outcomes = []
    for t in range(start, end, HOUR):
        close = datetime.fromtimestamp((t + HOUR) / 1000, tz=UTC)
        result = bot_cycle_run(bot_id=bot.pk, symbol="BTCUSDT", candle_open_time=t, now=close)
        outcomes.append(result.outcome)
    return outcomes


def test_paper_bot_with_real_candles_enters_protects_and_closes_trades(btc_hours) -> None:
    bot = _ema_bot()
    outcomes = _run(bot, START, START + 24 * 14 * HOUR)
    assert "enter" in outcomes
    entries = Order.objects.filter(bot=bot, purpose="entry")
    assert entries.exists()
    assert all(o.slippage_bps is not None for o in entries.filter(status="FILLED"))
    assert Order.objects.filter(bot=bot, purpose="stop_loss").exists()
    assert Order.objects.filter(bot=bot, purpose="take_profit").exists()
    closed = Trade.objects.filter(bot=bot, status="CLOSED")
    assert closed.exists(), list(BotCycle.objects.values_list("outcome", "detail")[:20])
    trade = closed.first()
    assert trade.exit_time > trade.entry_time and trade.roi is not None
    assert Signal.objects.filter(bot=bot, source="strategy").exists()


def test_bot_cycle_with_same_candle_twice_acts_once(btc_hours) -> None:
    bot = _ema_bot()
    _run(bot, START, START + 24 * 10 * HOUR)
    orders = Order.objects.filter(bot=bot).count()
    cycles = BotCycle.objects.filter(bot=bot).count()
    again = _run(bot, START, START + 24 * 10 * HOUR)
    assert set(again) == {"nothing", "enter", "exit", "blocked", "refused"} & set(again) or again
    assert Order.objects.filter(bot=bot).count() == orders
    assert BotCycle.objects.filter(bot=bot).count() == cycles


def test_bot_cycle_with_paused_bot_does_nothing(btc_hours) -> None:
    bot = _ema_bot()
    Bot.objects.filter(pk=bot.pk).update(state=Bot.State.PAUSED)
    assert set(_run(bot, START, START + 5 * HOUR)) == {"skipped"}
    assert not Position.objects.filter(bot=bot).exists()


def test_bot_cycle_with_too_few_candles_pauses_bot_with_the_reason(btc_hours) -> None:
    bot = _ema_bot()
    from apps.market.models import Kline

    Kline.objects.filter(symbol="BTCUSDT", open_time__lt=START).delete()  # no warm-up history
    result = bot_cycle_run(
        bot_id=bot.pk,
        symbol="BTCUSDT",
        candle_open_time=START + 5 * HOUR,
        now=datetime.fromtimestamp((START + 6 * HOUR) / 1000, tz=UTC),
    )
    assert result.outcome == "error"
    bot.refresh_from_db()
    assert bot.state == Bot.State.PAUSED
    assert bot.state_reason.startswith("strategy error:") and "candles" in bot.state_reason
    assert not Order.objects.filter(bot=bot).exists()


def test_strategy_hook_error_with_an_open_position_pauses_the_bot_and_keeps_its_stop(
    btc_hours, monkeypatch
) -> None:
    """A bug in an optional hook (``custom_stop`` here) pauses the bot with the hook named; the
    position keeps its protective stop (never flattened on a strategy bug)."""
    import apps.trading.engine.cycle as engine_cycle
    from apps.strategies.domain.ema_cross import EmaCross

    bot = _ema_bot()
    t = START
    while not Position.objects.filter(bot=bot).exclude(quantity=0).exists():
        assert t < START + 24 * 30 * HOUR, "the ema bot never entered"
        _run(bot, t, t + HOUR)
        t += HOUR

    class BrokenStop(EmaCross):
        def custom_stop(self, position, candles, frame):
            return {"long": Decimal(1)}["short"]  # a KeyError, as a user's bug would be

    monkeypatch.setattr(
        engine_cycle, "build_strategy", lambda kind, params, **_: BrokenStop(params)
    )
    assert _run(bot, t, t + HOUR) == ["error"]
    bot.refresh_from_db()
    assert bot.state == Bot.State.PAUSED and bot.state_cause == Bot.Cause.STRATEGY_ERROR
    assert "custom_stop: KeyError" in bot.state_reason
    position = Position.objects.get(bot=bot, symbol="BTCUSDT")
    assert position.quantity != 0
    assert Order.objects.filter(bot=bot, purpose="stop_loss", status="NEW").count() == 1


def test_kill_switch_engaged_during_a_cycle_blocks_its_entry(btc_hours, monkeypatch) -> None:
    """The kill switch halts the bot while a cycle is already past its checks: the risk gate
    reads the bot's cause at decision time and blocks the entry as KILL_SWITCH."""
    from apps.bots.services import bot_halt
    from apps.trading.domain.runner import CycleRunner

    bot = _ema_bot()
    outcomes = _run(bot, START, START + 24 * 30 * HOUR)
    entry = START + outcomes.index("enter") * HOUR
    racing = make_bot("ema-race", strategy=bot.strategy, state=Bot.State.RUNNING, leverage=3)
    _run(racing, START, entry)
    real_breaker = CycleRunner.breaker

    def breaker_then_kill(runner, equity):
        decision = real_breaker(runner, equity)
        bot_halt(bot=racing, reason="kill switch: drill", cause=Bot.Cause.KILL_SWITCH)
        return decision

    monkeypatch.setattr(CycleRunner, "breaker", breaker_then_kill)
    assert _run(racing, entry, entry + HOUR) == ["blocked"]
    signal = Signal.objects.get(bot=racing, blocked_by="KILL_SWITCH")
    assert "kill switch engaged: kill switch: drill" in signal.detail
    assert not Position.objects.filter(bot=racing).exclude(quantity=0).exists()
