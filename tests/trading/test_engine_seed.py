"""The seed report's own test list, automated on the shipped real candles, through the real
paper-trading loop (replays of BTCUSDT and ETHUSDT 1h, January 2024)."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from apps.bots.models import Bot
from apps.orders.models import Fill, Order
from apps.trading.engine import killswitch_engage
from apps.trading.models import Position, Signal, Trade
from apps.trading.paper import paper_session_load
from apps.trading.replay import replay_bot
from tests.factories import make_ema_paper_bot

pytestmark = pytest.mark.django_db

JAN1 = datetime(2024, 1, 1, tzinfo=UTC)


def _bot(name: str, **options: Any) -> Bot:
    return make_ema_paper_bot(name, account="paper-seed", **options)


def _replay(bot: Bot, hours: int, shared_data) -> Bot:
    end = datetime.fromtimestamp(JAN1.timestamp() + hours * 3600, tz=UTC)
    summary = replay_bot(bot=bot, start=JAN1, end=end, label="t", data_dir=shared_data)
    return Bot.objects.get(name=summary.bot)


def test_position_with_first_target_reached_is_partially_exited(shared_data) -> None:
    bot = _replay(_bot("seed-partial", trailing="none"), 36, shared_data)
    tp = Fill.objects.filter(order__bot=bot, order__purpose="take_profit").first()
    assert tp is not None, "no take-profit filled"
    trade = tp.trade
    assert tp.quantity < trade.quantity  # only part of the position was taken off
    entry = Order.objects.filter(bot=bot, purpose="entry", status="FILLED").first()
    assert entry.slippage_bps is not None and entry.expected_price is not None  # slippage log
    # After the first level the stop moved to break-even (the entry price, on the tick).
    moved = Order.objects.filter(bot=bot, type="STOP_MARKET", trigger_price__gte=trade.entry_price)
    assert moved.filter(trigger_price__lte=trade.entry_price + Decimal("0.1")).exists()


def test_entry_into_correlated_coin_is_blocked_and_logged_with_figure(shared_data, caplog) -> None:
    caplog.set_level(logging.INFO, logger="apps.trading.engine")
    bot = _replay(_bot("seed-corr"), 14, shared_data)
    blocked = Signal.objects.filter(bot=bot, outcome="blocked", blocked_by="CORRELATION")
    assert blocked.exists()
    detail = blocked.first().detail
    assert "ETHUSDT" in detail and "BTCUSDT" in detail and "correlation +0.8" in detail
    assert any(
        "blocked by CORRELATION" in r.message and "+0.8" in r.message for r in caplog.records
    )


def test_vix_band_multiplier_with_smaller_band_lowers_entry_size(shared_data) -> None:
    full = _replay(_bot("seed-vix-1", symbols=("BTCUSDT",)), 10, shared_data)
    quarter = _replay(
        _bot(
            "seed-vix-q",
            symbols=("BTCUSDT",),
            bands=[{"max_score": 100, "size_multiplier": "0.25"}],
        ),
        10,
        shared_data,
    )
    q_full = Trade.objects.get(bot=full).quantity
    q_quarter = Trade.objects.get(bot=quarter).quantity
    assert q_quarter < q_full
    assert abs(q_quarter / q_full - Decimal("0.25")) < Decimal("0.02")


def test_kill_switch_with_open_position_leaves_no_open_order_or_position(shared_data) -> None:
    bot = _replay(_bot("seed-kill", symbols=("BTCUSDT",)), 12, shared_data)
    assert Position.objects.filter(bot=bot).exclude(quantity=0).exists()
    assert Order.objects.filter(bot=bot, status="NEW").exists()  # stop and take-profit resting
    now = datetime(2024, 1, 1, 12, 30, tzinfo=UTC)
    [report] = killswitch_engage(reason="test", now=now, bot_names=[bot.name])
    assert report.open_orders_left == 0 and report.open_positions_left == 0
    bot.refresh_from_db()
    assert bot.state == Bot.State.HALTED and "kill switch: test" in bot.state_reason
    assert Trade.objects.get(bot=bot, status="CLOSED").exit_reason == "kill_switch"
    session = paper_session_load(bot=bot, now=now)
    import asyncio

    assert asyncio.run(session.exchange.open_orders("BTCUSDT")) == []
    assert all(p.quantity == 0 for p in asyncio.run(session.exchange.positions("BTCUSDT")))


def test_circuit_breaker_with_flatten_tier_tripped_halts_bot_flat(shared_data) -> None:
    tiers = [
        {"name": "warn", "window_minutes": 60, "loss_limit": "1", "action": "warn"},
        {"name": "flat", "window_minutes": 1440, "loss_limit": "20", "action": "flatten"},
    ]
    bot = _replay(_bot("seed-breaker", symbols=("BTCUSDT",), tiers=tiers), 24 * 7, shared_data)
    bot.refresh_from_db()
    assert bot.state == Bot.State.HALTED
    assert "circuit breaker" in bot.state_reason and "flat" in bot.state_reason
    assert not Position.objects.filter(bot=bot).exclude(quantity=0).exists()
    losses = [t.net_pnl for t in Trade.objects.filter(bot=bot, status="CLOSED")]
    assert sum(loss for loss in losses if loss < 0) <= Decimal(-20)


@pytest.mark.parametrize(
    ("bot_name", "mode", "start", "end"),
    [
        ("demo-scalp", "SCALP", datetime(2025, 6, 2, tzinfo=UTC), datetime(2025, 6, 3, tzinfo=UTC)),
        (
            "demo-swing",
            "SWING",
            datetime(2025, 6, 1, tzinfo=UTC),
            datetime(2025, 6, 15, tzinfo=UTC),
        ),
    ],
)
def test_demo_bot_with_real_candles_trades_in_its_mode(
    demo, shared_data, bot_name, mode, start, end
) -> None:
    bot = Bot.objects.select_related("strategy").get(name=bot_name)
    bot.symbols = ["BTCUSDT"]  # one symbol keeps the test short
    summary = replay_bot(bot=bot, start=start, end=end, label="t", data_dir=shared_data)
    trades = Trade.objects.filter(bot__name=summary.bot)
    assert trades.filter(status="CLOSED").exists(), summary
    assert set(trades.values_list("mode", flat=True)) == {mode}


def test_swing_position_with_price_running_exits_on_native_trailing_stop(shared_data) -> None:
    bot = _replay(
        _bot("seed-trail", symbols=("BTCUSDT",), trailing="native", break_even=False),
        30,
        shared_data,
    )
    trailing = Order.objects.filter(bot=bot, purpose="trailing_stop", type="TRAILING_STOP_MARKET")
    assert trailing.exists()
    assert Trade.objects.filter(bot=bot, exit_reason="trailing").exists()


def test_managed_trailing_stop_with_price_running_ratchets_place_first(shared_data) -> None:
    bot = _replay(_bot("seed-managed", symbols=("BTCUSDT",), break_even=False), 48, shared_data)
    stops = list(Order.objects.filter(bot=bot, type="STOP_MARKET").order_by("created_at", "id"))
    assert len(stops) >= 3, [(s.purpose, s.status, s.trigger_price) for s in stops]
    # Each replacement rests before the previous stop is canceled, and only ever tightens.
    for old, new in itertools.pairwise(stops):
        if new.purpose != "trailing_stop" or old.status != "CANCELED":
            continue
        assert new.trigger_price > old.trigger_price
        placed = new.events.get(to_status="NEW").pk
        canceled = old.events.get(to_status="CANCELED").pk
        assert placed < canceled
    assert Trade.objects.filter(bot=bot, exit_reason="trailing").exists()
    assert all(e.detail != "" for e in Order.objects.get(pk=stops[0].pk).events.all())


def _tier_run(action: str, shared_data) -> Bot:
    tier = {"name": "t", "window_minutes": 4320, "loss_limit": "20", "action": action}
    if action == "reduce_size":
        tier["size_multiplier"] = "0.5"
    return _replay(_bot(f"tier-{action}", symbols=("BTCUSDT",), tiers=[tier]), 24 * 12, shared_data)


def test_circuit_breaker_tiers_with_losses_over_their_window_fire_their_actions(shared_data):
    """After the -30 and -17 USDT losses of 5-6 January (over 20 USDT in 3 days): warn keeps
    trading at full size, reduce_size halves the next entries, halt blocks them."""
    from apps.risk.models import BreakerState

    warn = _tier_run("warn", shared_data)
    reduce = _tier_run("reduce_size", shared_data)
    halt = _tier_run("halt", shared_data)
    after = datetime(2024, 1, 8, tzinfo=UTC)
    full = list(Trade.objects.filter(bot=warn, entry_time__gte=after).order_by("entry_time"))
    halved = list(Trade.objects.filter(bot=reduce, entry_time__gte=after).order_by("entry_time"))
    assert len(full) == len(halved) >= 2
    for big, small in zip(full, halved, strict=True):
        assert abs(small.quantity / big.quantity - Decimal("0.5")) < Decimal("0.03")
    assert not Trade.objects.filter(bot=halt, entry_time__gte=after).exists()
    blocked = Signal.objects.filter(bot=halt, blocked_by="CIRCUIT_BREAKER")
    assert blocked.count() == len(full)
    assert "loss" in blocked.first().detail
    assert BreakerState.objects.get(bot=halt).state["latched"] or blocked.exists()


def test_paper_position_held_over_settlements_pays_funding_into_its_trade(shared_data) -> None:
    from apps.market.models import FundingRate

    bot = _replay(_bot("seed-funding", symbols=("BTCUSDT",), trailing="none"), 24 * 7, shared_data)
    assert FundingRate.objects.filter(symbol="BTCUSDT").exists()
    trades = list(Trade.objects.filter(bot=bot, status="CLOSED"))
    held_over = [t for t in trades if (t.exit_time - t.entry_time).total_seconds() > 8 * 3600]
    assert held_over, "no trade held over a settlement"
    assert any(t.funding != 0 for t in held_over)
    for t in trades:  # ROI is on the net PnL, funding included
        margin = t.quantity * t.entry_price / t.leverage
        net = t.realized_pnl - t.fees - t.funding
        assert abs(t.roi - net / margin * 100) < Decimal("0.0001")


def _day_net_before(bot: Bot, at: datetime) -> Decimal:
    """Net PnL of ``bot``'s trades closed from 00:00 UTC of ``at``'s day up to ``at``."""
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    closed = Trade.objects.filter(bot=bot, status="CLOSED", exit_time__gte=start, exit_time__lte=at)
    return sum((t.realized_pnl - t.fees - t.funding for t in closed), Decimal(0))


def test_daily_loss_limit_stops_entries_for_the_rest_of_the_utc_day_only(shared_data) -> None:
    """RiskSettings.daily_loss_limit (15 USDT) through the real cycle over 12 days of January
    2024: after the day's closed trades lose 15 USDT, that day's entries are blocked by
    DAILY_LOSS; at 00:00 UTC the count starts again and the bot trades."""
    bot = _replay(
        _bot("daily-loss", symbols=("BTCUSDT",), daily_loss_limit="15"), 24 * 12, shared_data
    )
    blocked = list(Signal.objects.filter(bot=bot, blocked_by="DAILY_LOSS").order_by("signal_time"))
    assert blocked, "the limit never fired"
    for signal in blocked:
        assert _day_net_before(bot, signal.signal_time) <= Decimal(-15)
        assert "daily loss" in signal.detail and "limit 15.00 USDT" in signal.detail
    entries = list(Trade.objects.filter(bot=bot).order_by("entry_time"))
    for trade in entries:  # no entry was let through over the limit
        assert _day_net_before(bot, trade.entry_time) > Decimal(-15)
    first_block_day = blocked[0].signal_time.date()
    assert any(t.entry_time.date() > first_block_day for t in entries)  # resumed the next day
    unlimited = _replay(_bot("daily-loss-off", symbols=("BTCUSDT",), daily_loss_limit="0"),
                        24 * 12, shared_data)  # fmt: skip
    assert not Signal.objects.filter(bot=unlimited, blocked_by="DAILY_LOSS").exists()
