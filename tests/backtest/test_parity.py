"""End to end: the exchange-mode backtest and the paper-trading loop (``replay``) trade alike.

Both run the one ``CycleRunner``; the stores are held to one contract by
``test_store_contract.py``. This checks the whole paths around it: one bot replays real candles
through ``replay_bot`` (the scheduler's cycles, the database store, the pickled simulated
exchange, the risk services' readings); the same bot's ``BotProfile`` then runs through
``run_exchange_backtest`` (the in-memory store, readings from the candles) over the very candles
and funding rates the replay read. Trades, orders and cycle outcomes must be identical, every
price, quantity, fee and PnL as a Decimal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db.models import Count

from apps.backtest.exchange_mode.domain import SimConfig, SimResult, run_exchange_backtest
from apps.bots.models import Bot
from apps.exchange.domain.types import Candle, ms_to_datetime
from apps.exchange.models import Instrument
from apps.market.models import FundingRate, Kline
from apps.market.selectors import interval_ms
from apps.orders.models import Order
from apps.risk.models import RiskSettings
from apps.trading.engine.context import bot_profile
from apps.trading.models import BotCycle, Trade
from apps.trading.paper import instrument_info
from apps.trading.replay import replay_bot
from tests.factories import make_ema_paper_bot

pytestmark = pytest.mark.django_db

TRADE_FIELDS = (
    "symbol",
    "side",
    "mode",
    "status",
    "leverage",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "quantity",
    "remaining_quantity",
    "exit_reason",
    "fees",
    "funding",
    "realized_pnl",
    "roi",
)
ORDER_FIELDS = (
    "client_order_id",
    "symbol",
    "purpose",
    "type",
    "side",
    "status",
    "trigger_price",
    "quantity",
    "filled_quantity",
)


def _bot(name: str, *, symbols: tuple[str, ...], trailing: str, tiers: Any = None) -> Bot:
    return make_ema_paper_bot(
        name, account="paper-parity", symbols=symbols, trailing=trailing, tiers=tiers
    )


def _candles(symbol: str, interval: str) -> list[Candle]:
    """The candles the replay had in its database, exactly as stored."""
    step = timedelta(milliseconds=interval_ms(interval))
    out = []
    for k in Kline.objects.filter(symbol=symbol, interval=interval).order_by("open_time"):
        opened = ms_to_datetime(k.open_time)
        out.append(Candle(opened, k.open, k.high, k.low, k.close, k.volume, opened + step))
    return out


def _simulate(bot: Bot, start: datetime, end: datetime) -> SimResult:
    """The exchange-mode backtest of the replay's bot over the replay's data."""
    risk = RiskSettings.objects.get(bot=bot)
    interval = bot.strategy.timeframe
    config = SimConfig(
        profile=bot_profile(bot, risk),
        symbols=tuple(bot.symbols),
        timeframe=interval,
        instruments={s: instrument_info(Instrument.objects.get(symbol=s)) for s in bot.symbols},
        balance=bot.account.paper_starting_balance,
        seed=bot.pk,
        start=start,
        end=end,
    )
    symbols = {*bot.symbols, "BTCUSDT"}
    return run_exchange_backtest(
        config,
        {s: _candles(s, interval) for s in bot.symbols},
        {
            s: [
                (ms_to_datetime(t), r)
                for t, r in FundingRate.objects.filter(symbol=s)
                .order_by("funding_time")
                .values_list("funding_time", "rate")
            ]
            for s in bot.symbols
        },
        hourly={s: _candles(s, "1h") for s in symbols},
    )


def _replay_and_simulate(
    bot: Bot, start: datetime, hours: int, shared_data
) -> tuple[Bot, SimResult]:
    cache.clear()  # the risk services' cache: nothing from another test's replay
    end = start + timedelta(hours=hours)
    summary = replay_bot(bot=bot, start=start, end=end, label="p", data_dir=shared_data)
    copy = Bot.objects.select_related("strategy", "account").get(name=summary.bot)
    return copy, _simulate(copy, start, end)


def _db_trades(bot: Bot) -> list[dict[str, Any]]:
    rows = Trade.objects.filter(bot=bot).order_by("entry_time", "id")
    return [{f: getattr(t, f) for f in TRADE_FIELDS} for t in rows]


def _sim_trades(result: SimResult) -> list[dict[str, Any]]:
    return [{f: getattr(t, f) for f in TRADE_FIELDS} for t in result.trades]


def _db_orders(bot: Bot) -> list[dict[str, Any]]:
    rows = Order.objects.filter(bot=bot).order_by("id")
    return [{f: getattr(o, f) for f in ORDER_FIELDS} for o in rows]


def _sim_orders(result: SimResult) -> list[dict[str, Any]]:
    return [{f: getattr(o, f) for f in ORDER_FIELDS} for o in result.orders]


def _assert_same(bot: Bot, result: SimResult) -> None:
    replayed, simulated = _db_trades(bot), _sim_trades(result)
    assert len(replayed) == len(simulated), (len(replayed), len(simulated))
    for i, (a, b) in enumerate(zip(replayed, simulated, strict=True)):
        assert a == b, f"trade {i} differs:\n replay {a}\n sim    {b}"
    for a, b in zip(_db_orders(bot), _sim_orders(result), strict=True):
        assert a == b, f"order differs:\n replay {a}\n sim    {b}"
    outcomes = dict(BotCycle.objects.filter(bot=bot).values_list("outcome").annotate(n=Count("id")))
    assert outcomes == result.outcomes


def test_exchange_backtest_with_two_symbols_trades_exactly_like_the_paper_replay(
    shared_data,
) -> None:
    """Nine days of BTCUSDT and ETHUSDT 1h (432 cycles): partial take-profits, break-even,
    the managed trailing stop, CryptoVIX sizing, the correlation gate and funding."""
    bot = _bot("parity-two", symbols=("BTCUSDT", "ETHUSDT"), trailing="managed")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    copy, result = _replay_and_simulate(bot, start, 24 * 9, shared_data)
    trades = _db_trades(copy)
    assert len(trades) >= 5, trades
    assert {t["symbol"] for t in trades} == {"BTCUSDT", "ETHUSDT"}
    assert {t["exit_reason"] for t in trades} >= {"stop_loss", "trailing"}
    assert any(t["funding"] != 0 for t in trades)
    assert result.outcomes.get("blocked")  # the correlation gate spoke at least once
    assert any(o.purpose == "take_profit" and o.status == "FILLED" for o in result.orders)
    _assert_same(copy, result)
    assert result.metrics is not None and result.metrics.n_trades == len(result.closed_trades)
    assert all(isinstance(t.fees, Decimal) for t in result.trades)


def test_exchange_backtest_with_native_trailing_and_breaker_halt_trades_like_the_replay(
    shared_data,
) -> None:
    """BTCUSDT with the venue's trailing stop and a circuit breaker that halts entries."""
    tiers = [{"name": "t", "window_minutes": 4320, "loss_limit": "20", "action": "halt"}]
    bot = _bot("parity-native", symbols=("BTCUSDT",), trailing="native", tiers=tiers)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    copy, result = _replay_and_simulate(bot, start, 24 * 8, shared_data)
    trades = _db_trades(copy)
    assert len(trades) >= 3, trades
    assert any(o.type == "TRAILING_STOP_MARKET" for o in result.orders)
    assert {t["exit_reason"] for t in trades} >= {"trailing", "signal"}
    assert result.outcomes.get("blocked")  # entries halted by the breaker tier
    _assert_same(copy, result)


def test_backtest_sim_command_with_a_bot_prints_its_exchange_mode_trades(shared_data) -> None:
    from io import StringIO

    from django.core.management import call_command

    bot = _bot("parity-cmd", symbols=("BTCUSDT",), trailing="managed")
    out = StringIO()
    call_command(
        "backtest_sim",
        bot=bot.name,
        start="2024-01-01",
        end="2024-01-09",
        data_dir=shared_data / "futures",
        trades=True,
        stdout=out,
    )
    text = out.getvalue()
    assert "exchange-mode backtest of parity-cmd" in text and "192 cycles" in text, text
    assert "BTCUSDT LONG  2024-01-01 09:00" in text, text
    assert not Trade.objects.filter(bot=bot).exists()  # nothing written
