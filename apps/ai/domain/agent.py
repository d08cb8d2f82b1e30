"""TradingAgent: a reinforcement-learning agent (stable-baselines3 PPO or A2C, MlpPolicy) trained on
``TradingEnv``; it keeps the ``Predictor`` contract.

Training (``TradingAgent.train``) runs ``n_envs`` copies of the environment over the training
candles (``DummyVecEnv``: sequential, so a seed reproduces the run), with the features normalised
by statistics of those candles only. ``torch`` runs on ``threads`` threads, set on purpose (the
default 2: this machine's cores; more threads only add contention for small networks).

The file (``to_bytes``) holds the configuration, the normaliser and the policy's weights, and
nothing that varies between two runs (no timestamps): the same seed and data give the same
bytes, so a shipped model can be reproduced bit for bit (on one machine and set of versions).

Inference does not go through torch: the policy's weights are copied into float64 numpy arrays
and evaluated with ``np.einsum`` (no BLAS), whose sums run in the same order for one row as for
many. So ``predict_series`` (a whole series at once, backtests) and ``live_predict`` (one window,
live) give the very same probabilities, bit for bit. The action is the most probable one; its
probability is the confidence.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, cast

import numpy as np
from numpy.typing import NDArray

from apps.ai.domain.features import FeatureSet, FeatureSpec, Normalizer, compute_features
from apps.ai.domain.types import (
    ActionArray,
    AiAction,
    AiModelError,
    FloatArray,
    Prediction,
)
from apps.strategies.domain.base import OHLCV, CandleArrays

if TYPE_CHECKING:  # stable-baselines3 is imported lazily, in ``train`` only
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.vec_env import VecEnv

ALGORITHMS = ("ppo", "a2c")
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class AgentConfig:
    algorithm: str = "ppo"
    timesteps: int = 50_000
    seed: int = 0
    n_envs: int = 8
    n_steps: int = 256  # per environment per rollout
    batch_size: int = 512
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    ent_coef: float = 0.01
    net_arch: tuple[int, ...] = (64, 64)
    threads: int = 2
    spec: FeatureSpec = field(default_factory=FeatureSpec)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise AiModelError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        if self.timesteps < 1 or self.n_envs < 1 or self.n_steps < 1 or self.threads < 1:
            raise AiModelError("timesteps, n_envs, n_steps and threads must be positive")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.as_dict()
        data["net_arch"] = list(self.net_arch)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentConfig:
        values = dict(data)
        values["spec"] = FeatureSpec.from_dict(values.get("spec", {}))
        values["net_arch"] = tuple(values.get("net_arch", (64, 64)))
        return cls(**values)


class _AlgorithmKwargs(TypedDict):
    """The keyword arguments PPO and A2C share."""

    policy: str
    env: VecEnv
    learning_rate: float
    gamma: float
    ent_coef: float
    seed: int
    policy_kwargs: dict[str, Any]
    device: str
    verbose: int


@dataclass(frozen=True)
class _Weights:
    """The policy network's layers (weights (out, in) and biases), float64."""

    hidden: tuple[tuple[FloatArray, FloatArray], ...]
    action: tuple[FloatArray, FloatArray]
    activation: str  # "tanh" or "relu"

    def probabilities(self, obs: NDArray[np.floating[Any]]) -> FloatArray:
        x = np.asarray(obs, dtype=np.float64)
        for w, b in self.hidden:
            x = np.einsum("ij,kj->ik", x, w) + b
            x = np.tanh(x) if self.activation == "tanh" else np.maximum(x, 0.0)
        logits = np.einsum("ij,kj->ik", x, self.action[0]) + self.action[1]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probabilities: FloatArray = e / e.sum(axis=1, keepdims=True)
        return probabilities


def _extract(model: PPO | A2C) -> _Weights:
    """Copy the SB3 MlpPolicy's actor (mlp_extractor.policy_net + action_net) to numpy."""
    import torch

    policy = model.policy
    layers, activation = [], "tanh"
    for module in policy.mlp_extractor.policy_net:
        if isinstance(module, torch.nn.Linear):
            layers.append(
                (
                    module.weight.detach().double().numpy().copy(),
                    module.bias.detach().double().numpy().copy(),
                )
            )
        elif isinstance(module, torch.nn.ReLU):
            activation = "relu"
    # SB3 types the head as a Module; on a Discrete action space it is a Linear layer
    head = cast(torch.nn.Linear, policy.action_net)
    return _Weights(
        tuple(layers),
        (head.weight.detach().double().numpy().copy(), head.bias.detach().double().numpy().copy()),
        activation,
    )


