"""`SimulatedExchange`: the Exchange protocol over pushed-in market data, for paper and backtests.

Pure and deterministic: no clock of its own (an injected `clock` stamps API actions and fills),
no I/O, randomness only in the depth model and seeded from `seed`. The caller drives it:

    ex = SimulatedExchange([info], clock=clock, balance=Decimal(10_000), funding_rates={...})
    ex.on_candle("BTCUSDT", candle)      # settles funding, then runs the candle's price path
    ex.set_book("BTCUSDT", book)         # optional real snapshot for market orders
    await ex.place_market_order("BTCUSDT", Side.BUY, Decimal("0.01"))

Semantics (see `book.py` for the depth model and the in-candle path, `orders.py` for triggers,
`ledger.py` for margin and PnL):
- MARKET orders and the taking part of LIMIT orders walk the current book: the snapshot from
  `set_book` if one was pushed after the last candle, else the synthetic book around the last
  close. Taker fee. An unfilled remainder of a MARKET order expires.
- LIMIT GTC rests and fills whole at its price when a later candle trades through it (maker
  fee). IOC takes what is there and expires the rest, FOK expires unless it fills whole, GTX
  that would take is rejected (`PostOnlyRejectedError`).
- STOP_MARKET / TAKE_PROFIT_MARKET / TRAILING_STOP_MARKET trigger on the candle path and fill
  by walking a synthetic book around the trigger level (so at the trigger or worse); a gap
  fills them around the open. Placing one that would trigger at once raises
  `WouldTriggerError`.
- Reduce-only orders are rejected when they would open or increase a position, and are cut to
  the position size when they execute (expired if it is flat by then).
- Client order ids are unique for the life of the exchange (stricter than Binance, which only
  checks open orders): a replayed intent can never be placed twice.
- Funding: at each time of the symbol's funding series that falls in
  (previous candle open, this candle open], the position pays `qty * open * rate` (longs pay a
  positive rate, shorts receive it), before the candle's path runs.
- Liquidation: when the path reaches the liquidation price the position is closed there and
  the remaining maintenance margin is charged as a clearance fee (see `ledger.py`); the
  symbol's open orders are canceled.
- One-way mode only; `set_position_mode(hedge=True)` is rejected.
- Mark price = index price = the last trade price (the candle path); there is no separate
  mark series, so triggers and liquidation use trade prices.
- Time: API actions and fills are stamped with `clock()` (drive it to the candle's close
  before `on_candle`); funding events carry their funding time.
- Events (`events` list, and every `subscribe`d callback, in order): `OrderUpdated` when an
  order is accepted and when it is canceled or expires, `OrderFilled` per execution (with the
  order's state after it), `FundingFeeCharged`, `PositionLiquidated`.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from ..errors import (
    InvalidOrderError,
    OrderNotFoundError,
)
from ..events import ExchangeEvent
from ..fees import DEFAULT_FEES, FeeSchedule
from ..protocol import OrderHelpers
from ..types import (
    ZERO,
    Balance,
    BookLevel,
    BookTicker,
    Candle,
    Clock,
    Fill,
    FundingRate,
    InstrumentInfo,
    MarginType,
    MarkPrice,
    OrderBook,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    PositionInfo,
    Side,
    Ticker,
)
from .book import DepthModel
from .engine import CandleEngine
from .ledger import Ledger
from .orders import SimOrder


class SimulatedExchange(CandleEngine, OrderHelpers):
    def __init__(
        self,
        instruments: Iterable[InstrumentInfo],
        *,
        clock: Clock,
        balance: Decimal = Decimal(10_000),
        asset: str = "USDT",
        fees: FeeSchedule | None = None,
        depth: DepthModel | None = None,
        seed: int = 0,
        funding_rates: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
        maintenance_margin_rate: Decimal = Decimal("0.004"),
        default_leverage: int = 20,
        fill_on_touch: bool = False,
        max_callback_rate: Decimal = Decimal(20),  # Binance: 10 until 2026-10-23, then 20
        keep_candles: int = 1500,
        on_event: Callable[[ExchangeEvent], None] | None = None,
    ) -> None:
        self._instruments = {i.symbol: i for i in instruments}
        self._clock = clock
        self.asset = asset
        self.fees = DEFAULT_FEES if fees is None else fees
        self.depth = depth or DepthModel()
        self.seed = seed
        self.fill_on_touch = fill_on_touch
        self.max_callback_rate = max_callback_rate
        self.keep_candles = keep_candles
        self.ledger = Ledger(
            wallet=balance,
            maintenance_margin_rate=maintenance_margin_rate,
            default_leverage=default_leverage,
        )
        self.events: list[ExchangeEvent] = []
        self._listeners: list[Callable[[ExchangeEvent], None]] = [on_event] if on_event else []
        self._orders: dict[str, SimOrder] = {}
        self._open_orders: dict[str, SimOrder] = {}
        self._auto_ids = itertools.count(1)
        self._fills: dict[str, list[Fill]] = defaultdict(list)
        self._candles: dict[str, list[Candle]] = defaultdict(list)
        self._last: dict[str, Decimal] = {}
        self._books: dict[str, OrderBook] = {}
        self._funding: dict[str, list[tuple[datetime, Decimal]]] = {}
        self._seq = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._algo_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        for symbol, series in (funding_rates or {}).items():
            self.set_funding_rates(symbol, series)

    # --- driver API (synchronous: the caller feeds market data) -----------------------------
    def set_book(self, symbol: str, book: OrderBook) -> None:
        """Use `book` for market orders on `symbol` until the next candle or snapshot."""
        self._instrument(symbol)
        self._books[symbol] = book

    def set_funding_rates(self, symbol: str, series: Iterable[tuple[datetime, Decimal]]) -> None:
        """Hand in the symbol's funding series: (funding time, rate per interval)."""
        self._funding[symbol] = sorted((t, Decimal(r)) for t, r in series)

    def subscribe(self, callback: Callable[[ExchangeEvent], None]) -> None:
        self._listeners.append(callback)

    def last_price(self, symbol: str) -> Decimal | None:
        return self._last.get(symbol)

    def equity(self) -> Decimal:
        """Wallet balance plus unrealized PnL at the last prices: the `balances()` entry's
        `wallet_balance + unrealized_pnl`, without working out the available balance."""
        return self.ledger.wallet + self.ledger.unrealized(self._last)

    # --- protocol: market data ---------------------------------------------------------------
    async def exchange_info(self) -> Mapping[str, InstrumentInfo]:
        return dict(self._instruments)

    async def instrument(self, symbol: str) -> InstrumentInfo:
        return self._instrument(symbol)

    async def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        """Return candles fed with `on_candle` (the last `keep_candles` at least; `interval` is
        not checked: the simulator holds one series per symbol)."""
        self._instrument(symbol)
        rows = [
            c
            for c in self._candles[symbol]
            if (start is None or c.open_time >= start) and (end is None or c.open_time <= end)
        ]
        return rows[:limit] if start is not None else rows[-limit:]

    async def get_orderbook(self, symbol: str, limit: int = 20) -> OrderBook:
        book = self._book(symbol)
        return OrderBook(book.symbol, book.bids[:limit], book.asks[:limit], book.time)

    async def get_ticker(self, symbol: str) -> Ticker:
        return Ticker(symbol, self._require_price(symbol), self._clock())

    async def get_book_ticker(self, symbol: str) -> BookTicker:
        book = self._book(symbol)
        bid = book.bids[0] if book.bids else BookLevel(ZERO, ZERO)
        ask = book.asks[0] if book.asks else BookLevel(ZERO, ZERO)
        return BookTicker(symbol, bid.price, bid.qty, ask.price, ask.qty, self._clock())

    async def get_mark_price(self, symbol: str) -> MarkPrice:
        price = self._require_price(symbol)
        now = self._clock()
        series = self._funding.get(symbol, [])
        due = bisect.bisect_right(series, now, key=_funding_time)  # (the series is sorted)
        rate = series[due - 1][1] if due else ZERO
        upcoming = series[due][0] if due < len(series) else None
        if upcoming is None:
            hours = (now.hour // 8 + 1) * 8
            upcoming = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
                hours=hours
            )
        return MarkPrice(symbol, price, price, rate, upcoming, now)

    async def funding_history(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[FundingRate]:
        """Return the handed-in series up to now (the future part stays hidden)."""
        now = self._clock()
        rows = [
            FundingRate(symbol, r, t)
            for t, r in self._funding.get(symbol, [])
            if t <= now and (start is None or t >= start) and (end is None or t <= end)
        ]
        return rows[:limit] if start is not None else rows[-limit:]

    # --- protocol: account -------------------------------------------------------------------
    async def balances(self) -> list[Balance]:
        marks = dict(self._last)
        return [
            Balance(
                self.asset,
                wallet_balance=self.ledger.wallet,
                available_balance=self.ledger.available(marks, self._order_margin()),
                unrealized_pnl=self.ledger.unrealized(marks),
            )
        ]

    async def positions(self, symbol: str | None = None) -> list[PositionInfo]:
        out = []
        for sym, pos in sorted(self.ledger.positions.items()):
            if not pos.qty or (symbol is not None and sym != symbol):
                continue
            mark = self._last.get(sym, pos.entry)
            out.append(
                PositionInfo(
                    symbol=sym,
                    quantity=pos.qty,
                    entry_price=pos.entry,
                    mark_price=mark,
                    unrealized_pnl=pos.unrealized(mark),
                    leverage=pos.leverage,
                    liquidation_price=self.ledger.liquidation_price(sym, self._last),
                    margin_type=pos.margin_type,
                    isolated_margin=pos.isolated_margin,
                )
            )
        return out

    async def user_trades(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Fill]:
        rows = [
            f
            for f in self._fills.get(symbol, [])
            if (start is None or f.time >= start) and (end is None or f.time <= end)
        ]
        return rows[:limit] if start is not None else rows[-limit:]

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        info = self._instrument(symbol)
        if not 1 <= leverage <= info.max_leverage:
            raise InvalidOrderError(
                f"{symbol}: leverage {leverage} outside 1..{info.max_leverage}", code=-4028
            )
        self.ledger.position(symbol).leverage = leverage
        return leverage

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        self._instrument(symbol)
        pos = self.ledger.position(symbol)
        if pos.margin_type is MarginType(margin_type):
            return
        if pos.qty or any(o.symbol == symbol for o in self._open()):
            raise InvalidOrderError(
                f"{symbol}: margin type cannot change with a position or open orders", code=-4048
            )
        pos.margin_type = MarginType(margin_type)

    async def set_position_mode(self, hedge: bool) -> None:
        if hedge:
            raise InvalidOrderError("simulated exchange supports one-way mode only", code=-4061)

    # --- protocol: orders ------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderReport:
        return self._place(request)

    async def close_position(
        self, symbol: str, client_order_id: str | None = None
    ) -> OrderReport | None:
        pos = self.ledger.position(symbol)
        if not pos.qty:
            return None
        side = Side.SELL if pos.qty > 0 else Side.BUY
        return self._place(
            OrderRequest(
                symbol=symbol,
                side=side,
                type=OrderType.MARKET,
                quantity=abs(pos.qty),
                reduce_only=True,
                client_order_id=client_order_id,
            )
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        order = self._orders.get(client_order_id)
        if order is None or order.symbol != symbol or not order.status.is_open:
            raise OrderNotFoundError(f"{symbol}: no open order {client_order_id}", code=-2011)
        self._finish(order, OrderStatus.CANCELED)
        return order.report()

    async def get_order(self, symbol: str, client_order_id: str) -> OrderReport:
        order = self._orders.get(client_order_id)
        if order is None or order.symbol != symbol:
            raise OrderNotFoundError(f"{symbol}: order {client_order_id} does not exist")
        return order.report()

    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        return [o.report() for o in self._open(symbol)]

    async def cancel_all(self, symbol: str) -> None:
        self._instrument(symbol)
        for order in self._open(symbol):
            self._finish(order, OrderStatus.CANCELED)


def _funding_time(entry: tuple[datetime, Decimal]) -> datetime:
    return entry[0]
