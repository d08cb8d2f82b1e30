"""The LSTM predictor: learns a planted pattern, is reproducible, never looks ahead, gives the same
answer in a series as live, survives bytes, keeps the ``Predictor`` contract, stops early."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
import torch

from apps.ai.domain.features import FeatureSpec
from apps.ai.domain.lstm import BLOCK, LstmConfig, LstmPredictor, decide
from apps.ai.domain.types import AiAction, AiModelError, Prediction, Predictor
from apps.strategies.domain.base import OHLCV

SPEC = FeatureSpec(
    return_horizons=(1, 2, 4),
    vol_window=8,
    fast_vol=3,
    rsi_window=6,
    bb_window=8,
    sma_windows=(4, 10),
    volume_window=8,
)
CONFIG = LstmConfig(
    spec=SPEC,
    seq_len=8,
    hidden=16,
    horizon=1,
    band=0.05,
    epochs=8,
    batch_size=64,
    lr=3e-3,
    patience=3,
    seed=1,
)
N, TRAIN = 3000, 2400


def synthetic(n: int, *, seed: int = 0, phi: float = 0.6) -> OHLCV:
    """Hourly candles whose 1-candle log returns follow AR(1) with coefficient ``phi``: the sign
    of the next return follows the last one (a visible feature, ``ret_1``) about 70% of the time
    for ``phi = 0.6``; ``phi = 0`` is pure noise."""
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, 0.01, n)
    r = np.zeros(n)
    for t in range(1, n):
        r[t] = phi * r[t - 1] + eps[t]
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.002, (2, n)))
    return OHLCV(
        np.arange(n, dtype=np.int64) * 3_600_000,
        open_,
        np.maximum(open_, close) * (1.0 + wick[0]),
        np.minimum(open_, close) * (1.0 - wick[1]),
        close,
        rng.lognormal(3.0, 0.5, n),
    )


def replaced(candles: OHLCV, start: int, close: np.ndarray) -> OHLCV:
    """The candles with new closes (and matching opens, highs, lows) from ``start`` on."""
    c = OHLCV.of(candles)
    closes = c.close.copy()
    closes[start:] = close
    opens = np.concatenate(([c.open[0]], closes[:-1]))
    return OHLCV(
        c.open_time.copy(),
        opens,
        np.maximum(np.maximum(opens, closes), c.high),
        np.minimum(np.minimum(opens, closes), c.low),
        closes,
        c.volume.copy(),
    )


@pytest.fixture(scope="module")
def candles() -> OHLCV:
    return synthetic(N)


@pytest.fixture(scope="module")
def model(candles: OHLCV) -> LstmPredictor:
    predictor = LstmPredictor(CONFIG)
    predictor.fit(OHLCV.of(candles, 0, TRAIN))
    return predictor


def direction_accuracy(p: np.ndarray, candles: OHLCV, rows: np.ndarray, k: int) -> float:
    return float(np.mean((p[rows] >= 0.5) == (candles.close[rows + k] > candles.close[rows])))


def test_fit_with_planted_pattern_beats_chance_on_later_candles(
    model: LstmPredictor, candles: OHLCV
) -> None:
    history = model.history
    assert history is not None
    assert history["accuracy"] >= 0.6
    assert abs(history["base_rate"] - 0.5) < 0.05  # chance is about 0.5
    held_out = np.arange(TRAIN, N - CONFIG.horizon)
    p = model.probabilities_series(candles)
    assert direction_accuracy(p, candles, held_out, CONFIG.horizon) >= 0.6


def test_fit_with_same_seed_gives_identical_weights_and_other_seed_differs(
    model: LstmPredictor, candles: OHLCV
) -> None:
    train = OHLCV.of(candles, 0, TRAIN)
    again = LstmPredictor(CONFIG)
    again.fit(train)
    other = LstmPredictor(dataclasses.replace(CONFIG, seed=2, epochs=2))
    other.fit(train)
    assert again._net is not None and model._net is not None
    for name, value in model._net.state_dict().items():
        assert torch.equal(value, again._net.state_dict()[name])
    p = model.probabilities_series(candles)
    assert np.array_equal(again.probabilities_series(candles), p, equal_nan=True)
    assert again.to_bytes() == model.to_bytes()  # the very same file, byte for byte
    # A short run from a different seed (compared over the same two epochs):
    same_two = LstmPredictor(dataclasses.replace(CONFIG, epochs=2))
    same_two.fit(train)
    assert not np.array_equal(
        other.probabilities_series(candles), same_two.probabilities_series(candles), equal_nan=True
    )


def test_fit_and_predict_leave_torch_threads_and_global_rng_alone(candles: OHLCV) -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    predictor = LstmPredictor(dataclasses.replace(CONFIG, epochs=1, threads=threads + 1))
    predictor.fit(OHLCV.of(candles, 0, 600))
    predictor.predict_series(OHLCV.of(candles, 0, 700))
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.rand(3), expected)


def test_predict_series_with_later_candles_changed_or_removed_keeps_earlier_rows(
    model: LstmPredictor, candles: OHLCV
) -> None:
    actions, confidence = model.predict_series(candles)
    p = model.probabilities_series(candles)
    rng = np.random.default_rng(7)
    for i in (model.lookback - 1, 900, 2500):
        truncated = OHLCV.of(candles, 0, i + 1)
        changed = replaced(
            candles, i + 1, candles.close[i + 1 :] * rng.uniform(0.5, 1.5, N - i - 1)
        )
        for other in (truncated, changed):
            a, c = model.predict_series(other)
            assert np.array_equal(a[: i + 1], actions[: i + 1])
            assert np.array_equal(c[: i + 1], confidence[: i + 1])
            assert np.array_equal(
                model.probabilities_series(other)[: i + 1], p[: i + 1], equal_nan=True
            )
    assert not np.array_equal(model.probabilities_series(changed), p, equal_nan=True)


def test_predict_series_row_equals_live_predict_on_the_candles_up_to_it(
    model: LstmPredictor, candles: OHLCV
) -> None:
    actions, confidence = model.predict_series(candles)
    p = model.probabilities_series(candles)
    first = model.lookback - 1
    rows = [*range(first, first + BLOCK + 2), 1000, 2399, 2400, N - 1]  # every slot of a block
    for i in rows:
        for window in (
            OHLCV.of(candles, 0, i + 1),
            OHLCV.of(candles, i + 1 - model.lookback, i + 1),
        ):
            live = model.live_predict(window)
            assert (live.action, live.confidence) == (actions[i], confidence[i]), i
            assert model.live_probability(window) == p[i]
    assert {AiAction(a) for a in actions[rows]} >= {AiAction.LONG, AiAction.SHORT}


def test_predict_series_before_lookback_is_flat_and_live_predict_refuses_short_window(
    model: LstmPredictor, candles: OHLCV
) -> None:
    first = model.lookback - 1
    assert model.lookback == SPEC.lookback + CONFIG.seq_len - 1
    actions, confidence = model.predict_series(candles)
    assert np.all(actions[:first] == AiAction.FLAT) and np.all(confidence[:first] == 0.0)
    assert np.isnan(model.probabilities_series(candles)[:first]).all()
    assert np.isfinite(model.probabilities_series(candles)[first:]).all()
    with pytest.raises(AiModelError, match=f"needs {model.lookback} closed candles, got {first}"):
        model.live_predict(OHLCV.of(candles, 0, first))
    short = OHLCV.of(candles, 0, 5)
    assert np.array_equal(model.predict_series(short)[0], np.zeros(5, dtype=np.int8))


def test_predict_series_with_non_finite_features_is_flat_there_like_live(
    model: LstmPredictor, candles: OHLCV
) -> None:
    flat = replaced(candles, 1000, np.full(N - 1000, candles.close[999]))  # zero volatility
    flat = OHLCV(flat.open_time, flat.open, flat.close, flat.close, flat.close, flat.volume)
    actions, confidence = model.predict_series(flat)
    holes = np.isnan(model.probabilities_series(flat))
    assert holes[1100:].all() and not holes[model.lookback - 1 : 1000].any()
    assert np.all(actions[holes] == AiAction.FLAT) and np.all(confidence[holes] == 0.0)
    for i in (999, 1003, 1100, N - 1):
        live = model.live_predict(OHLCV.of(flat, 0, i + 1))
        assert (live.action, live.confidence) == (actions[i], confidence[i])


def test_bytes_round_trip_gives_identical_predictions(model: LstmPredictor, candles: OHLCV) -> None:
    loaded = LstmPredictor.from_bytes(model.to_bytes())
    assert loaded.config == model.config and loaded.normalizer == model.normalizer
    # the history travels with the file, but for its wall-clock time (same training, same bytes)
    assert loaded.history == {k: v for k, v in model.history.items() if k != "seconds"}
    for got, want in zip(
        loaded.predict_series(candles), model.predict_series(candles), strict=True
    ):
        assert np.array_equal(got, want)
    window = OHLCV.of(candles, 0, 2000)
    assert loaded.live_predict(window) == model.live_predict(window)


@pytest.mark.parametrize("data", [b"", b"not a model", b"PK\x03\x04" + b"\x00" * 40])
def test_from_bytes_with_garbage_raises_one_line(data: bytes) -> None:
    with pytest.raises(AiModelError, match="cannot load the LSTM predictor") as info:
        LstmPredictor.from_bytes(data)
    assert "\n" not in str(info.value)


def test_from_bytes_with_other_format_or_wrong_shapes_raises(model: LstmPredictor) -> None:
    payload = torch.load(io.BytesIO(model.to_bytes()), weights_only=True)
    meta = json.loads(payload["meta"])
    other_format = {**payload, "meta": json.dumps({**meta, "format": "ppo-agent/1"})}
    other_shape = {
        **payload,
        "meta": json.dumps({**meta, "config": {**meta["config"], "hidden": 8}}),
    }
    for changed, message in (
        (other_format, "format 'ppo-agent/1'"),
        (other_shape, "size mismatch"),
    ):
        buffer = io.BytesIO()
        torch.save(changed, buffer)
        with pytest.raises(AiModelError, match=message):
            LstmPredictor.from_bytes(buffer.getvalue())


def test_untrained_predictor_refuses_to_predict(candles: OHLCV) -> None:
    with pytest.raises(AiModelError, match="not trained"):
        LstmPredictor(CONFIG).live_predict(candles)
    with pytest.raises(AiModelError, match="not trained"):
        LstmPredictor(CONFIG).to_bytes()


def test_predictions_keep_the_predictor_contract(model: LstmPredictor, candles: OHLCV) -> None:
    assert isinstance(model, Predictor)
    actions, confidence = model.predict_series(candles)
    assert actions.dtype == np.int8 and confidence.dtype == np.float64
    assert set(np.unique(actions)) <= {a.value for a in AiAction}
    assert np.all((confidence >= 0.0) & (confidence <= 1.0))
    for i in range(model.lookback - 1, N, 97):
        prediction = model.live_predict(OHLCV.of(candles, 0, i + 1))
        assert isinstance(prediction, Prediction) and isinstance(prediction.action, AiAction)
        assert 0.0 <= prediction.confidence <= 1.0


@pytest.mark.parametrize(
    ("p", "action", "confidence"),
    [
        (0.7, AiAction.LONG, 0.7),
        (0.6, AiAction.LONG, 0.6),  # on the band's edge
        (0.2, AiAction.SHORT, 0.8),
        (0.55, AiAction.FLAT, 0.9),
        (0.5, AiAction.FLAT, 1.0),
        (1.0, AiAction.LONG, 1.0),
        (0.0, AiAction.SHORT, 1.0),
        (np.nan, AiAction.FLAT, 0.0),
    ],
)
def test_decide_with_band_maps_probability_to_action_and_confidence(
    p: float, action: AiAction, confidence: float
) -> None:
    actions, confidences = decide(np.array([p]), 0.1)
    assert actions[0] == action
    assert confidences[0] == pytest.approx(confidence, abs=1e-12)


def test_fit_on_noise_stops_early_and_keeps_the_best_epoch(candles: OHLCV) -> None:
    noise = synthetic(1500, seed=3, phi=0.0)
    config = dataclasses.replace(CONFIG, hidden=32, lr=2e-2, epochs=30, patience=2, seed=4)
    stopped = LstmPredictor(config)
    history = stopped.fit(noise)
    best = history["best_epoch"]
    assert history["stopped_early"] and history["epochs_run"] == best + config.patience < 30
    assert history["val_loss"][best - 1] == min(history["val_loss"])
    assert history["accuracy"] == history["val_accuracy"][best - 1]
    # The kept weights are those after the best epoch: a run of exactly that many epochs.
    exact = LstmPredictor(dataclasses.replace(config, epochs=best))
    exact.fit(noise)
    assert np.array_equal(
        stopped.probabilities_series(noise), exact.probabilities_series(noise), equal_nan=True
    )


def test_fit_with_too_few_candles_raises(candles: OHLCV) -> None:
    with pytest.raises(AiModelError, match="too few samples to fit the LSTM"):
        LstmPredictor(CONFIG).fit(OHLCV.of(candles, 0, 20))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seq_len": 0}, "seq_len must be a positive integer"),
        ({"band": 0.5}, "band must be in"),
        ({"validation": 0.0}, "validation must be in"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"threads": 0}, "threads must be a positive integer"),
    ],
)
def test_config_with_bad_value_raises(change: dict, message: str) -> None:
    with pytest.raises(AiModelError, match=message):
        dataclasses.replace(CONFIG, **change)


def test_config_dict_round_trip() -> None:
    assert LstmConfig.from_dict(CONFIG.as_dict()) == CONFIG
