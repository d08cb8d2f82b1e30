"""The store contract: the runner's operations give the same records in both stores.

One bot's cycles run twice through ``CycleRunner`` over the same real candles, the same
simulated exchange (same seed, balance and leverage), the same market readings and the same
scripted decisions: once on the database store (``DbStore``: the order services, ``Order``,
``Fill``, ``Trade``, ``Position``, ``Signal`` rows) and once on the in-memory store of the
exchange-mode backtests (``Ledger``). Every order, trade, position, signal and cycle outcome
must be the same, every price, quantity, fee and PnL as a Decimal. (``test_parity.py`` checks
the whole paths end to end: the scheduler's replay against ``run_exchange_backtest``.)
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from apps.backtest.exchange_mode.domain.loop import SimMarket
from apps.backtest.exchange_mode.domain.market import Series, candles_from_rows
from apps.backtest.exchange_mode.domain.records import Ledger
from apps.core.domain.clock import SettableClock
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import Candle, datetime_to_ms
from apps.exchange.models import Instrument
from apps.orders.models import Order
from apps.risk.models import RiskSettings
from apps.strategies.domain.base import Action, Decision, PositionView
from apps.strategies.domain.ema_cross import EmaCross
from apps.trading.domain.runner import CycleRunner
from apps.trading.engine.context import bot_profile
from apps.trading.engine.store import DbStore
from apps.trading.models import Position, Signal, Trade
from apps.trading.paper import instrument_info
from tests.factories import make_ema_paper_bot

pytestmark = pytest.mark.django_db

TRADE_FIELDS = (
    "symbol", "side", "mode", "status", "leverage", "entry_time", "exit_time", "entry_price",
    "exit_price", "quantity", "remaining_quantity", "exit_reason", "fees", "funding",
    "realized_pnl", "roi",
)  # fmt: skip
ORDER_FIELDS = (
    "client_order_id", "symbol", "purpose", "type", "side", "status", "trigger_price",
    "quantity", "filled_quantity",
)  # fmt: skip
HOUR = timedelta(hours=1)


def _await(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the simulated exchange suspended")


class _Venue:
    """A simulated exchange fed one candle per cycle, its events applied to ``apply``."""

    def __init__(self, info: Any, candles: list[Candle], apply: Callable[[list[Any]], set[str]]):
        self.clock = SettableClock(candles[0].close_time)
        self.exchange = SimulatedExchange([info], clock=self.clock, seed=7, default_leverage=3)
        self.candles = {datetime_to_ms(c.open_time): c for c in candles}
        self.apply = apply

    def mark(self) -> int:
        return len(self.exchange.events)

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]:
        start = len(self.exchange.events)
        candle = self.candles[open_time]
        self.clock.set(candle.close_time)
        self.exchange.on_candle(symbol, candle)
        return self.apply(self.exchange.events[start:])

    def after_place(self, *, order: Any, report: Any, mark: int) -> None:
        self.apply(self.exchange.events[mark:])

    def equity(self) -> Decimal:
        return self.exchange.equity()


def _script(symbol: str, candles: list[Candle]) -> Callable[..., Decision | None]:
    """Enter every 24 candles (long, then short), exit 4 candles later if still in."""
    index = {datetime_to_ms(c.open_time): i for i, c in enumerate(candles)}

    def decide(sym: str, open_time: int, position: PositionView | None, equity: Decimal):
        i = index[open_time]
        close = candles[i].close
        if position is None and i % 24 == 3:
            long = (i // 24) % 2 == 0
            return Decision(
                Action.ENTER_LONG if long else Action.ENTER_SHORT,
                i,
                open_time,
                close,
                stop_price=close * (Decimal("0.985") if long else Decimal("1.015")),
            )
        if position is not None and i % 24 == 7:
            action = Action.EXIT_LONG if position.side.value == "BUY" else Action.EXIT_SHORT
            return Decision(action, i, open_time, close, reason="scripted exit")
        return None

    return decide


def _run(store: Any, apply: Callable[[list[Any]], set[str]], bot: Any, candles: list[Candle]):
    info = instrument_info(Instrument.objects.get(symbol="BTCUSDT"))
    venue = _Venue(info, candles, apply)
    profile = bot_profile(bot, RiskSettings.objects.get(bot=bot))
    series = Series.of("BTCUSDT", "1h", candles)
    runner = CycleRunner(
        profile=profile,
        symbols=("BTCUSDT",),
        store=store,
        venue=venue,
        market=SimMarket({"BTCUSDT": series}),
        instruments=lambda symbol: info,
        run=_await,
        now=candles[0].close_time,
    )
    strategy = EmaCross({})
    decide = _script("BTCUSDT", candles)
    outcomes = []
    for i, candle in enumerate(candles[110:], start=110):
        runner.now = candle.close_time
        step = runner.cycle(
            "BTCUSDT",
            datetime_to_ms(candle.open_time),
            interval="1h",
            candle=candle,
            decide=decide,
            configure=lambda equity: profile.cycle_config(equity, strategy=strategy),
            window=lambda symbol, open_time, i=i: series.klines.slice(i - 99, i + 1),
        )
        outcomes.append(step.kind)
        venue.exchange.events.clear()
    return outcomes


def test_database_and_memory_stores_record_the_same_cycles(shared_data) -> None:
    path = shared_data / "futures" / "BTCUSDT-1h.csv.gz"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with gzip.open(path, "rt") as handle:
        candles = candles_from_rows(
            csv.DictReader(handle),
            "1h",
            datetime_to_ms(start - 110 * HOUR),
            datetime_to_ms(start + 110 * HOUR),
        )
    bot = make_ema_paper_bot("contract", account="paper-contract", symbols=("BTCUSDT",))
    bot.refresh_from_db()

    db = DbStore(bot)
    db_outcomes = _run(db, db.apply_events, bot, candles)
    ledger = Ledger(leverage=bot.leverage, mode=bot.strategy.mode, bot_key=f"b{bot.pk}")
    memory_outcomes = _run(ledger, ledger.apply_events, bot, candles)

    assert db_outcomes == memory_outcomes
    assert {"enter", "exit"} <= set(db_outcomes), db_outcomes
    db_orders = [
        {f: getattr(o, f) for f in ORDER_FIELDS}
        for o in Order.objects.filter(bot=bot).order_by("id")
    ]
    mem_orders = [
        {f: getattr(o, f) for f in ORDER_FIELDS}
        for o in sorted(ledger.orders.values(), key=lambda o: o.sequence)
    ]
    assert db_orders == mem_orders
    assert {o["purpose"] for o in db_orders} >= {"entry", "stop_loss", "take_profit", "exit"}
    db_trades = [
        {f: getattr(t, f) for f in TRADE_FIELDS}
        for t in Trade.objects.filter(bot=bot).order_by("entry_time", "id")
    ]
    mem_trades = [
        {f: getattr(t, f) for f in TRADE_FIELDS}
        for t in sorted(ledger.trades, key=lambda t: (t.entry_time, t.number))
    ]
    assert len(db_trades) >= 3 and db_trades == mem_trades
    assert {t["exit_reason"] for t in db_trades} >= {"signal"}
    position_fields = ("symbol", "quantity", "side", "entry_price", "stop_price")
    db_positions = [
        {f: getattr(p, f) for f in position_fields} for p in Position.objects.filter(bot=bot)
    ]
    mem_positions = [{f: getattr(p, f) for f in position_fields} for p in ledger.positions.values()]
    assert db_positions == mem_positions
    signal_fields = ("symbol", "action", "outcome", "blocked_by")
    db_signals = [
        {f: getattr(s, f) for f in signal_fields}
        for s in Signal.objects.filter(bot=bot).order_by("id")
    ]
    mem_signals = [{f: getattr(s, f) for f in signal_fields} for s in ledger.signals]
    assert db_signals == mem_signals and len(db_signals) >= 6
