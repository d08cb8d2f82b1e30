"""The trading environment: gymnasium's and SB3's checks, seeding, the signal kernel's costs and
funding, no look-ahead, the 5-action mapping, the reward, and ``simulate_actions`` = stepping."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from apps.ai.domain.env import Action5, EnvConfig, TradingEnv, simulate_actions
from apps.ai.domain.features import FeatureSet, FeatureSpec, Normalizer, compute_features
from apps.ai.domain.types import AiAction
from apps.backtest.research.domain.funding import apply_funding, funding_per_candle
from apps.backtest.research.domain.kernel import equity_curve
from apps.backtest.research.domain.signal_kernel import (
    BookSlippage,
    ExecutionParams,
    book_fill_bps,
    simulate_signals,
)

HOUR = 3_600_000
FIELDS = ("open_time", "open", "high", "low", "close", "volume")
FLAT, LONG, SHORT = int(AiAction.FLAT), int(AiAction.LONG), int(AiAction.SHORT)


@dataclass(frozen=True)
class Candles:
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def _candles(n: int = 400, seed: int = 0, volume: float = 2_000.0) -> Candles:
    """A random walk around 100 whose opens gap from the previous close; thin books (an order
    of 1000 quote walks about 12 levels) and one candle without volume."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.002, n - 1))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.003, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.003, n)))
    vol = rng.lognormal(np.log(volume), 0.5, n)
    vol[n // 2] = 0.0
    open_time = 1_704_067_200_000 + np.arange(n, dtype=np.int64) * HOUR
    return Candles(open_time, open_, high, low, close, vol)


def _funding(c: Candles, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Settlements every 8 hours (a minute after a candle opens), random rates of both signs."""
    times = np.arange(c.open_time[0] + 60_000, c.open_time[-1] + HOUR, 8 * HOUR, dtype=np.int64)
    rates = np.random.default_rng(seed).normal(1e-4, 3e-4, times.size)
    return times, rates


def _features(c: Candles, normalizer: Normalizer | None = None) -> FeatureSet:
    spec = FeatureSpec()
    normalizer = normalizer or Normalizer.fit(compute_features(c, spec))
    return FeatureSet.of(c, spec, normalizer)


def _env(c: Candles, config: EnvConfig, funding: bool = True) -> TradingEnv:
    return TradingEnv(c, _features(c), funding=_funding(c) if funding else None, config=config)


def _play(env: TradingEnv, start: int, actions: list[int]) -> tuple[list[float], list[dict]]:
    env.reset(options={"start": start})
    rewards, infos = [], []
    for a in actions:
        _, reward, terminated, _, info = env.step(a)
        rewards.append(reward)
        infos.append(info)
        assert not terminated
    return rewards, infos


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
@pytest.mark.parametrize("actions", [3, 5])
def test_env_with_gymnasium_and_sb3_checkers_passes(actions: int) -> None:
    env = _env(_candles(), EnvConfig(episode_length=50, actions=actions))

    gym_check_env(env)
    sb3_check_env(env)


def test_env_observation_is_the_scaled_feature_row_only() -> None:
    c = _candles()
    features = _features(c)
    env = TradingEnv(c, features, config=EnvConfig(episode_length=20))

    obs, info = env.reset(options={"start": 100})
    obs_next, *_ = env.step(LONG)
    obs_after, *_ = env.step(LONG)

    assert obs.dtype == np.float32 and obs.shape == (FeatureSpec().size,)
    np.testing.assert_array_equal(obs, features.scaled[100])
    np.testing.assert_array_equal(obs_next, features.scaled[101])
    np.testing.assert_array_equal(obs_after, features.scaled[102])
    assert info["index"] == 100 and info["position"] == 0


def test_env_with_same_seed_repeats_episodes_and_different_seeds_differ() -> None:
    c = _candles()

    def run(seed: int) -> tuple[int, list[float]]:
        env = _env(c, EnvConfig(episode_length=30))
        env.action_space.seed(seed)
        _, info = env.reset(seed=seed)
        start, rewards = info["index"], []
        for _ in range(60):  # two episodes: the second from the same generator
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            rewards.append(reward)
            if terminated or truncated:
                env.reset()
        return start, rewards

    assert run(3) == run(3)
    starts = {run(seed)[0] for seed in range(5)}
    assert len(starts) > 1
    assert run(3)[1] != run(4)[1]


def test_env_episodes_start_where_features_are_valid_and_next_open_exists() -> None:
    c = _candles()
    features = _features(c)
    env = TradingEnv(c, features, config=EnvConfig(episode_length=50))
    first_valid = int(np.flatnonzero(features.valid)[0])

    assert env.starts[0] == first_valid
    assert env.starts[-1] == len(c.close) - 1 - 50
    for seed in range(20):
        _, info = env.reset(seed=seed)
        assert first_valid <= info["index"] <= len(c.close) - 51
    with pytest.raises(ValueError, match="no episode can start"):
        env.reset(options={"start": first_valid - 1})
    with pytest.raises(ValueError, match="no episode can start"):
        env.reset(options={"start": len(c.close) - 50})


def test_env_episode_with_length_none_runs_until_the_data_ends() -> None:
    c = _candles(n=200)
    env = _env(c, EnvConfig(episode_length=None))
    _, info = env.reset(seed=0)
    start, steps, truncated = info["index"], 0, False
    while not truncated:
        _, _, terminated, truncated, info = env.step(LONG)
        steps += 1
        assert not terminated

    assert start == env.starts[0] and info["index"] == 199 and steps == 199 - start
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(FLAT)
    assert _env(c, EnvConfig(episode_length=0)).starts.tolist() == env.starts.tolist()


@pytest.mark.parametrize(
    ("side", "leverage"), [(LONG, 1.0), (SHORT, 1.0), (LONG, 3.0), (SHORT, 2.0)]
)
def test_env_one_trade_costs_equal_the_signal_kernel(side: int, leverage: float) -> None:
    c = _candles()
    ft, fr = _funding(c)
    config = EnvConfig(leverage=leverage, episode_length=80)
    start, i, j = 100, 105, 150  # decide at the close of i, exit at the close of j
    actions = [FLAT] * (i - start) + [side] * (j - i) + [FLAT] * 10
    _, infos = _play(_env(c, config), start, actions)

    # by hand, from the kernel's formulas
    sign = 1 if side == LONG else -1
    book = BookSlippage.from_depth_model()
    q = config.stake * leverage / c.open[i + 1]
    bps_in = float(book_fill_bps(q, c.volume[i], book))
    bps_out = float(book_fill_bps(q, c.volume[j], book))
    entry = c.open[i + 1] * (1.0 + sign * bps_in / 10_000.0)
    exit_ = c.open[j + 1] * (1.0 - sign * bps_out / 10_000.0)
    fees = config.fee * q * entry + config.fee * q * exit_
    v = funding_per_candle(c.open_time, c.close, ft, fr)
    funding = sign * q * v[i + 1 : j + 1].sum()
    expected = sign * q * (exit_ - entry) - fees - funding
    closed = infos[j - start]
    assert bps_in > 1.0 and bps_out > 1.0 and abs(funding) > 0.0  # every cost is exercised
    assert closed["equity"] - config.initial_equity == pytest.approx(expected, rel=1e-9)
    assert closed["fees"] == pytest.approx(fees, rel=1e-9)
    assert closed["funding"] == pytest.approx(funding, rel=1e-9)
    slippage = q * c.open[i + 1] * bps_in / 1e4 + q * c.open[j + 1] * bps_out / 1e4
    assert closed["slippage"] == pytest.approx(slippage, rel=1e-9)
    assert closed["trades"] == 1 and closed["position"] == 0
    assert infos[-1]["equity"] == closed["equity"]  # flat afterwards: nothing moves

    # the kernel itself
    n = c.close.size
    columns = {k: np.zeros(n, dtype=bool) for k in ("enter_long", "exit_long")}
    columns |= {k: np.zeros(n, dtype=bool) for k in ("enter_short", "exit_short")}
    name = "long" if side == LONG else "short"
    columns[f"enter_{name}"][i] = True
    columns[f"exit_{name}"][j] = True
    run = simulate_signals(
        c.open, c.high, c.low, c.close, c.volume, **columns, params=config.execution_params()
    )
    trades, _, paid = apply_funding(run.trades, np.zeros(n), v)
    assert len(trades) == 1 and trades.exit_index[0] == j + 1
    assert closed["equity"] - config.initial_equity == pytest.approx(trades.pnl[0], rel=1e-9)
    assert paid[0] == pytest.approx(funding, rel=1e-9)


def test_env_flip_closes_then_opens_and_charges_both() -> None:
    c = _candles()
    config = EnvConfig(episode_length=20)
    env = _env(c, config, funding=False)
    t = 120
    env.reset(options={"start": t})
    _, _, _, _, before = env.step(LONG)
    _, _, _, _, after = env.step(SHORT)

    book = config.slippage
    q_long = config.stake / c.open[t + 1]
    q_short = config.stake / c.open[t + 2]
    bps_close = float(book_fill_bps(q_long, c.volume[t + 1], book))
    bps_open = float(book_fill_bps(q_short, c.volume[t + 1], book))
    exit_ = c.open[t + 2] * (1.0 - bps_close / 1e4)
    entry = c.open[t + 2] * (1.0 - bps_open / 1e4)  # a short sells below the reference
    change = (
        q_long * (exit_ - c.close[t + 1])
        - config.fee * q_long * exit_
        - q_short * (c.close[t + 2] - entry)
        - config.fee * q_short * entry
    )
    assert after["equity"] - before["equity"] == pytest.approx(change, rel=1e-9)
    assert after["fees"] - before["fees"] == pytest.approx(
        config.fee * (q_long * exit_ + q_short * entry), rel=1e-9
    )
    assert after["trades"] == 2 and after["position"] == -1


@settings(max_examples=40, deadline=None)
@given(
    volume=st.sampled_from([0.0, 1e-3, 5.0, 400.0, 5_000.0, 1e6]),
    stake=st.floats(10.0, 50_000.0),
    levels=st.integers(1, 60),
    min_level_qty=st.sampled_from([0.0, 0.05]),
)
def test_env_slippage_of_entry_and_exit_equals_book_fill_bps(
    volume: float, stake: float, levels: int, min_level_qty: float
) -> None:
    c = _candles(n=120)
    c = replace(c, volume=np.full(120, volume))
    book = BookSlippage(levels=levels, spacing_bps=0.7, min_level_qty=min_level_qty)
    config = EnvConfig(stake=stake, slippage=book, episode_length=None, fee=0.0)
    actions = np.full(120, FLAT)
    actions[70:90] = LONG  # open at the close of 70, close at the close of 90
    run = simulate_actions(c, actions, config)

    q = stake / c.open[71]
    bps_in = float(book_fill_bps(q, volume, book))
    bps_out = float(book_fill_bps(q, volume, book))
    assert run.slippage[71] == pytest.approx(q * c.open[71] * bps_in / 1e4, rel=1e-9, abs=1e-12)
    assert run.slippage[91] == pytest.approx(q * c.open[91] * bps_out / 1e4, rel=1e-9, abs=1e-12)


def test_env_without_slippage_charges_only_fees() -> None:
    c = _candles()
    actions = np.full(c.close.size, FLAT)
    actions[100:140] = LONG
    run = simulate_actions(c, actions, EnvConfig(slippage=None))

    assert run.slippage.sum() == 0.0
    q = 1_000.0 / c.open[101]
    expected = q * (c.open[141] - c.open[101]) - 0.0004 * q * (c.open[101] + c.open[141])
    assert run.final_equity - 10_000.0 == pytest.approx(expected, rel=1e-9)


def _signals_of(actions: np.ndarray) -> dict[str, np.ndarray]:
    """The kernel's signal columns of a target-position series that never flips directly."""
    n = actions.size
    cols = {k: np.zeros(n, dtype=bool) for k in ("enter_long", "exit_long")}
    cols |= {k: np.zeros(n, dtype=bool) for k in ("enter_short", "exit_short")}
    held = 0
    for t, a in enumerate(actions.tolist()):
        target = (0, 1, -1)[a]
        if held == 0 and target:
            cols["enter_long" if target > 0 else "enter_short"][t] = True
        elif held and target != held:
            assert target == 0, "a flip cannot be written as signals"
            cols["exit_long" if held > 0 else "exit_short"][t] = True
        held = target
    return cols


def _no_flip_actions(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    actions = np.zeros(n, dtype=np.int64)
    t = 60
    while t < n - 30:
        length = int(rng.integers(3, 25))
        actions[t : t + length] = rng.choice([LONG, SHORT])
        t += length + int(rng.integers(1, 10))
    return actions


def test_simulate_actions_equity_equals_the_kernel_equity_curve_with_funding() -> None:
    c = _candles(n=600, seed=5)
    funding = _funding(c, seed=6)
    actions = _no_flip_actions(c.close.size, seed=7)
    config = EnvConfig()
    run = simulate_actions(c, actions, config, funding=funding)

    trades = simulate_signals(
        c.open,
        c.high,
        c.low,
        c.close,
        c.volume,
        **_signals_of(actions),
        params=config.execution_params(),
    ).trades
    per_candle = funding_per_candle(c.open_time, c.close, *funding)
    equity = equity_curve(trades, c.close, config.initial_equity)
    trades, equity, _ = apply_funding(trades, equity, per_candle)

    assert len(trades) == run.trades > 10
    np.testing.assert_allclose(run.equity, equity, rtol=1e-12, atol=1e-9)
    assert run.fees.sum() == pytest.approx(trades.fees.sum(), rel=1e-9)


def test_simulate_actions_on_shipped_btc_data_equals_the_kernel(shared_data) -> None:
    from apps.market.data import load_funding, load_klines

    futures = shared_data / "futures"
    klines = load_klines(futures / "BTCUSDT-1h.csv.gz")
    rates = load_funding(futures / "BTCUSDT-funding.csv.gz")
    c = Candles(*(getattr(klines, name)[-2_000:] for name in FIELDS))
    funding = (rates.funding_time, rates.funding_rate)
    actions = _no_flip_actions(2_000, seed=11)
    config = EnvConfig(stake=200_000.0, leverage=2.0)  # large enough to walk the book
    run = simulate_actions(c, actions, config, funding=funding)

    trades = simulate_signals(
        c.open, c.high, c.low, c.close, c.volume, **_signals_of(actions),
        params=config.execution_params(),
    ).trades  # fmt: skip
    equity = equity_curve(trades, c.close, config.initial_equity)
    per_candle = funding_per_candle(c.open_time, c.close, *funding)
    trades, equity, _ = apply_funding(trades, equity, per_candle)

    assert run.slippage.sum() > 0.0 and run.funding.sum() != 0.0
    np.testing.assert_allclose(run.equity, equity, rtol=1e-12, atol=1e-7)


@pytest.mark.parametrize("actions", [3, 5])
def test_simulate_actions_equals_stepping_the_env(actions: int) -> None:
    c = _candles(n=500, seed=2)
    funding = _funding(c)
    config = EnvConfig(episode_length=300, drawdown_penalty=1.5, actions=actions, leverage=2.0)
    env = TradingEnv(c, _features(c), funding=funding, config=config)
    start = 120
    chosen = np.random.default_rng(9).integers(0, actions, 300)
    env.reset(options={"start": start})
    rewards, equity, position = [], [], []
    for a in chosen.tolist():
        _, reward, _, truncated, info = env.step(a)
        rewards.append(reward)
        equity.append(info["equity"])
        position.append(info["position"])
    assert truncated

    series = np.zeros(c.close.size, dtype=np.int64)  # FLAT / NEUTRAL before the episode
    series[start : start + 300] = chosen
    run = simulate_actions(c, series, config, funding=funding)
    window = slice(start + 1, start + 301)

    assert run.reward[window].tolist() == rewards  # bit for bit: the same transition code
    assert run.equity[window].tolist() == equity
    assert run.position[window].tolist() == position
    assert run.fees[window].sum() == pytest.approx(info["fees"], rel=1e-12)
    assert run.slippage[window].sum() == pytest.approx(info["slippage"], rel=1e-12)
    assert run.funding[window].sum() == pytest.approx(info["funding"], rel=1e-12)
    np.testing.assert_allclose(run.returns[1:], run.equity[1:] / run.equity[:-1] - 1.0)


def test_env_without_look_ahead_keeps_observations_and_rewards_when_later_candles_change() -> None:
    a = _candles(n=400, seed=3)
    k = 250
    rng = np.random.default_rng(4)
    factor = np.ones(400)
    factor[k + 1 :] = np.exp(rng.normal(0.0, 0.05, 400 - k - 1))
    volume = a.volume.copy()
    volume[k + 1 :] *= 3.0
    b = Candles(
        a.open_time, a.open * factor, a.high * factor, a.low * factor, a.close * factor, volume
    )
    normalizer = Normalizer.fit(compute_features(a, FeatureSpec()))
    funding_a, funding_b = _funding(a), _funding(a, seed=99)  # later rates differ too
    funding_b[1][: k // 8 + 1] = funding_a[1][: k // 8 + 1]  # settlements up to candle k
    config = EnvConfig(episode_length=None, drawdown_penalty=1.0)
    env_a = TradingEnv(a, _features(a, normalizer), funding=funding_a, config=config)
    env_b = TradingEnv(b, _features(b, normalizer), funding=funding_b, config=config)
    actions = np.random.default_rng(5).integers(0, 3, 400).tolist()

    def trace(env: TradingEnv) -> tuple[list[np.ndarray], list[float]]:
        obs, info = env.reset(options={"start": 100})
        observations, rewards = [obs], []
        while info["index"] < k:
            obs, reward, _, _, info = env.step(actions[info["index"]])
            observations.append(obs)
            rewards.append(reward)
        return observations, rewards  # observations of candles 100..k, rewards of steps < k

    obs_a, rewards_a = trace(env_a)
    obs_b, rewards_b = trace(env_b)
    assert rewards_a == rewards_b
    for x, y in zip(obs_a, obs_b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(env_a.step(LONG)[0], env_b.step(LONG)[0])  # later rows do differ


def test_env_five_actions_map_onto_target_positions_without_flips() -> None:
    c = _candles()
    env = _env(c, EnvConfig(actions=5, episode_length=30))
    env.reset(options={"start": 100})
    script = [
        (Action5.NEUTRAL, 0),
        (Action5.LONG_EXIT, 0),
        (Action5.LONG_ENTER, 1),
        (Action5.NEUTRAL, 1),
        (Action5.LONG_ENTER, 1),
        (Action5.SHORT_ENTER, 1),  # no flip: ignored while long
        (Action5.SHORT_EXIT, 1),
        (Action5.LONG_EXIT, 0),
        (Action5.SHORT_ENTER, -1),
        (Action5.LONG_ENTER, -1),
        (Action5.LONG_EXIT, -1),
        (Action5.SHORT_EXIT, 0),
    ]
    positions = [env.step(int(a))[4]["position"] for a, _ in script]

    assert positions == [p for _, p in script]
    assert env.step(int(Action5.NEUTRAL))[4]["trades"] == 2


def test_env_reward_is_scaled_equity_change_minus_drawdown_increase_penalty() -> None:
    c = _candles()
    config = EnvConfig(episode_length=100, drawdown_penalty=2.0, reward_scale=10.0)
    env = _env(c, config)
    env.reset(options={"start": 150})
    equity, rewards = [config.initial_equity], []
    for a in np.random.default_rng(1).integers(0, 3, 100).tolist():
        _, reward, _, _, info = env.step(a)
        equity.append(info["equity"])
        rewards.append(reward)

    e = np.array(equity)
    dd = 1.0 - e / np.maximum.accumulate(e)
    expected = 10.0 * (np.diff(e) / config.initial_equity - 2.0 * np.maximum(np.diff(dd), 0.0))
    np.testing.assert_allclose(rewards, expected, rtol=1e-9, atol=1e-12)
    assert dd.max() > 0.0


def test_env_with_a_bad_action_raises() -> None:
    env = _env(_candles(), EnvConfig(episode_length=10))
    env.reset(seed=0)

    with pytest.raises(ValueError, match="action must be in"):
        env.step(3)
    with pytest.raises(ValueError, match="expected 400 or 399 actions"):
        simulate_actions(_candles(), [0, 1], EnvConfig())


def test_env_with_equity_exhausted_terminates() -> None:
    c = _candles()
    config = EnvConfig(stake=1_000.0, leverage=125.0, initial_equity=500.0, episode_length=200)
    env = _env(c, config, funding=False)
    env.reset(options={"start": 100})
    terminated = False
    for k in range(200):  # flip every candle at 125x on a thin book
        _, _, terminated, truncated, info = env.step((LONG, SHORT)[k % 2])
        if terminated or truncated:
            break

    assert terminated and info["equity"] <= 0.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fee", -0.1, "fee"),
        ("stake", 0.0, "stake"),
        ("leverage", 0.5, "leverage"),
        ("leverage", 200.0, "leverage"),
        ("initial_equity", -1.0, "initial_equity"),
        ("episode_length", -5, "episode_length"),
        ("episode_length", 2.5, "episode_length"),
        ("drawdown_penalty", -1.0, "drawdown_penalty"),
        ("reward_scale", 0.0, "reward_scale"),
        ("actions", 4, "actions"),
    ],
)
def test_env_config_with_bad_value_raises(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnvConfig(**{field: value})


def test_env_config_execution_params_match_the_kernel_params() -> None:
    config = EnvConfig(fee=0.0005, stake=250.0, leverage=4.0, slippage=None)

    assert config.execution_params() == ExecutionParams(
        stake=250.0, fee=0.0005, leverage=4.0, slippage=None
    )


def test_env_with_too_few_valid_rows_raises() -> None:
    c = _candles(n=80)

    with pytest.raises(ValueError, match="no episode of 720 steps fits"):
        _env(c, EnvConfig())
