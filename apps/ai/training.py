"""Training a model into the registry: one service for the command, the worker task and the
re-training schedule.

``model_request`` records the request as a ``ModelArtifact`` (status ``training``) and
``model_train`` carries it out: load the candles (files, or the imported ``Kline`` table), hold
the last ``validation`` share of the training range out, train on the rest (features normalised
by that part only), judge the model in-sample, on the validation part and, when ``oos_end`` is
given, out of sample (after ``end``), beside buy-and-hold and flat, then store the file with its
sha256 and make the artifact a ``candidate``. Progress is written on the row (the dashboard and
the admin show it); a failure is written on it too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from apps.ai.domain.env import EnvConfig
from apps.ai.domain.evaluation import judge
from apps.ai.domain.features import FeatureSpec
from apps.ai.domain.types import AiModelError, Predictor
from apps.ai.models import ModelArtifact
from apps.ai.services import artifact_load, artifact_store, ensemble_bytes
from apps.events import publish_event
from apps.exchange.domain.types import datetime_to_ms
from apps.strategies.domain.base import OHLCV

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
VALIDATION = 0.2
ENV_PARAMS = ("fee", "stake", "leverage", "episode_length", "drawdown_penalty")
AGENT_PARAMS = ("n_envs", "n_steps", "batch_size", "n_epochs", "learning_rate", "gamma",
                "ent_coef", "threads")  # fmt: skip
LSTM_PARAMS = ("seq_len", "hidden", "layers", "horizon", "band", "epochs", "batch_size", "lr",
               "patience", "threads")  # fmt: skip


class TrainingError(ValueError):
    """The training cannot run as asked; the message says why in one line."""


@dataclass(frozen=True)
class TrainRequest:
    kind: str
    data_files: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    interval: str = ""
    start: datetime | None = None
    end: datetime | None = None
    oos_end: datetime | None = None
    timesteps: int = 50_000
    seed: int = 0
    name: str = ""
    validation: float = VALIDATION
    members: tuple[int, ...] = ()  # ensemble
    ensemble_mode: str = "confidence_weighted"
    ensemble_window: int = 168
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.kind not in ModelArtifact.Kind.values:
            raise TrainingError(f"--kind must be one of {', '.join(ModelArtifact.Kind.values)}")
        if self.kind == ModelArtifact.Kind.ENSEMBLE:
            if len(self.members) < 2:
                raise TrainingError("an ensemble needs --members ID ID ... (two or more models)")
            return
        if not self.data_files and not (self.symbols and self.interval):
            raise TrainingError("give --data FILE ..., or --symbols and --interval")
        for path in self.data_files:
            if not Path(path).is_file():
                raise TrainingError(f"no such file: {path}")
        if self.start and self.end and self.end <= self.start:
            raise TrainingError("--end must come after --start")
        if self.oos_end and (self.end is None or self.oos_end <= self.end):
            raise TrainingError("--oos-end needs --end, and must come after it")
        if not 0.0 < self.validation < 0.9:
            raise TrainingError("--validation must be a fraction between 0 and 0.9")
        if self.timesteps < 1:
            raise TrainingError("--timesteps must be positive")
        own = LSTM_PARAMS if self.kind == ModelArtifact.Kind.LSTM else AGENT_PARAMS
        known = {"spec", *ENV_PARAMS, *own}
        unknown = sorted(set(self.hyperparameters) - known)
        if unknown:  # a typo would otherwise train with the default, silently
            raise TrainingError(
                f"unknown {self.kind} parameter(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        try:  # values checked now, not after a worker has loaded the data
            _configs(self)
        except (AiModelError, ValueError, TypeError) as exc:
            raise TrainingError(f"bad {self.kind} parameters: {exc}") from exc


def model_request(request: TrainRequest) -> ModelArtifact:
    """Record the request (status training); raise ``TrainingError`` when it cannot run."""
    request.check()
    return ModelArtifact.objects.create(
        name=request.name,
        kind=request.kind,
        status=ModelArtifact.Status.TRAINING,
        symbols=list(request.symbols),
        interval=request.interval,
        data_files=list(request.data_files),
        train_start=request.start,
        train_end=request.end,
        seed=request.seed,
        timesteps=request.timesteps,
        hyperparameters={
            **request.hyperparameters,
            "validation": request.validation,
            "oos_end": request.oos_end.isoformat() if request.oos_end else None,
            "members": list(request.members),
            "ensemble_mode": request.ensemble_mode,
            "ensemble_window": request.ensemble_window,
        },
    )


def request_of(artifact: ModelArtifact) -> TrainRequest:
    h = artifact.hyperparameters or {}
    extra = {
        k: v
        for k, v in h.items()
        if k not in ("validation", "oos_end", "members", "ensemble_mode", "ensemble_window")
    }
    return TrainRequest(
        kind=artifact.kind,
        data_files=tuple(artifact.data_files or ()),
        symbols=tuple(artifact.symbols or ()),
        interval=artifact.interval,
        start=artifact.train_start,
        end=artifact.train_end,
        oos_end=datetime.fromisoformat(h["oos_end"]) if h.get("oos_end") else None,
        timesteps=artifact.timesteps,
        seed=artifact.seed,
        name=artifact.name,
        validation=float(h.get("validation", VALIDATION)),
        members=tuple(h.get("members", ())),
        ensemble_mode=h.get("ensemble_mode", "confidence_weighted"),
        ensemble_window=int(h.get("ensemble_window", 168)),
        hyperparameters=extra,
    )


# --- data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Market:
    name: str  # "BTCUSDT-1h"
    candles: OHLCV
    funding: tuple[np.ndarray, np.ndarray] | None


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else datetime_to_ms(moment)


def _cut(candles: Any, start: int | None, end: int | None) -> OHLCV:
    times = np.asarray(candles.open_time)
    first = 0 if start is None else int(np.searchsorted(times, start))
    last = len(times) if end is None else int(np.searchsorted(times, end))
    return OHLCV.of(candles, first, last)


def markets_load(
    request: TrainRequest, *, start: datetime | None, end: datetime | None
) -> list[Market]:
    """The request's candles in [start, end) with their funding (files or the Kline table)."""
    from apps.backtest.services import BacktestError, funding_load, series_db_load

    if request.data_files:
        from apps.market.data import load_klines

        out = []
        try:  # the shipped SYMBOL-funding file next to each data file, when there is one
            fundings = funding_load(paths=list(request.data_files), spec=["auto"])
        except BacktestError:
            fundings = {}
        for path in request.data_files:
            klines = load_klines(path)
            out.append(
                Market(
                    f"{klines.symbol}-{klines.interval}",
                    _cut(klines, _ms(start), _ms(end)),
                    fundings.get(klines.symbol),
                )
            )
        return out
    series = series_db_load(
        symbols=list(request.symbols),
        interval=request.interval,
        start_ms=_ms(start),
        end_ms=_ms(end),
    )
    return [Market(f"{k.symbol}-{k.interval}", OHLCV.of(k), None) for k in series]


