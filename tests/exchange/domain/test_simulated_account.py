"""SimulatedExchange: funding, margin, liquidation, accounting and determinism."""

from datetime import timedelta
from decimal import Decimal as D

import pytest

from apps.exchange.domain.errors import InvalidOrderError
from apps.exchange.domain.events import FundingFeeCharged, OrderFilled, PositionLiquidated
from apps.exchange.domain.types import MarginType, OrderStatus, Side

from .conftest import T0, make_exchange, real_btc_candles, real_btc_funding

SYM = "BTCUSDT"


def funding_events(ex):
    return [e for e in ex.events if isinstance(e, FundingFeeCharged)]


async def test_funding_with_long_and_positive_rate_is_paid_at_00_08_16_utc():
    candles = real_btc_candles(T0, 26)
    funding = real_btc_funding(T0, T0 + timedelta(days=1))
    assert [t.hour for t, _ in funding] == [0, 8, 16, 0]
    ex, feed = make_exchange(funding=funding)
    feed.feed(candles[0])  # 00:00 candle; the 00:00 funding has no position to charge
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    for c in candles[1:]:
        feed.feed(c)
    charged = funding_events(ex)
    assert [e.time for e in charged] == [t for t, _ in funding[1:]]
    by_open = {c.open_time: c.open for c in candles}
    for event, (when, rate) in zip(charged, funding[1:], strict=True):
        assert rate > 0
        assert event.mark_price == by_open[when]
        assert event.amount == (-D("0.1") * by_open[when] * rate).quantize(D("1E-8"))
        assert event.amount < 0  # longs pay a positive rate


async def test_funding_with_short_and_positive_rate_is_received():
    candles = real_btc_candles(T0, 10)
    ex, feed = make_exchange(funding=real_btc_funding(T0, T0 + timedelta(hours=9)))
    feed.feed(candles[0])
    await ex.place_market_order(SYM, Side.SELL, D("0.1"))
    (wallet_before,) = [b.wallet_balance for b in await ex.balances()]
    for c in candles[1:]:
        feed.feed(c)
    (event,) = funding_events(ex)
    (wallet_after,) = [b.wallet_balance for b in await ex.balances()]
    assert event.amount > 0
    assert wallet_after - wallet_before == event.amount


async def test_funding_with_flat_position_charges_nothing():
    candles = real_btc_candles(T0, 10)
    ex, feed = make_exchange(funding=real_btc_funding(T0, T0 + timedelta(hours=9)))
    for c in candles:
        feed.feed(c)
    assert funding_events(ex) == []


async def test_isolated_long_with_price_through_liquidation_price_is_liquidated():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.set_margin_type(SYM, MarginType.ISOLATED)
    await ex.set_leverage(SYM, 20)
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    await ex.place_stop_market_order(SYM, Side.SELL, D("0.1"), D("30000.0"), True)
    (pos,) = await ex.positions(SYM)
    assert pos.margin_type is MarginType.ISOLATED
    assert pos.liquidation_price is not None
    assert D("39000") < pos.liquidation_price < D("41000")
    (before,) = await ex.balances()
    feed.bar("42000", "42050", "39000", "39500")
    (after,) = await ex.balances()
    (event,) = [e for e in ex.events if isinstance(e, PositionLiquidated)]
    assert event.price == pos.liquidation_price
    assert await ex.positions(SYM) == []
    assert after.wallet_balance - before.wallet_balance == -pos.isolated_margin
    assert await ex.open_orders(SYM) == []  # the protective stop went with it


async def test_cross_long_with_price_above_liquidation_price_survives():
    ex, feed = make_exchange(balance="1000")
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.set_leverage(SYM, 50)
    await ex.place_market_order(SYM, Side.BUY, D("1"))
    (pos,) = await ex.positions(SYM)
    assert pos.liquidation_price is not None
    liq = pos.liquidation_price.quantize(D("0.1"))
    feed.bar("42000", "42010", str(liq + 5), str(liq + 50))
    assert len(await ex.positions(SYM)) == 1
    feed.bar(str(liq + 50), str(liq + 60), str(liq - 5), str(liq - 1))
    assert await ex.positions(SYM) == []
    assert any(isinstance(e, PositionLiquidated) for e in ex.events)


async def test_account_with_trades_funding_and_stops_keeps_pnl_identity():
    candles = real_btc_candles(T0, 48)
    funding = real_btc_funding(T0, T0 + timedelta(days=2))
    ex, feed = make_exchange(funding=funding)
    (start,) = await ex.balances()
    feed.feed(candles[0])
    await ex.place_market_order(SYM, Side.BUY, D("0.2"))
    await ex.place_limit_order(SYM, Side.SELL, D("0.1"), D("42700.0"), reduce_only=True)
    for c in candles[1:20]:
        feed.feed(c)
    await ex.place_market_order(SYM, Side.SELL, D("0.3"))  # flips to short 0.2
    await ex.place_trailing_stop_order(SYM, Side.BUY, D("0.2"), D("0.5"))
    for c in candles[20:]:
        feed.feed(c)
    (end,) = await ex.balances()
    fills = [e.fill for e in ex.events if isinstance(e, OrderFilled)]
    realized = sum((f.realized_pnl for f in fills), D(0))
    fees = sum((f.fee for f in fills), D(0))
    funding_paid = -sum((e.amount for e in funding_events(ex)), D(0))
    assert len(fills) >= 3 and funding_events(ex) and realized != 0
    assert end.wallet_balance - start.wallet_balance == realized - fees - funding_paid


