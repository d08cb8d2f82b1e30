"""The synthetic depth model, book walking and the in-candle path."""

from datetime import timedelta
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from apps.exchange.domain.filters import Rounding, snap_to_step
from apps.exchange.domain.simulated import DepthModel, candle_path, walk_book
from apps.exchange.domain.simulated.book import step_snapper, take_levels
from apps.exchange.domain.types import BookLevel, Side

from .conftest import T0, btc_info, candle

INFO = btc_info()


def test_depth_model_with_close_on_tick_puts_close_at_best_bid_one_tick_spread():
    book = DepthModel().synthesize(INFO, D("42000.0"), D(1000), seed=1, time=T0)
    assert book.best_bid == D("42000.0")
    assert book.best_ask == D("42000.1")


def test_depth_model_with_close_between_ticks_straddles_it():
    book = DepthModel().synthesize(INFO, D("42000.04"), D(1000), seed=1, time=T0)
    assert (book.best_bid, book.best_ask) == (D("42000.0"), D("42000.1"))


def test_depth_model_with_defaults_spaces_levels_by_half_a_basis_point():
    book = DepthModel().synthesize(INFO, D("42000.0"), D(1000), seed=1, time=T0)
    assert len(book.bids) == len(book.asks) == 50
    assert book.bids[0].price - book.bids[1].price == D("2.1")
    assert book.asks[1].price - book.asks[0].price == D("2.1")


def test_depth_model_with_more_volume_holds_proportionally_more():
    model = DepthModel(jitter=D(0))
    thin = model.synthesize(INFO, D("42000.0"), D(1000), seed=1, time=T0)
    thick = model.synthesize(INFO, D("42000.0"), D(10000), seed=1, time=T0)
    assert thin.asks[0].qty == D("0.4")  # 1000 * 2 % / 50
    assert thick.asks[0].qty == D("4.0")


def test_depth_model_with_zero_volume_keeps_a_thin_book():
    book = DepthModel(jitter=D(0)).synthesize(INFO, D("42000.0"), D(0), seed=1, time=T0)
    assert book.asks[0].qty == INFO.min_qty * 10


def test_depth_model_with_same_seed_and_time_is_identical_and_other_seed_differs():
    model = DepthModel()
    a = model.synthesize(INFO, D("42000.0"), D(1000), seed=1, time=T0)
    b = model.synthesize(INFO, D("42000.0"), D(1000), seed=1, time=T0)
    c = model.synthesize(INFO, D("42000.0"), D(1000), seed=2, time=T0)
    d = model.synthesize(INFO, D("42000.0"), D(1000), seed=1, time=T0 + timedelta(hours=1))
    assert a == b
    assert a != c
    assert a != d


def test_depth_model_with_jitter_keeps_sizes_within_bounds_and_on_step():
    book = DepthModel().synthesize(INFO, D("42000.0"), D(1000), seed=3, time=T0)
    for level in book.bids + book.asks:
        assert D("0.28") - INFO.step_size <= level.qty <= D("0.52")
        assert level.qty % INFO.step_size == 0


def test_walk_book_with_limit_stops_at_worse_levels():
    asks = (BookLevel(D(100), D(1)), BookLevel(D(101), D(1)), BookLevel(D(102), D(1)))
    fills, left = walk_book(asks, Side.BUY, D("2.5"), limit=D(101))
    assert fills == [BookLevel(D(100), D(1)), BookLevel(D(101), D(1))]
    assert left == (BookLevel(D(102), D(1)),)


def test_walk_book_with_partial_level_leaves_the_rest():
    bids = (BookLevel(D(100), D(1)), BookLevel(D(99), D(1)))
    fills, left = walk_book(bids, Side.SELL, D("1.5"))
    assert fills == [BookLevel(D(100), D(1)), BookLevel(D(99), D("0.5"))]
    assert left == (BookLevel(D(99), D("0.5")),)


def test_candle_path_with_up_candle_visits_low_first():
    assert candle_path(candle(T0, 10, 12, 9, 11)) == (D(10), D(9), D(12), D(11))


def test_candle_path_with_down_candle_visits_high_first():
    assert candle_path(candle(T0, 11, 12, 9, 10)) == (D(11), D(12), D(9), D(10))


def test_side_levels_with_any_side_are_the_synthesized_book_side():
    model = DepthModel()
    book = model.synthesize(INFO, D("42000.04"), D(1234), seed=5, time=T0)
    bids = model.side_levels(INFO, D("42000.04"), D(1234), Side.BUY, seed=5, time=T0)
    asks = model.side_levels(INFO, D("42000.04"), D(1234), Side.SELL, seed=5, time=T0)
    assert (tuple(bids), tuple(asks)) == (book.bids, book.asks)


def test_take_levels_with_any_quantity_fills_like_walk_book():
    asks = DepthModel().synthesize(INFO, D("42000.0"), D(100), seed=2, time=T0).asks
    for qty in (D("0.001"), D("0.04"), D("1.234"), D(1000)):
        fills, _ = walk_book(asks, Side.BUY, qty)
        assert take_levels(iter(asks), qty) == fills


@given(
    value=st.decimals(min_value=0, max_value=10**9, places=9, allow_nan=False),
    step=st.sampled_from([D("0.001"), D("1"), D("0.10"), D("5"), D("0.5"), D("1E-8")]),
)
def test_step_snapper_with_any_value_equals_snap_to_step(value, step):
    snapped = step_snapper(step)(value)
    expected = snap_to_step(value, step, Rounding.DOWN)
    assert snapped == expected and str(snapped) == str(expected)
