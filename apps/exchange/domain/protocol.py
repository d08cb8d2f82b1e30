"""The `Exchange` port: what the kernel may ask of a venue (Binance or the simulated one).

Every method is async. Errors are members of `errors.py` only. Quantities and prices are
`Decimal` and must already satisfy the instrument's filters (see `filters.prepare_order`); an
implementation rejects, it does not silently re-round. `cancel_order`, `get_order` and
`open_orders` cover regular and conditional (algo) orders alike, addressed by client order id.

`OrderHelpers` implements the convenience placers on top of `place_order`, so an adapter only
writes `place_order` and inherits the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from .types import (
    Balance,
    BookTicker,
    Candle,
    Fill,
    FundingRate,
    InstrumentInfo,
    MarginType,
    MarkPrice,
    OrderBook,
    OrderReport,
    OrderRequest,
    OrderType,
    PositionInfo,
    Side,
    Ticker,
    TimeInForce,
)


@runtime_checkable
class Exchange(Protocol):
    # --- market data -------------------------------------------------------------------------
    async def exchange_info(self) -> Mapping[str, InstrumentInfo]: ...

    async def instrument(self, symbol: str) -> InstrumentInfo:
        """Return the symbol's filters; raise UnknownSymbolError."""
        ...

    async def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Candle]: ...

    async def get_orderbook(self, symbol: str, limit: int = 20) -> OrderBook: ...

    async def get_ticker(self, symbol: str) -> Ticker: ...

    async def get_book_ticker(self, symbol: str) -> BookTicker: ...

    async def get_mark_price(self, symbol: str) -> MarkPrice: ...

    async def funding_history(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[FundingRate]: ...

    # --- account -----------------------------------------------------------------------------
    async def balances(self) -> list[Balance]: ...

    async def positions(self, symbol: str | None = None) -> list[PositionInfo]:
        """Return open (non-zero) positions, optionally of one symbol."""
        ...

    async def user_trades(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Fill]: ...

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set and return the leverage; raise InvalidOrderError if out of range."""
        ...

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        """Set the margin type; a no-op (no error) if it is already set."""
        ...

    async def set_position_mode(self, hedge: bool) -> None:
        """Switch hedge (dual-side) mode on or off; a no-op if already so."""
        ...

    # --- orders ------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderReport: ...

    async def place_market_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport: ...

    async def place_limit_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport: ...

    async def place_stop_market_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal | None,
        stop_price: Decimal,
        reduce_only: bool = False,
        close_position: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport: ...

    async def place_take_profit_market_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal | None,
        stop_price: Decimal,
        reduce_only: bool = False,
        close_position: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport: ...

    async def place_trailing_stop_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        callback_rate: Decimal,
        activation_price: Decimal | None = None,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport: ...

    async def close_position(
        self, symbol: str, client_order_id: str | None = None
    ) -> OrderReport | None:
        """Flatten the symbol's position with a reduce-only market order; None if flat."""
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Cancel an open order; raise OrderNotFoundError if unknown or no longer open."""
        ...

    async def get_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Return the order's latest state; raise OrderNotFoundError."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        """Return open regular and conditional orders."""
        ...

    async def cancel_all(self, symbol: str) -> None:
        """Cancel every open regular and conditional order of the symbol."""
        ...


class OrderHelpers:
    """Convenience placers built on `place_order`; mix into an Exchange implementation."""

    async def place_order(self, request: OrderRequest) -> OrderReport:
        raise NotImplementedError

    async def place_market_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport:
        return await self.place_order(
            OrderRequest(
                symbol=symbol,
                side=side,
                type=OrderType.MARKET,
                quantity=quantity,
                reduce_only=reduce_only,
                client_order_id=client_order_id,
            )
        )

    async def place_limit_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport:
        return await self.place_order(
            OrderRequest(
                symbol=symbol,
                side=side,
                type=OrderType.LIMIT,
                quantity=quantity,
                price=price,
                time_in_force=TimeInForce(time_in_force),
                reduce_only=reduce_only,
                client_order_id=client_order_id,
            )
        )

    async def place_stop_market_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal | None,
        stop_price: Decimal,
        reduce_only: bool = False,
        close_position: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport:
        return await self.place_order(
            OrderRequest(
                symbol=symbol,
                side=side,
                type=OrderType.STOP_MARKET,
                quantity=quantity,
                trigger_price=stop_price,
                reduce_only=reduce_only,
                close_position=close_position,
                client_order_id=client_order_id,
            )
        )

    async def place_take_profit_market_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal | None,
        stop_price: Decimal,
        reduce_only: bool = False,
        close_position: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport:
        return await self.place_order(
            OrderRequest(
                symbol=symbol,
                side=side,
                type=OrderType.TAKE_PROFIT_MARKET,
                quantity=quantity,
                trigger_price=stop_price,
                reduce_only=reduce_only,
                close_position=close_position,
                client_order_id=client_order_id,
            )
        )

    async def place_trailing_stop_order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        callback_rate: Decimal,
        activation_price: Decimal | None = None,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> OrderReport:
        return await self.place_order(
            OrderRequest(
                symbol=symbol,
                side=side,
                type=OrderType.TRAILING_STOP_MARKET,
                quantity=quantity,
                callback_rate=callback_rate,
                activation_price=activation_price,
                reduce_only=reduce_only,
                client_order_id=client_order_id,
            )
        )