async def test_close_position_with_open_long_flattens_with_reduce_only_market():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    assert await ex.close_position(SYM) is None
    await ex.place_market_order(SYM, Side.BUY, D("0.25"))
    report = await ex.close_position(SYM)
    assert report is not None and report.reduce_only
    assert report.status is OrderStatus.FILLED
    assert await ex.positions(SYM) == []


async def test_set_margin_type_with_open_position_is_rejected_and_same_type_is_noop():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.set_margin_type(SYM, MarginType.CROSSED)  # already: no error
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    with pytest.raises(InvalidOrderError):
        await ex.set_margin_type(SYM, MarginType.ISOLATED)


async def test_set_leverage_with_value_above_max_is_rejected():
    ex, _ = make_exchange()
    assert await ex.set_leverage(SYM, 10) == 10
    with pytest.raises(InvalidOrderError):
        await ex.set_leverage(SYM, 126)


async def _script(seed: int):
    ex, feed = make_exchange(seed=seed, balance="1000000")
    candles = real_btc_candles(T0, 12)
    feed.feed(candles[0])
    await ex.place_market_order(SYM, Side.BUY, D("8"))
    await ex.place_trailing_stop_order(SYM, Side.SELL, D("8"), D("0.3"))
    for c in candles[1:]:
        feed.feed(c)
    return ex.events


async def test_simulation_with_same_seed_is_identical_and_other_seed_differs():
    first, again, other = await _script(7), await _script(7), await _script(8)
    assert first == again
    assert first != other


async def test_isolated_short_with_price_through_liquidation_price_is_liquidated():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.set_margin_type(SYM, MarginType.ISOLATED)
    await ex.set_leverage(SYM, 25)
    await ex.place_market_order(SYM, Side.SELL, D("0.1"))
    (pos,) = await ex.positions(SYM)
    assert pos.quantity == D("-0.1")
    assert D("42000") < pos.liquidation_price < D("44000")
    (before,) = await ex.balances()
    feed.bar("42000", "44000", "41950", "43900")
    (after,) = await ex.balances()
    assert await ex.positions(SYM) == []
    assert abs(after.wallet_balance - before.wallet_balance + pos.isolated_margin) <= D("1E-8")


async def test_market_data_with_candles_fed_reports_ticker_mark_and_history():
    candles = real_btc_candles(T0, 10)
    funding = real_btc_funding(T0, T0 + timedelta(days=1))
    ex, feed = make_exchange(funding=funding)
    for c in candles:
        feed.feed(c)
    ticker = await ex.get_ticker(SYM)
    mark = await ex.get_mark_price(SYM)
    top = await ex.get_book_ticker(SYM)
    assert ticker.price == candles[-1].close == mark.mark_price
    assert top.bid_price <= ticker.price < top.ask_price
    assert mark.funding_rate == funding[1][1]  # the 08:00 rate is the latest by 10:00
    assert mark.next_funding_time == funding[2][0]
    assert [r.time for r in await ex.funding_history(SYM)] == [t for t, _ in funding[:2]]
    assert await ex.klines(SYM, "1h", limit=3) == candles[-3:]
    assert await ex.klines(SYM, "1h", start=candles[2].open_time, limit=2) == candles[2:4]


async def test_on_candle_with_out_of_order_candle_raises():
    ex, feed = make_exchange()
    first = feed.bar("42000", "42100", "41900", "42000.0")
    with pytest.raises(ValueError, match="not after"):
        ex.on_candle(SYM, first)


async def test_mark_price_with_clock_at_a_funding_time_reports_that_rate_and_the_next_time():
    funding = [(T0 + timedelta(hours=8 * i), D(i + 1) / 10_000) for i in range(4)]
    ex, feed = make_exchange(funding=funding)
    feed.bar("42000", "42100", "41900", "42000")
    feed.clock.now = T0 + timedelta(hours=8)  # exactly the second funding time
    mark = await ex.get_mark_price(SYM)
    assert (mark.funding_rate, mark.next_funding_time) == (D("0.0002"), T0 + timedelta(hours=16))
    feed.clock.now = T0 + timedelta(hours=40)  # after the last one: the 8-hour grid
    mark = await ex.get_mark_price(SYM)
    assert (mark.funding_rate, mark.next_funding_time) == (D("0.0004"), T0 + timedelta(hours=48))


async def test_equity_with_open_position_is_wallet_plus_unrealized_of_balances():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    feed.bar("42000", "42600", "41900", "42500")
    (usdt,) = await ex.balances()
    assert ex.equity() == usdt.wallet_balance + usdt.unrealized_pnl
    assert usdt.unrealized_pnl != 0
