"""Property tests: accounting and order-state invariants under random action sequences."""

import asyncio
from datetime import timedelta
from decimal import Decimal as D
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.exchange.domain.errors import RejectedError
from apps.exchange.domain.events import FundingFeeCharged, OrderFilled
from apps.exchange.domain.simulated.engine import CandleEngine
from apps.exchange.domain.simulated.ledger import Ledger
from apps.exchange.domain.types import MarginType, Side

from .conftest import T0, make_exchange

SYM = "BTCUSDT"
qtys = st.integers(min_value=1, max_value=400).map(lambda n: D(n) / 1000)
moves = st.integers(min_value=-300, max_value=300)  # per-mille of price, per candle


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Side)), qtys, st.integers(30_000, 50_000)),
        min_size=1,
        max_size=30,
    )
)
def test_ledger_with_any_fills_keeps_position_and_wallet_identity(fills):
    ledger = Ledger(wallet=D(10_000), maintenance_margin_rate=D("0.004"), default_leverage=20)
    realized = D(0)
    for side, qty, price in fills:
        realized += ledger.apply_fill(SYM, side, qty, D(price))
    pos = ledger.position(SYM)
    assert pos.qty == sum((q * s.sign for s, q, _ in fills), D(0))
    assert ledger.wallet - D(10_000) == realized
    assert (pos.qty == 0) == (pos.entry == 0)


action = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(list(Side)), qtys),
    st.tuples(st.just("limit"), st.sampled_from(list(Side)), qtys, moves),
    st.tuples(st.just("stop"), st.sampled_from(list(Side)), qtys, moves),
    st.tuples(st.just("trail"), st.sampled_from(list(Side)), qtys, st.integers(1, 50)),
    st.tuples(st.just("candle"), moves, st.integers(0, 60), st.integers(0, 60)),
    st.tuples(st.just("close")),
    st.tuples(st.just("cancel_all")),
    st.tuples(st.just("isolated"), st.booleans()),
)


async def run_actions(actions, seed):
    funding = [(T0 + timedelta(hours=8 * i), D(r) / 100_000) for i, r in enumerate(range(-5, 30))]
    ex, feed = make_exchange(balance="5000", seed=seed, funding=funding)
    price = D("42000.0")
    feed.bar(price, price + 10, price - 10, price)
    for act in actions:
        try:
            match act:
                case ("market", side, qty):
                    await ex.place_market_order(SYM, side, qty)
                case ("limit", side, qty, move):
                    p = (price * (1 + D(move) / 10_000)).quantize(D("0.1"))
                    await ex.place_limit_order(SYM, side, qty, p)
                case ("stop", side, qty, move):
                    p = (price * (1 + D(move) / 10_000)).quantize(D("0.1"))
                    await ex.place_stop_market_order(SYM, side, qty, p)
                case ("trail", side, qty, rate):
                    await ex.place_trailing_stop_order(SYM, side, qty, D(rate) / 10, None, False)
                case ("candle", move, up, down):
                    close = (price * (1 + D(move) / 1000)).quantize(D("0.1"))
                    high = max(price, close) * (1 + D(up) / 1000)
                    low = min(price, close) * (1 - D(down) / 1000)
                    feed.bar(price, high.quantize(D("0.1")), low.quantize(D("0.1")), close)
                    price = close
                case ("close",):
                    await ex.close_position(SYM)
                case ("cancel_all",):
                    await ex.cancel_all(SYM)
                case ("isolated", flag):
                    await ex.set_margin_type(
                        SYM, MarginType.ISOLATED if flag else MarginType.CROSSED
                    )
        except RejectedError:
            pass
    return ex


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, max_size=25), st.integers(0, 3))
def test_simulator_with_random_actions_keeps_accounting_and_order_invariants(actions, seed):
    ex = asyncio.run(run_actions(actions, seed))
    fills = [e.fill for e in ex.events if isinstance(e, OrderFilled)]
    funding = sum((e.amount for e in ex.events if isinstance(e, FundingFeeCharged)), D(0))
    realized = sum((f.realized_pnl for f in fills), D(0))
    fees = sum((f.fee for f in fills), D(0))
    assert ex.ledger.wallet - D(5000) == realized - fees + funding
    assert ex.ledger.position(SYM).qty == sum((f.qty * f.side.sign for f in fills), D(0))
    for order in ex._orders.values():
        report = order.report()
        assert report.quantity is None or report.filled_qty <= report.quantity
        assert report.status.is_open == (report in asyncio.run(ex.open_orders(SYM)))
    assert all(f.price > 0 and f.qty > 0 for f in fills)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, max_size=25), st.integers(0, 3))
def test_simulator_with_path_shortcut_gives_the_events_of_every_leg_run(actions, seed):
    # A candle whose range reaches no order level nor the liquidation price skips its legs.
    quick = asyncio.run(run_actions(actions, seed))
    with patch.object(CandleEngine, "_path_may_act", return_value=True):
        full = asyncio.run(run_actions(actions, seed))
    assert quick.events == full.events
    assert quick.ledger.wallet == full.ledger.wallet
    assert quick.ledger.positions == full.ledger.positions
    assert [o.report() for o in quick._orders.values()] == [
        o.report() for o in full._orders.values()
    ]
    assert quick._last == full._last
