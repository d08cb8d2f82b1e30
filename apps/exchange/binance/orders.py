"""Order placement, lookup and cancellation for `BinanceFuturesExchange` (a mixin).

Idempotency: every order carries a client order id (the caller's, derived from its intent, or
one derived here from the request and a nonce). Retries re-send the same id. After an unknown
outcome (timeout, 503, 5xx on a write) the order is looked up by that id before anything is
re-sent: found means it was placed (returned as is); not found within the policy's window
means it was not, and it is re-sent with the same id. Regular orders use /fapi/v1/order
(`newClientOrderId`), conditional ones /fapi/v1/algoOrder (`clientAlgoId`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from apps.exchange.domain.errors import (
    DuplicateClientOrderIdError,
    ExchangeError,
    InvalidOrderError,
    OrderNotFoundError,
    UnknownOutcomeError,
)
from apps.exchange.domain.filters import check_order, prepare_order
from apps.exchange.domain.ids import client_order_id, is_valid_client_order_id
from apps.exchange.domain.types import (
    OrderReport,
    OrderRequest,
    OrderType,
    PositionSide,
    Side,
)

from . import mapping, weights

if TYPE_CHECKING:
    from .adapter import BinanceFuturesExchange

_REMEMBERED = 10_000


class OrderMethods:
    """Order methods; expects the attributes `BinanceFuturesExchange` sets up."""

    def _init_orders(self) -> None:
        self._algo_ids: OrderedDict[str, None] = OrderedDict()  # client ids placed as algo
        self._client_ids: OrderedDict[int, str] = OrderedDict()  # orderId -> client id

    def _remember(self: BinanceFuturesExchange, report: OrderReport) -> OrderReport:
        if report.algo_id is not None:
            self._algo_ids[report.client_order_id] = None
            while len(self._algo_ids) > _REMEMBERED:
                self._algo_ids.popitem(last=False)
        if report.order_id is not None and report.algo_id is None:
            self._client_ids[report.order_id] = report.client_order_id
            while len(self._client_ids) > _REMEMBERED:
                self._client_ids.popitem(last=False)
        return report

    @staticmethod
    def new_client_order_id(request: OrderRequest) -> str:
        """An id for a request that brought none: its intent plus a nonce (one per call)."""
        return client_order_id(
            "bn", request.symbol, request.side.value, request.type.value, uuid.uuid4().hex
        )

    # --- placing -------------------------------------------------------------------------------
    async def place_order(self: BinanceFuturesExchange, request: OrderRequest) -> OrderReport:
        """Snap and check `request` locally, then place it once (see the module doc).

        Raise FilterRejectedError (e.g. MinNotionalError) before sending anything when the
        filters refuse it; DuplicateClientOrderIdError when the caller's id is already open.
        """
        info = await self.instrument(request.symbol)
        cid = request.client_order_id or self.new_client_order_id(request)
        if not is_valid_client_order_id(cid):
            raise InvalidOrderError(f"client order id {cid!r} must match [A-Za-z0-9._-]{{1,36}}")
        prepared = prepare_order(info, replace(request, client_order_id=cid))
        reference = None  # values MARKET / trailing notionals (stops use their trigger)
        unpriced = prepared.type in (OrderType.MARKET, OrderType.TRAILING_STOP_MARKET)
        if unpriced and not (prepared.reduce_only or prepared.close_position):
            reference = await self.reference_price(prepared.symbol)
        check_order(info, prepared, reference_price=reference)
        params = mapping.order_params(prepared, cid, self.config.working_type)
        if prepared.position_side is not PositionSide.BOTH:
            params.pop("reduceOnly", None)  # hedge mode: the leg implies it (-1106 otherwise)
        conditional = prepared.type.is_conditional
        if conditional:
            self._algo_ids[cid] = None
        return await self._submit(prepared.symbol, cid, conditional, params)

    async def _submit(
        self: BinanceFuturesExchange,
        symbol: str,
        cid: str,
        conditional: bool,
        params: dict[str, Any],
    ) -> OrderReport:
        method = "futures_create_algo_order" if conditional else "futures_create_order"
        resends = 0
        while True:
            try:
                raw = await self._call(
                    method, weight=weights.NEW_ORDER, orders=1, mutating=True, **params
                )
            except UnknownOutcomeError:
                found = await self._resolve_unknown(symbol, cid, conditional)
                if found is not None:
                    return found
                resends += 1
                if resends > self.config.retry.max_resends:
                    raise
                continue
            except DuplicateClientOrderIdError:
                if resends == 0:
                    raise  # the caller's id is in use by an open order it placed before
                return await self._lookup(symbol, cid, conditional)  # our earlier send landed
            if conditional:
                return self._remember(await self._algo_with_actual(raw))
            return self._remember(mapping.order_report(raw))

    async def _resolve_unknown(
        self: BinanceFuturesExchange, symbol: str, cid: str, conditional: bool
    ) -> OrderReport | None:
        """Look the order up until found or the unknown-outcome window has passed."""
        policy = self.config.retry
        deadline = time.monotonic() + policy.unknown_outcome_window_s
        delay = policy.base_delay_s
        while True:
            try:
                return await self._lookup(symbol, cid, conditional)
            except OrderNotFoundError:
                pass
            except ExchangeError as exc:
                raise UnknownOutcomeError(
                    f"{symbol} {cid}: order outcome unknown and the lookup failed: {exc}"
                ) from exc
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await self._sleep(min(delay, left))
            delay = min(delay * 2, policy.max_delay_s)

    # --- looking up ----------------------------------------------------------------------------
    async def _lookup(
        self: BinanceFuturesExchange, symbol: str, cid: str, conditional: bool
    ) -> OrderReport:
        if conditional:
            raw = await self._call(
                "futures_get_algo_order",
                weight=weights.QUERY_ORDER,
                symbol=symbol,
                clientAlgoId=cid,
            )
            return self._remember(await self._algo_with_actual(raw))
        raw = await self._call(
            "futures_get_order", weight=weights.QUERY_ORDER, symbol=symbol, origClientOrderId=cid
        )
        return self._remember(mapping.order_report(raw))

    async def _algo_with_actual(self: BinanceFuturesExchange, raw: dict[str, Any]) -> OrderReport:
        actual_id = raw.get("actualOrderId")
        actual = None
        if raw.get("algoStatus") in ("TRIGGERED", "FINISHED") and actual_id not in (None, "", "0"):
            got = await self._call(
                "futures_get_order",
                weight=weights.QUERY_ORDER,
                symbol=raw["symbol"],
                orderId=int(actual_id),
            )
            actual = self._remember(mapping.order_report(got))
        return mapping.algo_report(raw, actual)

    async def get_order(
        self: BinanceFuturesExchange, symbol: str, client_order_id: str
    ) -> OrderReport:
        first = client_order_id in self._algo_ids
        try:
            return await self._lookup(symbol, client_order_id, first)
        except OrderNotFoundError:
            pass
        try:
            return await self._lookup(symbol, client_order_id, not first)
        except OrderNotFoundError:
            raise OrderNotFoundError(
                f"{symbol}: no order with client id {client_order_id}"
            ) from None

    async def _client_id_of(self: BinanceFuturesExchange, symbol: str, order_id: int) -> str:
        known = self._client_ids.get(order_id)
        if known is not None:
            return known
        raw = await self._call(
            "futures_get_order", weight=weights.QUERY_ORDER, symbol=symbol, orderId=order_id
        )
        return self._remember(mapping.order_report(raw)).client_order_id

    async def open_orders(
        self: BinanceFuturesExchange, symbol: str | None = None
    ) -> list[OrderReport]:
        weight = weights.per_symbol(symbol, 1, 40)
        regular, algos = await asyncio.gather(
            self._call("futures_get_open_orders", weight=weight, symbol=symbol),
            self._call("futures_get_open_algo_orders", weight=weight, symbol=symbol),
        )
        reports = [self._remember(mapping.order_report(raw)) for raw in regular]
        reports += [self._remember(mapping.algo_report(raw)) for raw in algos]
        return reports

    # --- cancelling ----------------------------------------------------------------------------
    async def cancel_order(
        self: BinanceFuturesExchange, symbol: str, client_order_id: str
    ) -> OrderReport:
        """Cancel a regular or conditional order; raise OrderNotFoundError if not open."""
        first = client_order_id in self._algo_ids
        try:
            return await self._cancel(symbol, client_order_id, first)
        except OrderNotFoundError as exc:
            if exc.code != -2013:
                raise  # -2011: it exists but is no longer open
        return await self._cancel(symbol, client_order_id, not first)

    async def _cancel(
        self: BinanceFuturesExchange, symbol: str, cid: str, conditional: bool
    ) -> OrderReport:
        for _ in range(self.config.retry.max_attempts):
            try:
                if conditional:
                    await self._call(
                        "futures_cancel_algo_order",
                        weight=weights.CANCEL_ORDER,
                        mutating=True,
                        symbol=symbol,
                        clientAlgoId=cid,
                    )
                    return await self._lookup(symbol, cid, True)
                raw = await self._call(
                    "futures_cancel_order",
                    weight=weights.CANCEL_ORDER,
                    mutating=True,
                    symbol=symbol,
                    origClientOrderId=cid,
                )
                return self._remember(mapping.order_report(raw))
            except UnknownOutcomeError:
                state = await self._lookup(symbol, cid, conditional)
                if not state.is_open:
                    return state
        raise UnknownOutcomeError(f"{symbol} {cid}: cancel outcome still unknown")

    async def cancel_all(self: BinanceFuturesExchange, symbol: str) -> None:
        await self._call(
            "futures_cancel_all_open_orders",
            weight=weights.CANCEL_ALL,
            mutating=True,
            idempotent=True,
            symbol=symbol,
        )
        await self._call(
            "futures_cancel_all_algo_open_orders",
            weight=weights.CANCEL_ALL,
            mutating=True,
            idempotent=True,
            symbol=symbol,
        )

    async def close_position(
        self: BinanceFuturesExchange, symbol: str, client_order_id: str | None = None
    ) -> OrderReport | None:
        """Flatten `symbol` with reduce-only market orders (one per leg); None if flat."""
        report = None
        for leg in await self.positions(symbol):
            if leg.quantity == 0:
                continue
            report = await self.place_order(
                OrderRequest(
                    symbol=symbol,
                    side=Side.SELL if leg.quantity > 0 else Side.BUY,
                    type=OrderType.MARKET,
                    quantity=abs(leg.quantity),
                    reduce_only=True,
                    position_side=leg.position_side,
                    client_order_id=client_order_id,
                )
            )
        return report
