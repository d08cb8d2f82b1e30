"""What keeps the cockpit live and right: chart series, the health line, and the events the
pages apply (a new candle, a fill's position with its mark, a breaker tier)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest

from apps.dashboard.cockpit.series import downsample, drawdown_points, equity_points
from apps.exchange.domain.types import Candle

T0 = datetime(2025, 9, 1, tzinfo=UTC)


def test_equity_points_with_exits_start_before_first_exit_and_end_at_now() -> None:
    exits = [(T0, Decimal("10")), (T0 + timedelta(hours=1), Decimal("-30"))]
    points = equity_points(Decimal("100"), exits, now=T0 + timedelta(hours=2), last=Decimal("85"))
    start = int(T0.timestamp())
    assert points == [
        {"time": start - 1, "value": 100.0},
        {"time": start, "value": 110.0},
        {"time": start + 3600, "value": 80.0},
        {"time": start + 7200, "value": 85.0},
    ]
    assert [p["value"] for p in drawdown_points(points)] == [0.0, 0.0, -27.2727, -22.7273]


def test_equity_points_with_two_exits_in_one_second_keep_one_point() -> None:
    points = equity_points(Decimal("0"), [(T0, Decimal("1")), (T0, Decimal("2"))])
    assert points[-1] == {"time": int(T0.timestamp()), "value": 3.0} and len(points) == 2


def test_downsample_with_many_points_keeps_the_last_and_stays_ascending() -> None:
    points = [{"time": t, "value": float(t)} for t in range(10_000)]
    kept = downsample(points, limit=100)
    assert len(kept) <= 101 and kept[-1] == points[-1]
    assert [p["time"] for p in kept] == sorted({p["time"] for p in kept})


@pytest.mark.django_db
def test_klines_store_with_new_candle_publishes_it_for_the_price_charts(
    django_capture_on_commit_callbacks,
) -> None:
    from apps.market.services import klines_store

    candle = Candle(
        T0, Decimal("100.10"), Decimal("101.00"), Decimal("99.50"), Decimal("100.70"), Decimal("3")
    )
    with (
        mock.patch("apps.events._send") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        later = T0 + timedelta(hours=2)
        assert klines_store(symbol="BTCUSDT", interval="1h", candles=[candle], now=later) == 1
        assert klines_store(symbol="BTCUSDT", interval="1h", candles=[candle], now=later) == 0
    [call] = send.call_args_list
    kind, data = call.args[0], call.args[1]
    assert kind == "candle"
    assert data == {
        "symbol": "BTCUSDT",
        "interval": "1h",
        "open_time": int(T0.timestamp() * 1000),
        "open": "100.1",
        "high": "101",
        "low": "99.5",
        "close": "100.7",
        "volume": "3",
    }


@pytest.mark.django_db
def test_fill_position_event_carries_mark_and_unrealised_pnl(
    shared_data, django_capture_on_commit_callbacks
) -> None:
    from tests.trading.test_engine_seed import _bot, _replay

    with (
        mock.patch("apps.events._send") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        _replay(_bot("events", symbols=("BTCUSDT",)), 12, shared_data)
    kinds = [c.args[0] for c in send.call_args_list]
    assert "fill" in kinds
    after_fill = send.call_args_list[kinds.index("fill") + 1].args
    assert after_fill[0] == "position"
    assert {"side", "quantity", "entry_price", "mark_price", "unrealized_pnl"} <= set(after_fill[1])
    assert "breaker" not in kinds  # a rehearsal copy's breaker is not the dashboards' business


@pytest.mark.django_db
def test_breaker_tier_change_is_published_once(
    shared_data, django_capture_on_commit_callbacks
) -> None:
    from apps.bots.models import Bot
    from apps.risk.models import RiskSettings
    from apps.trading.engine.cycle import _breaker
    from apps.trading.models import Trade
    from tests.factories import make_bot

    bot = make_bot("brk")
    risk = RiskSettings.objects.create(
        bot=bot,
        breaker_tiers=[
            {"name": "stop", "window_minutes": 60, "loss_limit": "10", "action": "halt"}
        ],
    )
    risk.full_clean()
    risk.save()
    Trade.objects.create(
        bot=bot, symbol="BTCUSDT", side="LONG", mode="SWING", quantity=1, entry_price=1,
        entry_time=T0, exit_time=T0 + timedelta(minutes=5), status="CLOSED",
        realized_pnl=Decimal("-50"),
    )  # fmt: skip
    ctx = mock.Mock(bot=Bot.objects.get(pk=bot.pk), risk=risk, now=T0 + timedelta(minutes=10))
    with (
        mock.patch("apps.events._send") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        _breaker(ctx, Decimal("10000"))
        _breaker(ctx, Decimal("10000"))  # the same tier again: nothing new to say
    [call] = [c for c in send.call_args_list if c.args[0] == "breaker"]
    assert call.args[1]["bot"] == "brk" and call.args[1]["tier"] == "HALT_ENTRIES"
