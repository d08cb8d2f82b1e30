"""The candle feed of a simulated exchange (paper trading and the exchange-mode backtest)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.core.domain.clock import SettableClock
from apps.exchange.domain.events import OrderFilled
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import Candle, OrderRequest, OrderType, Side, datetime_to_ms
from apps.trading.domain.candle_feed import candles_feed, feed_from
from tests.exchange.domain.conftest import btc_info

HOUR = timedelta(hours=1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _candles() -> list[Candle]:
    """Four 1h candles; only the third one trades down to 41,000."""
    rows = [(42000, 42100, 41900, 42050), (42050, 42200, 41950, 42100),
            (42100, 42150, 40900, 41100), (41100, 41500, 41050, 41400)]  # fmt: skip
    return [
        Candle(T0 + i * HOUR, *(Decimal(p) for p in row), Decimal(1000), T0 + (i + 1) * HOUR)
        for i, row in enumerate(rows)
    ]


def _between(candles: Sequence[Candle], first: int, decided: int) -> list[Candle]:
    """What the ``Kline`` query of paper trading returns: open time in [first, decided]."""
    return [c for c in candles if first <= datetime_to_ms(c.open_time) <= decided]


def test_feed_starts_at_the_decided_candle_then_feeds_each_unseen_candle_once() -> None:
    candles = _candles()
    clock = SettableClock(T0)
    exchange = SimulatedExchange([btc_info()], clock=clock, balance=Decimal(10_000), seed=1)
    fed: dict[str, int] = {}

    def cycle(decided: Candle) -> list[object]:
        at = datetime_to_ms(decided.open_time)
        first = feed_from(fed=fed, symbol="BTCUSDT", decided=at)
        return list(
            candles_feed(
                exchange=exchange,
                clock=clock,
                fed=fed,
                symbol="BTCUSDT",
                candles=_between(candles, first, at),
                step=HOUR,
            )
        )

    # First cycle at the second candle: the exchange starts there, the first is never fed.
    assert cycle(candles[1]) == []
    assert fed == {"BTCUSDT": datetime_to_ms(candles[1].open_time)}
    assert clock() == candles[1].close_time
    buy = asyncio.run(
        exchange.place_order(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"), Decimal(41000))
        )
    )

    # Two cycles later: the third and fourth candles are fed; the limit fills in the third,
    # at its close time (the clock moves candle by candle), though the fourth is the decided one.
    events = cycle(candles[3])
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [(f.order.client_order_id, f.fill.price) for f in fills] == [
        (buy.client_order_id, Decimal(41000))
    ]
    assert fills[0].time == candles[2].close_time
    assert clock() == candles[3].close_time
    assert fed == {"BTCUSDT": datetime_to_ms(candles[3].open_time)}

    # The same candle decided again (a retried cycle) feeds nothing: no fill twice.
    assert cycle(candles[3]) == []
    assert clock() == candles[3].close_time
