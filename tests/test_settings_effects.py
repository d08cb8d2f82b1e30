"""Settings proved end to end: each test sets one field on a paper bot, replays it through the
real loop (``replay_bot``: the scheduler's cycles, the database, the simulated exchange) on the
shipped BTCUSDT 1h candles of January 2024, and compares it with the same bot at the default.
The table of every setting, where it acts and its test: ``docs/settings.md``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache

from apps.bots.models import Bot
from apps.market.models import Kline
from apps.orders.models import Order
from apps.risk.models import RiskSettings
from apps.trading.models import Signal, Trade
from apps.trading.replay import replay_bot
from tests.factories import make_ema_paper_bot

pytestmark = pytest.mark.django_db

JAN1 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_risk_cache():
    cache.clear()  # the risk services' CryptoVIX / correlation cache: nothing from another test


def _bot(name: str, *, risk: dict[str, Any] | None = None, **fields: Any) -> Bot:
    """The seed's ema 9/21 BTCUSDT paper bot (break-even off), with ``fields`` set on the Bot
    and ``risk`` on its RiskSettings, validated as the admin would."""
    bot = make_ema_paper_bot(
        name,
        account="paper-effects",
        symbols=("BTCUSDT",),
        trailing=fields.pop("trailing", "none"),
        break_even=False,
    )
    for field, value in fields.items():
        setattr(bot, field, value)
    bot.full_clean()
    bot.save()
    settings_ = RiskSettings.objects.get(bot=bot)
    for field, value in (risk or {}).items():
        setattr(settings_, field, value)
    settings_.full_clean()
    settings_.save()
    return bot


def _replay(bot: Bot, hours: int, shared_data) -> Bot:
    end = JAN1 + timedelta(hours=hours)
    summary = replay_bot(bot=bot, start=JAN1, end=end, label="t", data_dir=shared_data)
    return Bot.objects.get(name=summary.bot)


def _first_trade(bot: Bot) -> Trade:
    trade = Trade.objects.filter(bot=bot).order_by("entry_time").first()
    assert trade is not None, f"{bot.name} never entered"
    return trade


# --- RiskSettings ---------------------------------------------------------------------------
def test_risk_per_trade_halved_halves_the_entry_size(shared_data) -> None:
    """RiskSettings.risk_per_trade 0.005 against the default 0.01: the same entry, half the
    quantity (the loss at the stop is the share of equity asked for)."""
    default = _first_trade(_replay(_bot("risk-default"), 10, shared_data))
    half = _first_trade(
        _replay(_bot("risk-half", risk={"risk_per_trade": Decimal("0.005")}), 10, shared_data)
    )
    assert half.entry_time == default.entry_time
    assert abs(half.quantity / default.quantity - Decimal("0.5")) < Decimal("0.02")


def test_max_exposure_caps_the_notional_of_an_entry(shared_data) -> None:
    """RiskSettings.max_exposure 1000 USDT: the entry the default bot makes at ~5000 USDT of
    notional is cut to the cap, and the signal names the exposure cap."""
    default = _first_trade(_replay(_bot("exposure-default"), 10, shared_data))
    capped_bot = _replay(
        _bot("exposure-1000", risk={"max_exposure": Decimal(1000)}), 10, shared_data
    )
    capped = _first_trade(capped_bot)
    assert capped.entry_time == default.entry_time
    assert default.quantity * default.entry_price > Decimal(2000)
    assert capped.quantity * capped.entry_price <= Decimal(1000) * Decimal("1.003")  # slippage
    entry = Signal.objects.get(bot=capped_bot, order__purpose="entry")
    assert "exposure cap" in entry.detail


# --- Bot: managed trailing stop --------------------------------------------------------------
def _trailing_stops(bot: Bot) -> list[Order]:
    return list(Order.objects.filter(bot=bot, purpose="trailing_stop", type="STOP_MARKET"))


def test_trailing_activation_out_of_reach_never_moves_the_stop(shared_data) -> None:
    """Bot.trailing_activation 0.2 (20 % of profit first) against the default 0.015: the
    managed trail that ratchets the default bot's stop never starts."""
    # 40 hours: the default bot's trail ends its 09:00 entry at 12:00 the next day
    default = _replay(_bot("trail-act-default", trailing="managed"), 40, shared_data)
    far = _replay(
        _bot("trail-act-far", trailing="managed", trailing_activation=Decimal("0.2")),
        40,
        shared_data,
    )
    assert _trailing_stops(default)
    assert Trade.objects.filter(bot=default, exit_reason="trailing").exists()
    assert Trade.objects.filter(bot=far).exists()
    assert not _trailing_stops(far)
    assert not Trade.objects.filter(bot=far, exit_reason="trailing").exists()