# --- training ------------------------------------------------------------------------------------
def _env_config(h: dict[str, Any]) -> EnvConfig:
    return EnvConfig(**{k: h[k] for k in ENV_PARAMS if k in h})


def _configs(request: TrainRequest) -> tuple[Any, EnvConfig]:
    """The model's configuration (AgentConfig or LstmConfig) and the environment's."""
    h = request.hyperparameters
    spec = FeatureSpec.from_dict(h["spec"]) if "spec" in h else FeatureSpec()
    if request.kind in (ModelArtifact.Kind.PPO, ModelArtifact.Kind.A2C):
        from apps.ai.domain.agent import AgentConfig

        config: Any = AgentConfig(
            algorithm=request.kind,
            timesteps=request.timesteps,
            seed=request.seed,
            spec=spec,
            **{k: h[k] for k in AGENT_PARAMS if k in h},
        )
    else:
        from apps.ai.domain.lstm import LstmConfig

        config = LstmConfig(
            spec=spec, seed=request.seed, **{k: h[k] for k in LSTM_PARAMS if k in h}
        )
    return config, _env_config(h)


def _train(
    request: TrainRequest, markets: list[Market], progress: Progress | None
) -> tuple[Any, dict[str, Any]]:
    config, env_config = _configs(request)
    if request.kind in (ModelArtifact.Kind.PPO, ModelArtifact.Kind.A2C):
        from apps.ai.domain.agent import TradingAgent

        agent = TradingAgent.train(
            [m.candles for m in markets],
            config,
            env_config=env_config,
            funding=[m.funding for m in markets],
            progress=progress,
        )
        return agent, config.as_dict()
    from apps.ai.domain.lstm import LstmPredictor

    predictor = LstmPredictor(config)

    def epoch_done(epoch: int, train_loss: float, val_loss: float) -> None:
        if progress is not None:
            progress(epoch, config.epochs)

    history = predictor.fit(markets[0].candles, progress=epoch_done)
    return predictor, {"config": config.as_dict(), "history": history}


