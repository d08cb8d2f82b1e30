"""A reusable contract suite for any implementation of the `Exchange` protocol.

It checks observable protocol behaviour only (what a caller can see through the port), so the
same cases run against the simulated exchange and against the Binance adapter talking to the
fake Binance server. An implementation provides a factory:

    @asynccontextmanager
    async def factory() -> AsyncIterator[ContractHarness]:
        ...start whatever is needed...
        yield ContractHarness(exchange=..., symbol="BTCUSDT", move_price=...)
        ...tear down...

and a test module parametrises over `CONTRACT_CASES`:

    @pytest.mark.parametrize("case", CONTRACT_CASES, ids=case_id)
    async def test_contract_with_my_exchange_holds(case):
        async with factory() as harness:
            await case(harness)

Assumptions on the harness: the account starts flat with no open orders, a quote balance
large enough for a few minimum-size orders at leverage 20, and the market trades near a price
the exchange already reports through `get_ticker`. `move_price(p)` makes the market trade from
the current price to `p` (through every price in between) and settles resting and conditional
orders, so that a later query sees the outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import pytest

from apps.exchange.domain.errors import (
    DuplicateClientOrderIdError,
    ExchangeError,
    InsufficientMarginError,
    MinNotionalError,
    OrderNotFoundError,
    PostOnlyRejectedError,
    ReduceOnlyRejectedError,
    RejectedError,
    UnknownSymbolError,
    WouldTriggerError,
)
from apps.exchange.domain.filters import Rounding, snap_price, snap_quantity
from apps.exchange.domain.protocol import Exchange
from apps.exchange.domain.types import InstrumentInfo, OrderStatus, Side, TimeInForce


@dataclass
class ContractHarness:
    exchange: Exchange
    symbol: str
    move_price: Callable[[Decimal], Awaitable[None]]


ExchangeFactory = Callable[[], AbstractAsyncContextManager[ContractHarness]]
Case = Callable[[ContractHarness], Awaitable[None]]
CONTRACT_CASES: list[Case] = []


def contract_case(fn: Case) -> Case:
    CONTRACT_CASES.append(fn)
    return fn


def case_id(case: Case) -> str:
    return case.__name__


async def run_case(factory: ExchangeFactory, case: Case) -> None:
    async with factory() as harness:
        await case(harness)


# --- helpers ---------------------------------------------------------------------------------
@dataclass
class _Market:
    info: InstrumentInfo
    price: Decimal
    qty: Decimal  # a small quantity comfortably above min qty and min notional


async def _market(h: ContractHarness) -> _Market:
    ex = h.exchange
    info = await ex.instrument(h.symbol)
    price = (await ex.get_ticker(h.symbol)).price
    await ex.set_leverage(h.symbol, 20)
    need = info.min_notional * 2 / price
    steps = (need / info.step_size).to_integral_value(rounding=ROUND_CEILING)
    qty = max(info.min_qty, info.market_min_qty, steps * info.step_size)
    return _Market(info, price, snap_quantity(info, qty))


def _px(m: _Market, factor: str, rounding: Rounding = Rounding.NEAREST) -> Decimal:
    return snap_price(m.info, m.price * Decimal(factor), rounding)


async def _position_qty(h: ContractHarness) -> Decimal:
    positions = await h.exchange.positions(h.symbol)
    return sum((p.quantity for p in positions), Decimal(0))


def _cids(orders: list) -> set[str]:
    return {o.client_order_id for o in orders}


# --- cases -------------------------------------------------------------------------------------
@contract_case
async def instrument_with_known_symbol_returns_filters(h: ContractHarness) -> None:
    info = await h.exchange.instrument(h.symbol)
    assert info.symbol == h.symbol
    assert info.tick_size > 0 and info.step_size > 0 and info.min_qty > 0
    assert h.symbol in await h.exchange.exchange_info()


@contract_case
async def instrument_with_unknown_symbol_raises_unknown_symbol(h: ContractHarness) -> None:
    with pytest.raises(UnknownSymbolError):
        await h.exchange.instrument("NOPEUSDT")


@contract_case
async def market_data_with_book_has_bid_below_ask(h: ContractHarness) -> None:
    book = await h.exchange.get_orderbook(h.symbol, limit=5)
    top = await h.exchange.get_book_ticker(h.symbol)
    assert book.bids and book.asks
    assert book.bids[0].price < book.asks[0].price
    assert top.bid_price < top.ask_price
    mark = await h.exchange.get_mark_price(h.symbol)
    assert mark.mark_price > 0


@contract_case
async def market_buy_with_balance_opens_long_and_records_trades(h: ContractHarness) -> None:
    m = await _market(h)
    (before,) = [b for b in await h.exchange.balances() if b.asset == m.info.quote_asset]
    report = await h.exchange.place_market_order(
        h.symbol, Side.BUY, m.qty, client_order_id="ct-mkt-1"
    )
    assert report.client_order_id == "ct-mkt-1"
    assert (await h.exchange.get_order(h.symbol, "ct-mkt-1")).status is OrderStatus.FILLED
    assert await _position_qty(h) == m.qty
    trades = [t for t in await h.exchange.user_trades(h.symbol) if t.client_order_id == "ct-mkt-1"]
    assert sum((t.qty for t in trades), Decimal(0)) == m.qty
    assert all(t.fee >= 0 and not t.is_maker for t in trades)
    (after,) = [b for b in await h.exchange.balances() if b.asset == m.info.quote_asset]
    assert after.wallet_balance < before.wallet_balance  # the taker fee


@contract_case
async def limit_with_price_below_market_rests_until_canceled(h: ContractHarness) -> None:
    m = await _market(h)
    placed = await h.exchange.place_limit_order(
        h.symbol, Side.BUY, m.qty, _px(m, "0.95", Rounding.DOWN), client_order_id="ct-rest-1"
    )
    assert placed.status is OrderStatus.NEW
    assert "ct-rest-1" in _cids(await h.exchange.open_orders(h.symbol))
    assert (await h.exchange.get_order(h.symbol, "ct-rest-1")).status is OrderStatus.NEW
    canceled = await h.exchange.cancel_order(h.symbol, "ct-rest-1")
    assert canceled.status is OrderStatus.CANCELED
    assert "ct-rest-1" not in _cids(await h.exchange.open_orders(h.symbol))
    with pytest.raises(OrderNotFoundError):
        await h.exchange.cancel_order(h.symbol, "ct-rest-1")


@contract_case
async def limit_with_price_reached_later_fills_at_limit_as_maker(h: ContractHarness) -> None:
    m = await _market(h)
    price = _px(m, "0.99", Rounding.DOWN)
    await h.exchange.place_limit_order(h.symbol, Side.BUY, m.qty, price, client_order_id="ct-lf")
    await h.move_price(_px(m, "0.98"))
    done = await h.exchange.get_order(h.symbol, "ct-lf")
    assert done.status is OrderStatus.FILLED
    assert done.avg_price == price
    trades = [t for t in await h.exchange.user_trades(h.symbol) if t.client_order_id == "ct-lf"]
    assert trades and all(t.is_maker and t.price == price for t in trades)


@contract_case
async def place_with_duplicate_open_client_id_is_rejected(h: ContractHarness) -> None:
    m = await _market(h)
    price = _px(m, "0.95", Rounding.DOWN)
    await h.exchange.place_limit_order(h.symbol, Side.BUY, m.qty, price, client_order_id="ct-dup")
    with pytest.raises(DuplicateClientOrderIdError):
        await h.exchange.place_limit_order(
            h.symbol, Side.BUY, m.qty, price, client_order_id="ct-dup"
        )
    assert (
        len([o for o in await h.exchange.open_orders(h.symbol) if o.client_order_id == "ct-dup"])
        == 1
    )


@contract_case
async def get_order_with_unknown_client_id_raises_not_found(h: ContractHarness) -> None:
    with pytest.raises(OrderNotFoundError):
        await h.exchange.get_order(h.symbol, "ct-never-placed")


@contract_case
async def reduce_only_with_flat_position_is_rejected(h: ContractHarness) -> None:
    m = await _market(h)
    with pytest.raises(ReduceOnlyRejectedError):
        await h.exchange.place_market_order(h.symbol, Side.SELL, m.qty, reduce_only=True)


@contract_case
async def post_only_with_crossing_price_is_rejected(h: ContractHarness) -> None:
    m = await _market(h)
    top = await h.exchange.get_book_ticker(h.symbol)
    with pytest.raises(PostOnlyRejectedError):
        await h.exchange.place_limit_order(
            h.symbol, Side.BUY, m.qty, top.ask_price, time_in_force=TimeInForce.GTX
        )


@contract_case
async def stop_sell_with_trigger_above_market_would_trigger(h: ContractHarness) -> None:
    m = await _market(h)
    await h.exchange.place_market_order(h.symbol, Side.BUY, m.qty)
    with pytest.raises(WouldTriggerError):
        await h.exchange.place_stop_market_order(
            h.symbol, Side.SELL, m.qty, _px(m, "1.02"), reduce_only=True
        )


@contract_case
async def stop_market_with_price_through_trigger_closes_position(h: ContractHarness) -> None:
    m = await _market(h)
    await h.exchange.place_market_order(h.symbol, Side.BUY, m.qty)
    stop = await h.exchange.place_stop_market_order(
        h.symbol, Side.SELL, m.qty, _px(m, "0.98"), reduce_only=True, client_order_id="ct-sl"
    )
    assert stop.status is OrderStatus.NEW
    assert "ct-sl" in _cids(await h.exchange.open_orders(h.symbol))
    await h.move_price(_px(m, "0.97"))
    assert await _position_qty(h) == 0
    assert (await h.exchange.get_order(h.symbol, "ct-sl")).status is OrderStatus.FILLED
    assert "ct-sl" not in _cids(await h.exchange.open_orders(h.symbol))


@contract_case
async def cancel_all_with_regular_and_conditional_orders_leaves_none(h: ContractHarness) -> None:
    m = await _market(h)
    await h.exchange.place_market_order(h.symbol, Side.BUY, m.qty)
    await h.exchange.place_limit_order(h.symbol, Side.BUY, m.qty, _px(m, "0.95", Rounding.DOWN))
    await h.exchange.place_stop_market_order(
        h.symbol, Side.SELL, m.qty, _px(m, "0.9"), reduce_only=True
    )
    assert len(await h.exchange.open_orders(h.symbol)) == 2
    await h.exchange.cancel_all(h.symbol)
    assert await h.exchange.open_orders(h.symbol) == []


@contract_case
async def order_with_notional_below_minimum_is_rejected(h: ContractHarness) -> None:
    m = await _market(h)
    qty = max(m.info.min_qty, m.info.market_min_qty)
    if qty * m.price >= m.info.min_notional:
        pytest.skip("the minimum quantity already clears MIN_NOTIONAL on this symbol")
    with pytest.raises(MinNotionalError):
        await h.exchange.place_market_order(h.symbol, Side.BUY, qty)


@contract_case
async def order_with_notional_beyond_margin_is_rejected(h: ContractHarness) -> None:
    m = await _market(h)
    await h.exchange.set_leverage(h.symbol, 1)
    (bal,) = [b for b in await h.exchange.balances() if b.asset == m.info.quote_asset]
    qty = snap_quantity(m.info, bal.available_balance * 3 / m.price, market=True)
    if qty > m.info.market_max_qty:
        pytest.skip("the balance is too large to exceed it within MARKET_LOT_SIZE")
    with pytest.raises(InsufficientMarginError):
        await h.exchange.place_market_order(h.symbol, Side.BUY, qty)
    assert await _position_qty(h) == 0


@contract_case
async def set_leverage_with_valid_and_invalid_values(h: ContractHarness) -> None:
    info = await h.exchange.instrument(h.symbol)
    assert await h.exchange.set_leverage(h.symbol, 5) == 5
    with pytest.raises(RejectedError):
        await h.exchange.set_leverage(h.symbol, info.max_leverage + 1)


@contract_case
async def close_position_with_open_long_flattens_it(h: ContractHarness) -> None:
    m = await _market(h)
    assert await h.exchange.close_position(h.symbol) is None
    await h.exchange.place_market_order(h.symbol, Side.BUY, m.qty)
    report = await h.exchange.close_position(h.symbol, client_order_id="ct-close")
    assert report is not None and report.client_order_id == "ct-close"
    assert await _position_qty(h) == 0


@contract_case
async def errors_with_any_rejection_are_exchange_errors(h: ContractHarness) -> None:
    m = await _market(h)
    with pytest.raises(ExchangeError):
        await h.exchange.place_market_order(h.symbol, Side.SELL, m.qty, reduce_only=True)


__all__ = [
    "CONTRACT_CASES",
    "ContractHarness",
    "ExchangeFactory",
    "case_id",
    "contract_case",
    "run_case",
]