def test_trailing_callback_sets_the_distance_of_the_trail(shared_data) -> None:
    """Bot.trailing_callback 0.005 against the default 0.015: every managed trailing stop sits
    that fraction below a candle's high (snapped down to the tick)."""
    hours = 24  # both trails move several times on the first day (the 09:00 entry)
    default = _replay(_bot("trail-cb-default", trailing="managed"), hours, shared_data)
    tight = _replay(
        _bot("trail-cb-tight", trailing="managed", trailing_callback=Decimal("0.005")),
        hours,
        shared_data,
    )
    start = int(JAN1.timestamp() * 1000)
    end = int((JAN1 + timedelta(hours=hours)).timestamp() * 1000)
    highs = list(
        Kline.objects.filter(
            symbol="BTCUSDT", interval="1h", open_time__gte=start, open_time__lt=end
        ).values_list("high", flat=True)
    )

    def fits(order: Order, callback: Decimal) -> bool:
        return any(
            Decimal(0) <= h * (1 - callback) - order.trigger_price < Decimal("0.1") for h in highs
        )

    for bot, callback, other in (
        (default, Decimal("0.015"), Decimal("0.005")),
        (tight, Decimal("0.005"), Decimal("0.015")),
    ):
        stops = _trailing_stops(bot)
        assert stops, f"{bot.name}: the trail never moved"
        assert all(fits(o, callback) for o in stops), [o.trigger_price for o in stops]
        assert not any(fits(o, other) for o in stops)


# --- Strategy: take-profit ---------------------------------------------------------------------
def _tp_bot(name: str, tp: float) -> Bot:
    """The seed bot without partial exit levels, on an ema 9/21 strategy with take-profit ``tp``."""
    from apps.strategies.models import Strategy

    strategy = Strategy.objects.create(
        name=f"ema-9-21-tp-{name}",
        kind="ema_cross",
        mode="SWING",
        timeframe="1h",
        parameters={"fast": 9, "slow": 21, "warmup": 50, "sl": 0.02, "tp": tp},
    )
    strategy.full_clean()
    return _bot(name, strategy=strategy, exit_levels=[])


def test_strategy_take_profit_closes_the_whole_position_of_a_bot_without_exit_levels(
    shared_data,
) -> None:
    """Strategy.parameters tp 0.01 against 0.5 on a bot with no partial exit levels: each entry
    gets one reduce-only take-profit for its whole size at 1 % from the entry, and trades end
    there; at 50 % the same orders rest out of reach and no trade ends at a take-profit."""
    # one day: both enter at 09:00; near's take-profit fills at 19:00, far's rests
    near = _replay(_tp_bot("tp-near", 0.01), 24, shared_data)
    far = _replay(_tp_bot("tp-far", 0.5), 24, shared_data)
    for bot, distance in ((near, Decimal("0.01")), (far, Decimal("0.5"))):
        trades = list(Trade.objects.filter(bot=bot).order_by("entry_time"))
        assert trades, f"{bot.name} never entered"
        for trade in trades:
            (tp,) = Order.objects.filter(bot=bot, trade=trade, purpose="take_profit")
            assert tp.quantity == trade.quantity and tp.reduce_only
            sign = 1 if trade.side == "LONG" else -1
            target = trade.entry_price * (1 + sign * distance)
            assert abs(tp.price - target) <= Decimal("0.1"), (tp.price, target)  # tick 0.1
    near_tp = Trade.objects.filter(bot=near, exit_reason="take_profit")
    assert near_tp.exists() and all(t.realized_pnl > 0 for t in near_tp)
    assert not Trade.objects.filter(bot=far, exit_reason="take_profit").exists()