class TradingAgent:
    """A trained agent: its configuration, the training window's normaliser, the policy."""

    def __init__(
        self,
        config: AgentConfig,
        normalizer: Normalizer,
        weights: _Weights,
        history: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.normalizer = normalizer
        self._weights = weights
        self.history = history or {}

    @property
    def spec(self) -> FeatureSpec:
        return self.config.spec

    @property
    def lookback(self) -> int:
        return self.spec.lookback

    # --- training --------------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        candles: CandleArrays | list[CandleArrays] | tuple[CandleArrays, ...],
        config: AgentConfig,
        *,
        env_config: Any = None,
        funding: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
        progress: Progress | None = None,
    ) -> TradingAgent:
        """Train on ``candles`` (the training range only; several series, e.g. symbols, are
        shared among the environments in turn) and return the agent.

        ``env_config``: the ``EnvConfig`` (fees, slippage, stake, episodes, penalty); ``funding``:
        per series, (funding times ms, rates) charged in the environment as in backtests.
        """
        import torch
        from stable_baselines3 import A2C, PPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.vec_env import DummyVecEnv

        from apps.ai.domain.env import EnvConfig, TradingEnv

        many: list[CandleArrays] = list(candles) if isinstance(candles, list | tuple) else [candles]
        series = [OHLCV.of(c) for c in many]
        fundings = list(funding) if funding is not None else [None] * len(series)
        raw = np.vstack([compute_features(s, config.spec) for s in series])
        normalizer = Normalizer.fit(raw)  # the training rows only
        features = [FeatureSet.of(s, config.spec, normalizer) for s in series]
        env_config = env_config or EnvConfig()
        torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)

        def make(rank: int) -> Callable[[], Any]:
            def build() -> Any:
                k = rank % len(series)
                env = TradingEnv(series[k], features[k], config=env_config, funding=fundings[k])
                env.reset(seed=config.seed + rank)
                return env

            return build

        venv = DummyVecEnv([make(i) for i in range(config.n_envs)])
        venv.seed(config.seed)
        policy_kwargs: dict[str, Any] = {"net_arch": list(config.net_arch)}
        common: _AlgorithmKwargs = {
            "policy": "MlpPolicy",
            "env": venv,
            "learning_rate": config.learning_rate,
            "gamma": config.gamma,
            "ent_coef": config.ent_coef,
            "seed": config.seed,
            "policy_kwargs": policy_kwargs,
            "device": "cpu",
            "verbose": 0,
        }
        model: PPO | A2C
        if config.algorithm == "ppo":
            model = PPO(
                n_steps=config.n_steps,
                batch_size=config.batch_size,
                n_epochs=config.n_epochs,
                **common,
            )
        else:
            model = A2C(n_steps=max(5, config.n_steps // 32), **common)

        total = config.timesteps

        class Report(BaseCallback):
            def _on_step(self) -> bool:
                if progress is not None and self.num_timesteps % 1024 < config.n_envs:
                    progress(min(self.num_timesteps, total), total)
                return True

        model.learn(total_timesteps=total, callback=Report(), progress_bar=False)
        if progress is not None:
            progress(total, total)
        return cls(config, normalizer, _extract(model))

    # --- the contract ---------------------------------------------------------------------------
    def probabilities_series(self, candles: CandleArrays) -> FloatArray:
        """(n, 3) probabilities of FLAT, LONG and SHORT per candle (nan before lookback)."""
        features = FeatureSet.of(candles, self.spec, self.normalizer)
        out = np.full((features.raw.shape[0], 3), np.nan)
        if features.valid.any():
            out[features.valid] = self._weights.probabilities(features.scaled[features.valid])
        return out

    def predict_series(self, candles: CandleArrays) -> tuple[ActionArray, FloatArray]:
        probs = self.probabilities_series(candles)
        valid = ~np.isnan(probs[:, 0])
        actions = np.zeros(probs.shape[0], dtype=np.int8)
        confidences = np.zeros(probs.shape[0])
        if valid.any():
            actions[valid] = probs[valid].argmax(axis=1)
            confidences[valid] = probs[valid].max(axis=1)
        return actions, confidences

    def live_predict(self, market_data: object) -> Prediction:
        window = OHLCV.of(market_data)  # type: ignore[arg-type]
        if len(window) < self.lookback:
            raise AiModelError(f"the agent needs {self.lookback} candles, got {len(window)}")
        actions, confidences = self.predict_series(OHLCV.of(window, len(window) - self.lookback))
        return Prediction(AiAction(int(actions[-1])), float(confidences[-1]))

    @property
    def feature_spec(self) -> FeatureSpec:
        return self.spec

    def live_predict_features(self, raw: FloatArray) -> Prediction:
        """``live_predict`` from ``compute_features(window, self.feature_spec)`` of a window of
        at least ``lookback`` candles (an ensemble computes them once for all its members); the
        same bits: only the last row counts, normalised and evaluated alone as there."""
        last = raw[-1:]
        if not np.all(np.isfinite(last)):
            return Prediction(AiAction.FLAT, 0.0)
        probs = self._weights.probabilities(self.normalizer.apply(last))[0]
        return Prediction(AiAction(int(probs.argmax())), float(probs.max()))

    # --- bytes ------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {
            "format": 1,
            "kind": self.config.algorithm,
            "config": self.config.as_dict(),
            "normalizer": self.normalizer.as_dict(),
            "activation": self._weights.activation,
            "history": self.history,
        }
        arrays = {
            f"h{i}_{n}": a
            for i, (w, b) in enumerate(self._weights.hidden)
            for n, a in (("w", w), ("b", b))
        }
        arrays |= {"action_w": self._weights.action[0], "action_b": self._weights.action[1]}
        weights = io.BytesIO()
        # allow_pickle passed (its default) so that ``**arrays`` cannot be read as that flag
        np.savez(weights, allow_pickle=True, **arrays)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in (
                ("meta.json", json.dumps(meta, sort_keys=True).encode()),
                ("weights.npz", weights.getvalue()),
            ):
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible bytes
                archive.writestr(info, data)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TradingAgent:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                meta = json.loads(archive.read("meta.json"))
                arrays = np.load(io.BytesIO(archive.read("weights.npz")), allow_pickle=False)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise AiModelError(f"not an agent file: {exc}") from exc
        count = len([k for k in arrays.files if k.endswith("_w") and k.startswith("h")])
        weights = _Weights(
            tuple((arrays[f"h{i}_w"], arrays[f"h{i}_b"]) for i in range(count)),
            (arrays["action_w"], arrays["action_b"]),
            meta["activation"],
        )
        return cls(
            AgentConfig.from_dict(meta["config"]),
            Normalizer.from_dict(meta["normalizer"]),
            weights,
            meta.get("history", {}),
        )
