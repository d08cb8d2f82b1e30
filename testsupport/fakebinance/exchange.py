"""The fake exchange's state: markets, clock, account, order engines, and the events they emit.

Two clocks: ``now()`` is the server clock (wall time plus ``clock_offset_ms``) used for
timestamps, signatures and rate limits; ``market_time`` is the simulated market's clock, which
starts at the close of the last shipped 1h candle and moves only when a test advances it
(``advance_time``/``set_market_time``/``replay``). Funding is settled whenever ``market_time``
crosses 00:00, 08:00 or 16:00 UTC, at the shipped rate for that time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .accounts import Account, fmt
from .algo import AlgoEngine
from .book import SyntheticBook
from .data import INTERVAL_MS, MarketData
from .engine import OrderEngine
from .orders import AlgoOrder, Order
from .symbols import SPECS, SymbolSpec

FUNDING_INTERVAL = 8 * 3_600_000
UserSink = Callable[[dict[str, Any]], None]
MarketSink = Callable[[str, dict[str, Any] | None], None]


@dataclass
class Market:
    spec: SymbolSpec
    book: SyntheticBook
    last: Decimal = Decimal(0)
    mark: Decimal = Decimal(0)
    kline: dict[str, Any] = field(default_factory=dict)


class Exchange:
    """All state of one fake venue with one account. Not thread-safe: use from one event loop."""

    def __init__(
        self,
        *,
        data_dir: Path | str | None = None,
        seed: int = 0,
        wallet: Decimal | str = "10000",
        book_levels: int = 100,
    ) -> None:
        self.data = MarketData(data_dir)
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock_offset_ms = 0
        self.account = Account(wallet=Decimal(wallet))
        self.engine = OrderEngine(self)
        self.algos = AlgoEngine(self)
        self.user_sinks: list[UserSink] = []
        self.market_sinks: list[MarketSink] = []
        self.markets: dict[str, Market] = {}
        start = 0
        for symbol, spec in SPECS.items():
            close_time, close = self.data.last_close(symbol)
            start = max(start, close_time)
            market = Market(spec, SyntheticBook(spec, seed, levels=book_levels))
            self.markets[symbol] = market
            self._move(market, close, close)
        self.market_time = start

    # -- clocks and ids ------------------------------------------------------------------------
    def now(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def new_client_id(self) -> str:
        return "fake-" + "".join(self.rng.choice("0123456789abcdef") for _ in range(22))

    def market(self, symbol: str) -> Market:
        return self.markets[symbol]

    def spec(self, symbol: str) -> SymbolSpec:
        return self.markets[symbol].spec

    def marks(self) -> dict[str, Decimal]:
        return {s: m.mark for s, m in self.markets.items()}

    def next_funding_time(self) -> int:
        return (self.market_time // FUNDING_INTERVAL + 1) * FUNDING_INTERVAL

    # -- moving the market -------------------------------------------------------------------------
    def _move(self, market: Market, last: Decimal, mark: Decimal) -> None:
        market.last, market.mark = last, mark
        market.book.rebuild(last)

    def set_price(
        self, symbol: str, price: Decimal | str, mark: Decimal | str | None = None
    ) -> None:
        """Move ``symbol``'s last price (and mark, by default equal) and run all matching."""
        market = self.markets[symbol]
        last = Decimal(price)
        self._move(market, last, Decimal(mark) if mark is not None else last)
        self._update_kline(market, last)
        self.engine.on_price(symbol)
        self.algos.on_price(symbol)
        self.emit_market(symbol, None)

    def set_market_time(self, time_ms: int) -> None:
        """Set the market clock, settling funding for every 8h boundary crossed going forward."""
        old, self.market_time = self.market_time, time_ms
        boundary = (old // FUNDING_INTERVAL + 1) * FUNDING_INTERVAL
        while boundary <= time_ms:
            self.settle_funding(boundary)
            boundary += FUNDING_INTERVAL

    def advance_time(self, ms: int) -> None:
        self.set_market_time(self.market_time + ms)

    def settle_funding(self, funding_time: int) -> None:
        for symbol, market in self.markets.items():
            rate = self.data.funding_rate_at(symbol, funding_time)
            change = self.account.apply_funding(symbol, market.mark, rate, self.now())
            if change:
                self.emit_user(
                    {
                        "e": "ACCOUNT_UPDATE",
                        "T": self.now(),
                        "a": {
                            "m": "FUNDING_FEE",
                            "B": [self.account.balance_event(change)],
                            "P": [],
                        },
                    }
                )

    def replay(
        self, symbol: str, interval: str = "1m", start: int | None = None, count: int = 1
    ) -> list[tuple[int, str, str, str, str, str]]:
        """Replay shipped candles: for each, set the market time to its open and walk the price
        open -> low -> high -> close (bullish) or open -> high -> low -> close (bearish).

        Without ``start`` replay continues from the market clock.
        """
        candles = self.data.select(
            symbol,
            interval,
            start if start is not None else self.market_time,
            None,
            count,
            now=2**62,
        )
        step = INTERVAL_MS[interval]
        for t, o, h, lo, c, v in candles:
            self.set_market_time(t)
            path = (o, lo, h, c) if Decimal(c) >= Decimal(o) else (o, h, lo, c)
            for px in path:
                self.set_price(symbol, px)
            market = self.markets[symbol]
            market.kline = {
                "t": t,
                "T": t + step - 1,
                "i": interval,
                "o": o,
                "h": h,
                "l": lo,
                "c": c,
                "v": v,
                "x": True,
            }
            self.emit_market(symbol, market.kline)
            market.kline = {}
            self.set_market_time(t + step)
        return candles

    def _update_kline(self, market: Market, price: Decimal) -> None:
        t = self.market_time // 60_000 * 60_000
        k = market.kline
        px = market.spec.fmt_price(price)
        if not k or k["t"] != t:
            market.kline = {
                "t": t,
                "T": t + 59_999,
                "i": "1m",
                "o": px,
                "h": px,
                "l": px,
                "c": px,
                "v": "0",
                "x": False,
            }
            return
        k["h"] = px if price > Decimal(k["h"]) else k["h"]
        k["l"] = px if price < Decimal(k["l"]) else k["l"]
        k["c"] = px

    # -- events ----------------------------------------------------------------------------------
    def emit_user(self, event: dict[str, Any]) -> None:
        event.setdefault("E", self.now())
        for sink in list(self.user_sinks):
            sink(event)

    def emit_market(self, symbol: str, closed_kline: dict[str, Any] | None) -> None:
        for sink in list(self.market_sinks):
            sink(symbol, closed_kline)

    def emit_order(self, order: Order, exec_type: str, **kw: Any) -> None:
        kw.setdefault("now", self.now())
        self.emit_user(
            {"e": "ORDER_TRADE_UPDATE", "T": kw["now"], "o": order.event(exec_type, **kw)}
        )

    def emit_account(self, reason: str, symbol: str, position_side: str, change: Decimal) -> None:
        pos = self.account.position(symbol, position_side)
        mark = self.markets[symbol].mark
        self.emit_user(
            {
                "e": "ACCOUNT_UPDATE",
                "T": self.now(),
                "a": {
                    "m": reason,
                    "B": [self.account.balance_event(change)],
                    "P": [self.account.position_event(pos, mark)],
                },
            }
        )

    def emit_algo(self, algo: AlgoOrder, actual: Order | None) -> None:
        self.emit_user({"e": "ALGO_UPDATE", "T": self.now(), "o": algo.event(actual)})

    # -- market views -----------------------------------------------------------------------------
    def premium_index(self, symbol: str) -> dict[str, Any]:
        m = self.markets[symbol]
        return {
            "symbol": symbol,
            "markPrice": fmt(m.mark),
            "indexPrice": fmt(m.mark),
            "estimatedSettlePrice": fmt(m.mark),
            "lastFundingRate": fmt(self.data.funding_rate_at(symbol, self.market_time)),
            "interestRate": "0.00010000",
            "nextFundingTime": self.next_funding_time(),
            "time": self.now(),
        }