# --- Strategy: trend_swing's ATR trailing stop -------------------------------------------------
def _swing_bot(name: str, trail_atr: float) -> Bot:
    """The seed bot (no Bot trailing) on trend_swing at its defaults but ``trail_atr``."""
    from apps.strategies.models import Strategy

    strategy = Strategy.objects.create(
        name=f"trend-swing-{name}",
        kind="trend_swing",
        mode="SWING",
        timeframe="1h",
        parameters={"trail_atr": trail_atr},
    )
    strategy.full_clean()
    return _bot(name, strategy=strategy)


def test_trend_swing_trail_atr_trails_the_exchange_stop_that_many_atrs_behind(
    shared_data,
) -> None:
    """Strategy.parameters trail_atr 0.5 against the default 3.0 on a trend_swing bot: after a
    closed candle the exchange stop-market is moved (placed first, never loosened) to that
    many ATRs below the candle's high; the tight trail ends the first trade hours earlier."""
    from apps.market.domain.indicators import atr

    default = _replay(_swing_bot("swing-trail-default", 3.0), 48, shared_data)
    tight = _replay(_swing_bot("swing-trail-tight", 0.5), 48, shared_data)
    rows = list(
        Kline.objects.filter(symbol="BTCUSDT", interval="1h")
        .order_by("open_time")
        .values_list("open_time", "high", "low", "close")
    )
    ranges = atr(*(np.array([float(r[i]) for r in rows]) for i in (1, 2, 3)), 14)
    start = int(JAN1.timestamp() * 1000)
    trail_points = [  # (high, ATR) of each candle of the replay
        (float(high), float(ranges[i]))
        for i, (open_time, high, _, _) in enumerate(rows)
        if open_time >= start
    ]

    def fits(order: Order, trail_atr: float) -> bool:  # snapped to the 0.1 tick
        trigger = float(order.trigger_price)
        return any(abs(h - trail_atr * r - trigger) <= 0.051 for h, r in trail_points)

    for bot, trail_atr, other in ((default, 3.0, 0.5), (tight, 0.5, 3.0)):
        moved = _trailing_stops(bot)
        assert moved, f"{bot.name}: the stop never trailed"
        assert all(fits(o, trail_atr) for o in moved), [o.trigger_price for o in moved]
        assert not any(fits(o, other) for o in moved)
        for trade in Trade.objects.filter(bot=bot):
            stops = Order.objects.filter(bot=bot, trade=trade, type="STOP_MARKET")
            triggers = [o.trigger_price for o in stops.order_by("created_at", "id")]
            sign = 1 if trade.side == "LONG" else -1
            assert all(sign * (b - a) > 0 for a, b in itertools.pairwise(triggers)), triggers
        # a stop move is its order; the strategy's signal list holds entries and exits only
        signals = Signal.objects.filter(bot=bot, source=Signal.Source.STRATEGY)
        assert signals.filter(outcome="placed").count() <= 2 * Trade.objects.filter(bot=bot).count()
    first_default, first_tight = _first_trade(default), _first_trade(tight)
    assert first_tight.entry_time == first_default.entry_time
    assert first_tight.exit_reason == "trailing"
    assert first_tight.exit_time is not None and first_default.exit_time is not None
    assert first_tight.exit_time < first_default.exit_time
