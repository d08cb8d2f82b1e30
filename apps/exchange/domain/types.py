"""Value types of the exchange kernel.

Conventions:
- Prices, quantities, balances, fees and PnL are `Decimal`, never float.
- Times are timezone-aware UTC `datetime`s. Binance's integer milliseconds are converted at the
  adapter edge with `ms_to_datetime` / `datetime_to_ms`; nothing in the kernel carries raw ms.
- Quantities on orders are unsigned; a position's `quantity` is signed (long > 0, short < 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

Clock = Callable[[], datetime]
"""An injected clock: returns the current UTC-aware time."""

ZERO = Decimal(0)


def ms_to_datetime(ms: int | str) -> datetime:
    """Convert Binance epoch milliseconds to a UTC-aware datetime."""
    ms = int(ms)
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)


def datetime_to_ms(moment: datetime) -> int:
    """Convert a UTC-aware datetime to Binance epoch milliseconds; raise ValueError if naive."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the kernel only accepts UTC-aware times")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def require_utc(moment: datetime, what: str = "time") -> datetime:
    """Return `moment` if it is timezone-aware; raise ValueError otherwise."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a UTC-aware datetime, got naive {moment!r}")
    return moment


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the direction a fill moves a one-way position."""
        return 1 if self is Side.BUY else -1


class PositionSide(StrEnum):
    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    @property
    def is_conditional(self) -> bool:
        """True for the types Binance routes to the Algo Order API."""
        return self in _CONDITIONAL_TYPES


_CONDITIONAL_TYPES = frozenset(
    {OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET, OrderType.TRAILING_STOP_MARKET}
)


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

    @property
    def is_final(self) -> bool:
        return not self.is_open


class MarginType(StrEnum):
    ISOLATED = "ISOLATED"
    CROSSED = "CROSSED"


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """One tradable symbol and its filters (Binance exchangeInfo `symbols[]` entry)."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    market_step_size: Decimal
    min_notional: Decimal
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO  # 0 = no maximum, as on Binance
    price_precision: int = 8
    quantity_precision: int = 8
    max_leverage: int = 125
    status: str = "TRADING"
    multiplier_up: Decimal | None = None
    multiplier_down: Decimal | None = None

    @property
    def is_trading(self) -> bool:
        return self.status == "TRADING"

    @classmethod
    def from_binance(cls, entry: Mapping[str, Any], *, max_leverage: int = 125) -> InstrumentInfo:
        """Parse one `symbols[]` entry of GET /fapi/v1/exchangeInfo.

        `max_leverage` is not part of exchangeInfo (it comes from the leverage brackets), so it is
        passed in. Raise ValueError naming the symbol if a required filter is missing.
        """
        symbol = str(entry.get("symbol", "?"))
        filters = {f["filterType"]: f for f in entry.get("filters", ())}

        def need(kind: str, key: str) -> Decimal:
            try:
                return Decimal(str(filters[kind][key]))
            except KeyError as exc:
                raise ValueError(f"{symbol}: exchangeInfo lacks {kind}.{key}") from exc

        lot_min = need("LOT_SIZE", "minQty")
        lot_max = need("LOT_SIZE", "maxQty")
        lot_step = need("LOT_SIZE", "stepSize")
        market = filters.get("MARKET_LOT_SIZE", {})
        notional = filters.get("MIN_NOTIONAL", {})
        percent = filters.get("PERCENT_PRICE")
        return cls(
            symbol=symbol,
            base_asset=str(entry.get("baseAsset", "")),
            quote_asset=str(entry.get("quoteAsset", "")),
            tick_size=need("PRICE_FILTER", "tickSize"),
            min_price=need("PRICE_FILTER", "minPrice"),
            max_price=need("PRICE_FILTER", "maxPrice"),
            step_size=lot_step,
            min_qty=lot_min,
            max_qty=lot_max,
            market_min_qty=Decimal(str(market.get("minQty", lot_min))),
            market_max_qty=Decimal(str(market.get("maxQty", lot_max))),
            market_step_size=Decimal(str(market.get("stepSize", lot_step))),
            min_notional=Decimal(str(notional.get("notional", notional.get("minNotional", 0)))),
            price_precision=int(entry.get("pricePrecision", 8)),
            quantity_precision=int(entry.get("quantityPrecision", 8)),
            max_leverage=max_leverage,
            status=str(entry.get("status", "TRADING")),
            multiplier_up=Decimal(str(percent["multiplierUp"])) if percent else None,
            multiplier_down=Decimal(str(percent["multiplierDown"])) if percent else None,
        )


SymbolFilters = InstrumentInfo
"""Alias: the filters are fields of the instrument."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the caller asks the exchange to do. Validated for shape, not for filters.

    `quantity` may be None only with `close_position=True` (STOP/TAKE_PROFIT market).
    `trigger_price` is the stop price of STOP_MARKET / TAKE_PROFIT_MARKET.
    `callback_rate` is a percentage (1 = 1 %) for TRAILING_STOP_MARKET.
    Raise ValueError on an impossible combination.
    """

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSide = PositionSide.BOTH
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    client_order_id: str | None = None

    def __post_init__(self) -> None:
        where = f"{self.symbol} {self.side} {self.type}"
        if self.close_position:
            if self.type not in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
                raise ValueError(f"{where}: close_position only on STOP/TAKE_PROFIT market")
            if self.quantity is not None or self.reduce_only:
                raise ValueError(f"{where}: close_position excludes quantity and reduce_only")
        elif self.quantity is None or self.quantity <= 0:
            raise ValueError(f"{where}: quantity must be > 0, got {self.quantity}")
        if self.type is OrderType.LIMIT:
            if self.price is None or self.price <= 0:
                raise ValueError(f"{where}: LIMIT needs a price > 0, got {self.price}")
        elif self.price is not None:
            raise ValueError(f"{where}: price is only for LIMIT orders")
        needs_trigger = self.type in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
        if needs_trigger and (self.trigger_price is None or self.trigger_price <= 0):
            raise ValueError(f"{where}: needs trigger_price > 0, got {self.trigger_price}")
        if self.type is OrderType.TRAILING_STOP_MARKET:
            if self.callback_rate is None or self.callback_rate <= 0:
                raise ValueError(f"{where}: needs callback_rate > 0, got {self.callback_rate}")
        elif self.callback_rate is not None or self.activation_price is not None:
            raise ValueError(f"{where}: callback_rate/activation_price only for trailing stops")
        if self.time_in_force is not None and self.type is not OrderType.LIMIT:
            raise ValueError(f"{where}: time_in_force is only for LIMIT orders")

    @property
    def effective_time_in_force(self) -> TimeInForce | None:
        if self.type is OrderType.LIMIT:
            return self.time_in_force or TimeInForce.GTC
        return None


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The exchange's view of one order at one moment (a snapshot; new states are new objects).

    `order_id` is the regular order id; `algo_id` is set for conditional (algo) orders, whose
    `order_id` appears once they trigger.
    """

    symbol: str
    client_order_id: str
    side: Side
    type: OrderType
    status: OrderStatus
    quantity: Decimal | None
    filled_qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSide = PositionSide.BOTH
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    order_id: int | None = None
    algo_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def remaining_qty(self) -> Decimal:
        return ZERO if self.quantity is None else self.quantity - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status.is_open


