"""The agents, the ensemble and HybridAI: learnable, reproducible, batch = live, one contract."""

from __future__ import annotations

import numpy as np
import pytest

from apps.ai.domain.agent import AgentConfig, TradingAgent
from apps.ai.domain.ensemble import EnsembleAgent, EnsembleMode
from apps.ai.domain.env import EnvConfig
from apps.ai.domain.evaluation import action_metrics
from apps.ai.domain.features import FeatureSpec, compute_features, last_features
from apps.ai.domain.hybrid import AiOpinion, HybridAI, HybridMode, filter_allows
from apps.ai.domain.lstm import LstmConfig, LstmPredictor
from apps.ai.domain.types import AiAction, Prediction, Predictor
from apps.strategies.domain.base import OHLCV
from tests.ai.conftest import planted

ENV = EnvConfig(fee=0.0, slippage=None, episode_length=256)
FAST = {"n_envs": 4, "n_steps": 128, "batch_size": 256}


def _agent(candles: OHLCV, *, algorithm: str = "ppo", seed: int = 3, steps: int = 20_000):
    config = AgentConfig(algorithm=algorithm, timesteps=steps, seed=seed, **FAST)
    return TradingAgent.train(candles, config, env_config=ENV)


@pytest.fixture(scope="module")
def split():
    candles = planted(3000)
    return OHLCV.of(candles, 0, 2000), OHLCV.of(candles, 1900)


@pytest.fixture(scope="module")
def ppo(split):
    return _agent(split[0])


@pytest.fixture(scope="module")
def a2c(split):
    return _agent(split[0], algorithm="a2c", steps=8_000)


@pytest.fixture(scope="module")
def lstm(split):
    predictor = LstmPredictor(LstmConfig(seq_len=8, hidden=16, horizon=1, epochs=8, seed=1))
    predictor.fit(split[0])
    return predictor


# --- features ---------------------------------------------------------------------------
def test_features_of_earlier_candles_never_change_when_the_data_is_truncated(split):
    train, _ = split
    whole = compute_features(train)
    cut = compute_features(OHLCV.of(train, 0, 1200))
    assert np.array_equal(whole[:1200], cut, equal_nan=True)
    changed = OHLCV(*(a.copy() for a in (train.open_time, train.open, train.high, train.low,
                                         train.close, train.volume)))  # fmt: skip
    changed.close[1500:] *= 3.0
    assert np.array_equal(compute_features(changed)[:1500], whole[:1500], equal_nan=True)


def test_features_of_the_last_candle_live_equal_the_batch_row_exactly(split):
    train, _ = split
    batch, spec = compute_features(train), FeatureSpec()
    for i in (spec.lookback - 1, 500, 1999):
        assert np.array_equal(last_features(OHLCV.of(train, 0, i + 1)), batch[i])


# --- learnability and reproducibility -----------------------------------------------------------
def test_ppo_learns_a_planted_pattern_and_beats_random_and_flat_out_of_sample(split, ppo):
    _, test = split
    actions, _ = ppo.predict_series(test)
    agent = action_metrics(test, actions, ENV).total_return
    rng = np.random.default_rng(0)
    random = action_metrics(test, rng.integers(0, 3, len(test)).astype(np.int8), ENV)
    assert agent > 0.2 and agent > random.total_return + 0.15  # flat earns 0


def test_same_seed_same_agent_and_another_seed_another(split, ppo):
    again = _agent(split[0])
    _, test = split
    first, other = ppo.predict_series(test), again.predict_series(test)
    assert np.array_equal(first[0], other[0]) and np.array_equal(first[1], other[1])
    assert ppo.to_bytes() == again.to_bytes()
    different = _agent(split[0], seed=4, steps=2_048)
    assert not np.array_equal(different.predict_series(test)[1], first[1])


def test_lstm_finds_the_planted_direction_above_chance(split, lstm):
    _, test = split
    p = lstm.probabilities_series(test)
    step = np.diff(np.log(test.close))
    known = ~np.isnan(p[:-1])
    hits = ((p[:-1] > 0.5) == (step > 0))[known]
    assert hits.mean() > 0.65


