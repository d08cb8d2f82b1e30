from decimal import Decimal

import numpy as np
import pytest

from apps.risk.domain.vix import DEFAULT_BANDS, CryptoVIX, VolatilityBand

CALM_END = "2023-07-20"  # mid-July 2023: BTC drifting in a narrow range
COVID_CRASH_END = "2020-03-13"  # 100 hours up to the 2020-03-12 crash
MAY_2021_END = "2021-05-20"  # 100 hours up to the 2021-05-19 crash


def reading_at(futures_1h, end: str):
    df = futures_1h("BTCUSDT", end).tail(100)
    return CryptoVIX().score(df.high, df.low, df.open, df.close)


def test_vix_with_calm_btc_period_gives_low_score_and_full_size(futures_1h):
    calm = reading_at(futures_1h, CALM_END)
    assert calm.candles == 100
    assert calm.score < 40
    assert calm.annualised_vol < 0.4
    assert calm.size_multiplier == Decimal("1")


@pytest.mark.parametrize("crash_end", [COVID_CRASH_END, MAY_2021_END])
def test_vix_with_crash_period_gives_higher_score_and_smaller_size(futures_1h, crash_end):
    calm = reading_at(futures_1h, CALM_END)
    crash = reading_at(futures_1h, crash_end)
    assert crash.score > calm.score + 50
    assert crash.annualised_vol > 1.5
    assert crash.size_multiplier < calm.size_multiplier
    assert crash.band.name == "extreme"


def test_vix_score_series_last_value_matches_rolling_score(futures_1h):
    df = futures_1h("BTCUSDT", "2022-07-01").tail(600)
    vix = CryptoVIX()
    series = vix.score_series(df.high, df.low, df.open, df.close)
    assert np.isnan(series[:99]).all()
    for end in (100, 350, 600):
        window = df.iloc[:end]
        one = vix.score(window.high, window.low, window.open, window.close)
        assert series[end - 1] == pytest.approx(one.score, abs=1e-9)


def test_vix_with_constant_prices_gives_zero_score():
    flat = np.full(100, 30000.0)
    reading = CryptoVIX().score(flat, flat, flat, flat)
    assert reading.score == 0.0
    assert reading.annualised_vol == 0.0
    assert reading.size_multiplier == 1


def test_vix_score_from_vol_follows_documented_log_mapping():
    vix = CryptoVIX()
    assert vix.score_from_vol(0.15) == pytest.approx(0.0)
    assert vix.score_from_vol(2.0) == pytest.approx(100.0)
    assert vix.score_from_vol(0.15 * (2.0 / 0.15) ** 0.5) == pytest.approx(50.0)
    assert vix.score_from_vol(5.0) == 100.0
    assert vix.score_from_vol(0.01) == 0.0


def test_vix_band_for_picks_first_band_covering_score():
    vix = CryptoVIX()
    assert vix.band_for(50.0) is DEFAULT_BANDS[0]
    assert vix.band_for(50.01) is DEFAULT_BANDS[1]
    assert vix.band_for(100.0) is DEFAULT_BANDS[-1]


def test_vix_with_too_few_candles_raises():
    prices = np.full(10, 100.0)
    with pytest.raises(ValueError, match="at least 20 candles"):
        CryptoVIX().score(prices, prices, prices, prices)


def test_vix_with_inconsistent_candle_raises():
    highs = np.full(30, 100.0)
    lows = np.full(30, 101.0)
    with pytest.raises(ValueError, match="low <= open, close <= high"):
        CryptoVIX().score(highs, lows, highs, highs)


def test_vix_with_unequal_lengths_raises():
    a = np.full(30, 100.0)
    with pytest.raises(ValueError, match="differ in length"):
        CryptoVIX().score(a, a, a, a[:-1])


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ((), "at least one"),
        ((VolatilityBand(50, Decimal(1)),), "must end at max_score 100"),
        (
            (VolatilityBand(50, Decimal("0.5")), VolatilityBand(100, Decimal(1))),
            "must not increase",
        ),
        ((VolatilityBand(60, Decimal(1)), VolatilityBand(60, Decimal("0.5"))), "ascending"),
    ],
)
def test_vix_with_invalid_bands_raises(bands, message):
    with pytest.raises(ValueError, match=message):
        CryptoVIX(bands=bands)