OrderState = OrderReport
"""Alias kept for readers who think of it as the order's state."""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (a Binance user trade). `fee` is positive when paid."""

    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    realized_pnl: Decimal
    time: datetime
    trade_id: int = 0
    order_id: int | None = None
    client_order_id: str = ""

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


@dataclass(frozen=True, slots=True)
class FundingFee:
    """One funding payment on the account (Binance income FUNDING_FEE): ``amount`` is the
    wallet change, negative when paid; ``venue_id`` identifies it (tranId)."""

    symbol: str
    amount: Decimal
    time: datetime
    venue_id: str


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    wallet_balance: Decimal
    available_balance: Decimal
    unrealized_pnl: Decimal = ZERO

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet_balance + self.unrealized_pnl


@dataclass(frozen=True, slots=True)
class PositionInfo:
    """A one-way (`BOTH`) or hedge-mode leg; `quantity` is signed (short < 0)."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
    liquidation_price: Decimal | None = None
    margin_type: MarginType = MarginType.CROSSED
    isolated_margin: Decimal = ZERO
    position_side: PositionSide = PositionSide.BOTH

    @property
    def side(self) -> Side | None:
        """BUY for a long, SELL for a short, None when flat."""
        if self.quantity > 0:
            return Side.BUY
        if self.quantity < 0:
            return Side.SELL
        return None

    @property
    def notional(self) -> Decimal:
        return abs(self.quantity) * self.mark_price


@dataclass(frozen=True, slots=True)
class Candle:
    """One kline. `open_time` is the candle's start; `close_time` its end (exclusive), if known."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: datetime | None = None

    def __post_init__(self) -> None:
        require_utc(self.open_time, "candle open_time")
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise ValueError(
                f"candle at {self.open_time.isoformat()}: inconsistent OHLC "
                f"{self.open}/{self.high}/{self.low}/{self.close}"
            )


class BookLevel(NamedTuple):
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """A depth snapshot: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    time: datetime | None = None

    @classmethod
    def from_levels(
        cls,
        symbol: str,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        time: datetime | None = None,
    ) -> OrderBook:
        """Build a book from (price, qty) pairs in any order; drop empty levels."""
        return cls(
            symbol=symbol,
            bids=tuple(
                BookLevel(Decimal(p), Decimal(q))
                for p, q in sorted(bids, key=lambda lv: Decimal(lv[0]), reverse=True)
                if Decimal(q) > 0
            ),
            asks=tuple(
                BookLevel(Decimal(p), Decimal(q))
                for p, q in sorted(asks, key=lambda lv: Decimal(lv[0]))
                if Decimal(q) > 0
            ),
            time=time,
        )

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    def levels(self, taker_side: Side) -> tuple[BookLevel, ...]:
        """The side a taker of `taker_side` consumes: asks for a buy, bids for a sell."""
        return self.asks if taker_side is Side.BUY else self.bids


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    price: Decimal
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class BookTicker:
    symbol: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class MarkPrice:
    symbol: str
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal
    next_funding_time: datetime | None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One settled funding rate (per funding interval, as a fraction: 0.0001 = 0.01 %)."""

    symbol: str
    rate: Decimal
    time: datetime
    mark_price: Decimal | None = None