# --- batch = live, and the contract over every model and mode -------------------------------------
def _models(ppo, a2c, lstm):
    out = {"ppo": ppo, "a2c": a2c, "lstm": lstm}
    for mode in EnsembleMode:
        out[f"ensemble-{mode}"] = EnsembleAgent((ppo, a2c, lstm), mode, window=48)
    out["hybrid-off"] = HybridAI(HybridMode.OFF)
    out["hybrid-ppo_only"] = HybridAI(HybridMode.PPO_ONLY, agent=ppo)
    out["hybrid-lstm_only"] = HybridAI(HybridMode.LSTM_ONLY, predictor=lstm)
    out["hybrid-hybrid"] = HybridAI(HybridMode.HYBRID, agent=ppo, predictor=lstm, weight=0.6)
    out["hybrid-ensemble"] = HybridAI(
        HybridMode.ENSEMBLE, ensemble=EnsembleAgent((ppo, a2c, lstm), EnsembleMode.MAJORITY)
    )
    return out


def test_every_model_and_mode_keeps_the_contract_and_batch_equals_live(split, ppo, a2c, lstm):
    _, test = split
    for name, model in _models(ppo, a2c, lstm).items():
        assert isinstance(model, Predictor), name
        actions, confidences = model.predict_series(test)
        assert actions.dtype == np.int8 and actions.shape == confidences.shape == (len(test),)
        assert set(np.unique(actions)) <= {0, 1, 2}, name
        assert np.all((confidences >= 0) & (confidences <= 1)), name
        for i in (model.lookback - 1, model.lookback + 17, len(test) - 1):
            if i < 0:
                continue
            prediction = model.live_predict(OHLCV.of(test, 0, i + 1))
            assert isinstance(prediction, Prediction), name
            action, confidence = prediction  # the seed's tuple unpacking
            assert isinstance(action, AiAction) and 0.0 <= confidence <= 1.0, name
            assert (int(action), confidence) == (int(actions[i]), float(confidences[i])), (name, i)


def test_agent_file_round_trip_gives_the_same_predictions(split, ppo):
    _, test = split
    again = TradingAgent.from_bytes(ppo.to_bytes())
    assert np.array_equal(again.predict_series(test)[1], ppo.predict_series(test)[1])


def test_filter_rule_confirms_only_a_confident_agreeing_opinion():
    assert filter_allows(AiOpinion(AiAction.LONG, 0.7, True), long=True)
    assert not filter_allows(AiOpinion(AiAction.LONG, 0.7, True), long=False)
    assert not filter_allows(AiOpinion(AiAction.LONG, 0.3, False), long=True)
    assert not filter_allows(AiOpinion(AiAction.FLAT, 0.9, True), long=True)


def _ensemble_live_before(ensemble: EnsembleAgent, window: OHLCV) -> Prediction:
    """The ensemble's live call before its speed-up: every member's whole series over the
    deepest member's lookback, the last row of the combination."""
    tail = OHLCV.of(window, len(window) - ensemble.lookback)
    actions, confidences = ensemble.predict_series(tail)
    return Prediction(AiAction(int(actions[-1])), float(confidences[-1]))


def test_ensemble_live_predict_gives_the_same_action_and_confidence_as_before(
    split, ppo, a2c, lstm
):
    _, test = split
    assert lstm.lookback > ppo.lookback  # the members' own windows are shorter than the deepest
    for mode in EnsembleMode:
        ensemble = EnsembleAgent((ppo, a2c, lstm), mode, window=48)
        seen = set()
        for end in range(ensemble.lookback, len(test) + 1, 7):
            window = OHLCV.of(test, 0, end)  # longer than the lookback, as a cycle passes it
            now = ensemble.live_predict(window)
            assert now == _ensemble_live_before(ensemble, window), (mode, end)
            seen.add(now.action)
        assert len(seen) >= 2, mode  # the members disagree somewhere: the vote is exercised
