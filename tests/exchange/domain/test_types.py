from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.exchange.domain.types import (
    Candle,
    OrderBook,
    OrderRequest,
    OrderType,
    Side,
    datetime_to_ms,
    ms_to_datetime,
)

from .conftest import BTC_EXCHANGE_INFO, btc_info


def test_instrument_from_binance_with_btc_entry_parses_filters():
    info = btc_info()
    assert info.symbol == "BTCUSDT"
    assert (info.base_asset, info.quote_asset) == ("BTC", "USDT")
    assert info.tick_size == Decimal("0.10")
    assert info.step_size == Decimal("0.001")
    assert info.market_max_qty == Decimal("120")
    assert info.min_notional == Decimal("100")
    assert info.min_price == Decimal("556.80")
    assert info.price_precision == 2
    assert info.multiplier_up == Decimal("1.0500")
    assert info.is_trading


def test_instrument_from_binance_with_missing_lot_size_raises_naming_symbol():
    entry = {**BTC_EXCHANGE_INFO, "filters": BTC_EXCHANGE_INFO["filters"][:1]}
    with pytest.raises(ValueError, match=r"BTCUSDT.*LOT_SIZE"):
        type(btc_info()).from_binance(entry)


def test_ms_conversion_with_round_trip_keeps_milliseconds():
    moment = ms_to_datetime(1704067200123)
    assert moment == datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert datetime_to_ms(moment) == 1704067200123


def test_datetime_to_ms_with_naive_time_raises():
    with pytest.raises(ValueError, match="naive"):
        datetime_to_ms(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": OrderType.LIMIT, "quantity": Decimal(1)}, "price"),
        ({"type": OrderType.MARKET, "quantity": Decimal(0)}, "quantity"),
        ({"type": OrderType.STOP_MARKET, "quantity": Decimal(1)}, "trigger_price"),
        ({"type": OrderType.TRAILING_STOP_MARKET, "quantity": Decimal(1)}, "callback_rate"),
        ({"type": OrderType.MARKET, "close_position": True}, "close_position"),
        (
            {
                "type": OrderType.STOP_MARKET,
                "close_position": True,
                "quantity": Decimal(1),
                "trigger_price": Decimal(1),
            },
            "excludes",
        ),
    ],
)
def test_order_request_with_impossible_shape_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OrderRequest(symbol="BTCUSDT", side=Side.BUY, **kwargs)


def test_candle_with_high_below_close_raises():
    with pytest.raises(ValueError, match="inconsistent"):
        Candle(
            datetime(2024, 1, 1, tzinfo=UTC),
            Decimal(10),
            Decimal(10),
            Decimal(9),
            Decimal(11),
            Decimal(1),
        )


def test_order_book_from_levels_with_unsorted_input_sorts_best_first():
    book = OrderBook.from_levels(
        "BTCUSDT",
        bids=[(Decimal(99), Decimal(1)), (Decimal(100), Decimal(2)), (Decimal(98), Decimal(0))],
        asks=[(Decimal(102), Decimal(1)), (Decimal(101), Decimal(3))],
    )
    assert book.best_bid == Decimal(100)
    assert book.best_ask == Decimal(101)
    assert len(book.bids) == 2
    assert book.levels(Side.BUY) == book.asks
