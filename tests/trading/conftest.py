"""Fixtures of the trading tests: a live (testnet) bot on the fake Binance server."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

import apps.trading.engine.cycle as engine_cycle
from apps.bots.models import Bot
from apps.strategies.domain.base import Action, Decision
from apps.strategies.domain.registry import build_strategy
from apps.strategies.models import Strategy
from apps.trading.replay import ensure_klines
from tests.factories import make_fake_live_bot, make_instruments
from testsupport.fakebinance.testing import FakeInThread

KEY, SECRET = "fake-key", "fake-secret"
LAST = int(datetime(2025, 9, 30, 23, tzinfo=UTC).timestamp() * 1000)  # the fake's last candle


class EnterLongNow:
    """Wraps the real ema_cross strategy but enters long on the decided candle: the signal
    logic is tested elsewhere, this test is about the live execution path."""

    def __init__(self) -> None:
        self.inner = build_strategy("ema_cross", {})
        self.warmup_candles = self.inner.warmup_candles
        self.min_candles = self.inner.min_candles

    def decide(self, candles, position=None):
        if position is not None:
            return None
        close = Decimal(repr(float(candles.close[-1])))
        return Decision(
            Action.ENTER_LONG,
            len(candles.close) - 1,
            int(candles.open_time[-1]),
            close,
            stop_price=(close * Decimal("0.97")).quantize(Decimal("0.1")),
            reason="test entry",
        )


@pytest.fixture
def fake():
    with FakeInThread(api_key=KEY, api_secret=SECRET) as fb:
        yield fb


@pytest.fixture
def live_bot(fake, shared_data, monkeypatch) -> Bot:
    make_instruments()
    ensure_klines(
        symbol="BTCUSDT",
        interval="1h",
        start=datetime(2025, 8, 1, tzinfo=UTC),
        end=datetime(2025, 10, 1, tzinfo=UTC),
        data_dir=shared_data,
    )
    strategy = Strategy.objects.create(name="ema-live", kind="ema_cross", timeframe="1h")
    bot = make_fake_live_bot(fake, name="live-btc", strategy=strategy, key=KEY, secret=SECRET)
    monkeypatch.setattr(engine_cycle, "build_strategy", lambda kind, params, **_: EnterLongNow())
    return bot
