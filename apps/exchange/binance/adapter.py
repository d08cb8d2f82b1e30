"""`BinanceFuturesExchange`: the `Exchange` port on python-binance's AsyncClient (USDT-M).

Reads and account calls live here; order placement, lookup and cancellation in `orders.py`.
Every call goes through `Transport` (limiter, error translation, retries).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.exchange.domain.errors import NoChangeNeededError, UnknownSymbolError
from apps.exchange.domain.protocol import OrderHelpers
from apps.exchange.domain.types import (
    Balance,
    BookTicker,
    Candle,
    Fill,
    FundingFee,
    FundingRate,
    InstrumentInfo,
    MarginType,
    MarkPrice,
    OrderBook,
    PositionInfo,
    Ticker,
    datetime_to_ms,
)

from . import mapping, weights
from .client import new_client
from .config import BinanceConfig
from .limiter import Limiter, account_key_for, make_limiter
from .orders import OrderMethods
from .time_sync import TimeSync
from .transport import Transport

Sleep = Callable[[float], Awaitable[None]]
log = logging.getLogger(__name__)


def _ms(moment: datetime | None) -> int | None:
    return datetime_to_ms(moment) if moment is not None else None


class BinanceFuturesExchange(OrderMethods, OrderHelpers):
    """The Binance USDT-M adapter. Build it with `await BinanceFuturesExchange.create(config)`.

    `limiter` defaults to `make_limiter(config...)` on the server clock (Redis when
    `config.redis_url` is set); `sleep` and `local_clock` are injectable for tests.
    """

    def __init__(
        self,
        client: Any,
        config: BinanceConfig | None = None,
        *,
        limiter: Limiter | None = None,
        sleep: Sleep | None = None,
        local_clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config or BinanceConfig()
        self.client = client
        self.time_sync = TimeSync(client, local_clock=local_clock)
        self._owns_limiter = limiter is None
        cfg = self.config
        self.limiter = limiter or make_limiter(
            cfg.limits,
            redis_url=cfg.redis_url,
            namespace=cfg.limiter_namespace,
            ip_key=cfg.ip_key,
            account_key=cfg.account_key or account_key_for(cfg.api_key),
            clock=self.time_sync.server_time,
            sleep=sleep,
        )
        self._sleep: Sleep = sleep or asyncio.sleep
        self.transport = Transport(
            client,
            self.limiter,
            self.time_sync,
            retry=cfg.retry,
            timeout_s=cfg.request_timeout_s,
            sleep=sleep,
        )
        self._instruments: dict[str, InstrumentInfo] = {}
        self._instruments_at = float("-inf")
        self._instruments_lock = asyncio.Lock()
        self._prices: dict[str, tuple[float, Decimal]] = {}
        self._init_orders()

    @classmethod
    async def create(
        cls, config: BinanceConfig, *, limiter: Limiter | None = None, **kwargs: Any
    ) -> BinanceFuturesExchange:
        """Construct the client for `config`, sync the clock with the venue, return the adapter."""
        exchange = cls(new_client(config), config, limiter=limiter, **kwargs)
        try:
            await exchange.sync_time()
        except BaseException:
            await exchange.close()
            raise
        return exchange

    async def close(self) -> None:
        await self.client.close_connection()
        if self._owns_limiter:
            await self.limiter.close()

    async def sync_time(self) -> int:
        """Re-measure the server clock offset (also done on -1021); return it in ms."""
        await self.transport.resync()
        return self.time_sync.offset_ms

    async def _call(self, method: str, *, weight: int, **kwargs: Any) -> Any:
        return await self.transport.call(method, weight=weight, **kwargs)

    # --- market data ---------------------------------------------------------------------------
    async def exchange_info(self) -> Mapping[str, InstrumentInfo]:
        if time.monotonic() - self._instruments_at < self.config.exchange_info_ttl_s:
            return self._instruments
        async with self._instruments_lock:
            if time.monotonic() - self._instruments_at >= self.config.exchange_info_ttl_s:
                raw = await self._call("futures_exchange_info", weight=weights.EXCHANGE_INFO)
                instruments = {}
                for entry in raw.get("symbols", []):
                    if entry.get("contractType", "PERPETUAL") != "PERPETUAL":
                        continue
                    try:
                        instruments[entry["symbol"]] = InstrumentInfo.from_binance(entry)
                    except (KeyError, ValueError) as exc:  # one odd symbol must not hide the rest
                        log.warning("exchangeInfo: skipping %s: %s", entry.get("symbol"), exc)
                self._instruments = instruments
                self._instruments_at = time.monotonic()
        return self._instruments

    async def instrument(self, symbol: str) -> InstrumentInfo:
        info = (await self.exchange_info()).get(symbol)
        if info is None:
            raise UnknownSymbolError(f"{symbol}: not a USDT-M perpetual on this venue")
        return info

    async def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        limit = max(1, min(limit, 1500))
        rows = await self._call(
            "futures_klines",
            weight=weights.klines_weight(limit),
            symbol=symbol,
            interval=interval,
            startTime=_ms(start),
            endTime=_ms(end),
            limit=limit,
        )
        return [mapping.candle(row) for row in rows]

    async def get_orderbook(self, symbol: str, limit: int = 20) -> OrderBook:
        asked = weights.depth_limit(limit)
        raw = await self._call(
            "futures_order_book", weight=weights.depth_weight(asked), symbol=symbol, limit=asked
        )
        return mapping.order_book(symbol, raw, limit)

    async def get_ticker(self, symbol: str) -> Ticker:
        raw = await self._call("futures_symbol_ticker", weight=weights.TICKER_PRICE, symbol=symbol)
        result = mapping.ticker(raw)
        self._prices[symbol] = (time.monotonic(), result.price)
        return result

    async def get_book_ticker(self, symbol: str) -> BookTicker:
        raw = await self._call(
            "futures_orderbook_ticker", weight=weights.BOOK_TICKER, symbol=symbol
        )
        return mapping.book_ticker(raw)

    async def get_mark_price(self, symbol: str) -> MarkPrice:
        raw = await self._call("futures_mark_price", weight=weights.PREMIUM_INDEX, symbol=symbol)
        result = mapping.mark_price(raw)
        self._prices[symbol] = (time.monotonic(), result.mark_price)
        return result

    async def funding_history(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[FundingRate]:
        rows = await self._call(
            "futures_funding_rate",
            weight=weights.FUNDING_RATE,
            symbol=symbol,
            startTime=_ms(start),
            endTime=_ms(end),
            limit=max(1, min(limit, 1000)),
        )
        return [mapping.funding_rate(row) for row in rows]

    async def reference_price(self, symbol: str) -> Decimal:
        """A recent price (mark) to value orders without a limit price; cached briefly."""
        cached = self._prices.get(symbol)
        if cached and time.monotonic() - cached[0] < self.config.reference_price_ttl_s:
            return cached[1]
        return (await self.get_mark_price(symbol)).mark_price

    # --- account -------------------------------------------------------------------------------
    async def balances(self) -> list[Balance]:
        rows = await self._call("futures_account_balance", weight=weights.BALANCE)
        return [mapping.balance(row) for row in rows]

    async def positions(self, symbol: str | None = None) -> list[PositionInfo]:
        rows = await self._call(
            "futures_position_information", weight=weights.POSITION_RISK, symbol=symbol
        )
        rows = [r for r in rows if mapping.dec(r.get("positionAmt")) != 0]
        if symbol is not None:
            rows = [r for r in rows if r["symbol"] == symbol]
        if not rows:
            return []
        configs = await self._call(
            "futures_symbol_config", weight=weights.SYMBOL_CONFIG, symbol=symbol
        )
        by_symbol = {c["symbol"]: c for c in configs}
        return [mapping.position(r, by_symbol.get(r["symbol"])) for r in rows]

    async def user_trades(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Fill]:
        rows = await self._call(
            "futures_account_trades",
            weight=weights.USER_TRADES,
            symbol=symbol,
            startTime=_ms(start),
            endTime=_ms(end),
            limit=max(1, min(limit, 1000)),
        )
        fills = []
        for row in rows:
            client_id = await self._client_id_of(symbol, int(row["orderId"]))
            fills.append(mapping.fill(row, client_id))
        return fills

    async def funding_fees(
        self, symbol: str, start: datetime | None = None, limit: int = 1000
    ) -> list[FundingFee]:
        """The account's funding payments in ``symbol`` (income FUNDING_FEE), oldest first."""
        rows = await self._call(
            "futures_income_history",
            weight=weights.INCOME,
            symbol=symbol,
            incomeType="FUNDING_FEE",
            startTime=_ms(start),
            limit=max(1, min(limit, 1000)),
        )
        return [mapping.funding_fee(row) for row in rows]

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        raw = await self._call(
            "futures_change_leverage",
            weight=weights.LEVERAGE,
            mutating=True,
            idempotent=True,
            symbol=symbol,
            leverage=int(leverage),
        )
        return int(raw["leverage"])

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        try:
            await self._call(
                "futures_change_margin_type",
                weight=weights.MARGIN_TYPE,
                mutating=True,
                idempotent=True,
                symbol=symbol,
                marginType=MarginType(margin_type).value,
            )
        except NoChangeNeededError:  # -4046: already so
            return

    async def set_position_mode(self, hedge: bool) -> None:
        try:
            await self._call(
                "futures_change_position_mode",
                weight=weights.POSITION_MODE,
                mutating=True,
                idempotent=True,
                dualSidePosition=mapping.flag(hedge),
            )
        except NoChangeNeededError:  # -4059: already so
            return

    # --- user data stream listen key (unsigned) ------------------------------------------------
    async def listen_key(self) -> str:
        """Create (or fetch the active) user-stream listen key."""
        return str(
            await self._call(
                "futures_stream_get_listen_key",
                weight=weights.LISTEN_KEY,
                mutating=True,
                idempotent=True,
            )
        )

    async def keepalive_listen_key(self, key: str) -> None:
        await self._call(
            "futures_stream_keepalive",
            weight=weights.LISTEN_KEY,
            mutating=True,
            idempotent=True,
            listenKey=key,
        )