def _judged(
    model: Predictor, markets: list[Market], h: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    config = _env_config(h)
    return {m.name: judge(model, m.candles, config, funding=m.funding) for m in markets}


def model_train(*, artifact_id: int, progress: Progress | None = None) -> ModelArtifact:
    """Carry out a recorded training request (see the module doc); return the artifact."""
    artifact = ModelArtifact.objects.get(pk=artifact_id)
    request = request_of(artifact)
    started = time.perf_counter()

    shown = [-1.0]

    def report(done: int, total: int) -> None:
        share = round(done / total if total else 1.0, 4)
        ModelArtifact.objects.filter(pk=artifact_id).update(progress=share)
        if share - shown[0] >= 0.05 or share >= 1.0:  # the dashboard sees every 5 %
            shown[0] = share
            publish_event(
                "model_training",
                {"model": artifact_id, "kind": artifact.kind, "progress": share},
            )
        if progress is not None:
            progress(done, total)

    try:
        if request.kind == ModelArtifact.Kind.ENSEMBLE:
            data, metrics = _ensemble(request)
            artifact.members.set(request.members)
        else:
            data, metrics, spec, normalizer = _fit_and_judge(request, report)
            artifact.feature_spec, artifact.normalizer = spec, normalizer
    except (TrainingError, AiModelError, ValueError, TypeError, OSError) as exc:
        artifact.status, artifact.error = ModelArtifact.Status.FAILED, str(exc)
        artifact.save(update_fields=["status", "error", "updated_at"])
        raise TrainingError(str(exc)) from exc
    artifact.metrics = metrics
    artifact.progress = 1.0
    artifact.status = ModelArtifact.Status.CANDIDATE
    artifact.train_seconds = round(time.perf_counter() - started, 2)
    artifact.code_version = _code_version()
    artifact.save()
    artifact_store(artifact=artifact, data=data)
    logger.info("model %s trained in %.1f s", artifact, artifact.train_seconds)
    return artifact


def _fit_and_judge(
    request: TrainRequest, report: Progress
) -> tuple[bytes, dict[str, Any], dict[str, Any], dict[str, Any]]:
    loaded = markets_load(request, start=request.start, end=request.oos_end or request.end)
    training, whole, ends = [], [], []
    for m in loaded:
        end = (
            len(m.candles)
            if request.oos_end is None or request.end is None
            else int(np.searchsorted(m.candles.open_time, datetime_to_ms(request.end)))
        )
        if end < 200:
            raise TrainingError(f"{m.name}: too few candles to train on ({end} in the range)")
        cut = int(end * (1.0 - request.validation))
        training.append(Market(m.name, OHLCV.of(m.candles, 0, cut), m.funding))
        whole.append(m)
        ends.append((cut, end))
    model, details = _train(request, training, report)
    h = request.hyperparameters
    metrics: dict[str, Any] = {"details": details}
    metrics["in_sample"] = _judged(model, training, h)
    metrics["validation"] = {
        m.name: _tail_judge(model, m, cut, end, h)
        for m, (cut, end) in zip(whole, ends, strict=True)
    }
    if request.oos_end is not None:
        metrics["out_of_sample"] = {
            m.name: _tail_judge(model, m, end, len(m.candles), h)
            for m, (_, end) in zip(whole, ends, strict=True)
            if len(m.candles) - end >= 2
        }
    spec = getattr(model, "spec", None) or model.config.spec
    normalizer = getattr(model, "normalizer", None)
    return model.to_bytes(), metrics, spec.as_dict(), normalizer.as_dict() if normalizer else {}


def _tail_judge(
    model: Predictor, market: Market, start: int, stop: int, h: dict[str, Any]
) -> dict[str, Any]:
    """Judge the candles [start, stop), the model seeing the history it needs before them."""
    first = max(0, start - model.lookback + 1)
    candles = OHLCV.of(market.candles, first, stop)
    return judge(model, candles, _env_config(h), funding=market.funding)


def _ensemble(request: TrainRequest) -> tuple[bytes, dict[str, Any]]:
    members = list(ModelArtifact.objects.filter(pk__in=request.members))
    missing = sorted(set(request.members) - {m.pk for m in members})
    if missing:
        raise TrainingError(f"unknown member model(s): {', '.join(map(str, missing))}")
    for member in members:
        artifact_load(member)  # each member verified before the ensemble is made of them
    data = ensemble_bytes(
        members=list(request.members), mode=request.ensemble_mode, window=request.ensemble_window
    )
    return data, {"members": [m.pk for m in members]}


def _code_version() -> str:
    from apps.backtest.services import code_version

    return code_version()


def utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
