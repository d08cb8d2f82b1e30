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
from .tape import Tape, avg_trade_notional

FUNDING_INTERVAL = 8 * 3_600_000
INTEREST_RATE = Decimal("0.0001")  # Binance's USDⓈ-M interest rate: 0.01 % per 8 h
UserSink = Callable[[dict[str, Any]], None]
MarketSink = Callable[[str, dict[str, Any] | None], None]


@dataclass
class Market:
    spec: SymbolSpec
    book: SyntheticBook
    last: Decimal = Decimal(0)
    mark: Decimal = Decimal(0)
    kline: dict[str, Any] = field(default_factory=dict)
    last_qty: Decimal = Decimal(0)  # size of the last trade printed (24hr ticker "lastQty")


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
        self.tape = Tape(self.data)
        self._next_trade: dict[str, int] = {}  # per symbol: the next trade id (see tape.py)
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
        # the account was funded when the fake opened (Binance: the last balance change)
        self.account.update_time = self.now()

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

    def next_trade_id(self, symbol: str) -> int:
        """Return a new trade id for ``symbol``: the running count of the tape at the market
        clock, never reused and never decreasing (see tape.py)."""
        tape_id = self.tape.ids_before(symbol, self.market_time, "1m")
        trade_id = max(self._next_trade.get(symbol, 0), tape_id)
        self._next_trade[symbol] = trade_id + 1
        return trade_id

    def last_trade_qty(self, symbol: str) -> Decimal:
        """Return the size of the last trade printed on ``symbol`` (an average trade before any)."""
        market = self.markets[symbol]
        return market.last_qty or self.print_size(market.spec, market.last)

    def mark_at(self, symbol: str, time_ms: int) -> Decimal:
        """Return the mark price at ``time_ms``: the close of the shipped 1h candle ending then
        (the current mark where none is shipped)."""
        try:
            rows = self.data.select(symbol, "1h", time_ms - 3_600_000, time_ms - 1, 1, time_ms)
        except KeyError:
            rows = []
        return Decimal(rows[0][4]) if rows else self.markets[symbol].mark

    @staticmethod
    def print_size(spec: SymbolSpec, price: Decimal) -> Decimal:
        """Return the size of one average market trade at ``price`` (at least one step)."""
        if price <= 0:
            return spec.min_qty
        size = spec.round_qty_down(Decimal(str(avg_trade_notional(spec.symbol))) / price)
        return max(size, spec.min_qty)

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
        last, prev = Decimal(price), market.last
        self._move(market, last, Decimal(mark) if mark is not None else last)
        # the move is one market trade of average size, bought by the taker on an up-tick
        self.print_trade(symbol, last, self.print_size(market.spec, last), last >= prev)
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
        for row in candles:
            t, o, h, lo, c, v = row
            self.set_market_time(t)
            path = (o, lo, h, c) if Decimal(c) >= Decimal(o) else (o, h, lo, c)
            for px in path:
                self.set_price(symbol, px)
            market = self.markets[symbol]
            st = self.tape.stats(symbol, interval, row)
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
                "f": st.first_id,
                "L": st.last_id,
                "n": st.count,
                "q": f"{st.quote:f}",
                "V": f"{st.taker_base:f}",
                "Q": f"{st.taker_quote:f}",
            }
            self.emit_market(symbol, market.kline)
            market.kline = {}
            self.set_market_time(t + step)
        return candles

    def print_trade(self, symbol: str, price: Decimal, qty: Decimal, taker_buy: bool) -> int:
        """Print one trade on ``symbol`` into the live 1m candle; return its trade id."""
        market = self.markets[symbol]
        trade_id = self.next_trade_id(symbol)
        market.last_qty = qty
        t = self.market_time // 60_000 * 60_000
        k = market.kline
        px = market.spec.fmt_price(price)
        if not k or k["t"] != t or k["x"]:
            k = market.kline = {
                "t": t,
                "T": t + 59_999,
                "i": "1m",
                "o": px,
                "h": px,
                "l": px,
                "c": px,
                "v": Decimal(0),
                "x": False,
                "f": trade_id,
                "L": trade_id,
                "n": 0,
                "q": Decimal(0),
                "V": Decimal(0),
                "Q": Decimal(0),
            }
        k["h"] = px if price > Decimal(k["h"]) else k["h"]
        k["l"] = px if price < Decimal(k["l"]) else k["l"]
        k["c"] = market.spec.fmt_price(market.last)
        k["L"], k["n"] = trade_id, k["n"] + 1
        k["v"] += qty
        k["q"] += qty * price
        if taker_buy:
            k["V"] += qty
            k["Q"] += qty * price
        return trade_id

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
        for o in self.engine.open_orders(order.symbol):
            side = "bids" if o.side == "BUY" else "asks"
            kw[side] = kw.get(side, Decimal(0)) + o.remaining * o.price
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
        rate = self.data.funding_rate_at(symbol, self.market_time)
        # funding = premium + clamp(interest - premium, +-0.05 %), so inside the clamp the
        # premium of the mark over the index is about rate - interest
        index = m.mark / (1 + rate - INTEREST_RATE)
        return {
            "symbol": symbol,
            "markPrice": fmt(m.mark),
            "indexPrice": fmt(index),
            "estimatedSettlePrice": fmt(index),  # tracks the index between settlements
            "lastFundingRate": fmt(rate),
            "interestRate": fmt(INTEREST_RATE),
            "nextFundingTime": self.next_funding_time(),
            "time": self.now(),
        }
