"""The LSTM price predictor: P(close ``k`` candles ahead > close now) from the last ``seq_len``
feature rows, given as an ``AiAction`` and a confidence (the ``Predictor`` contract).

Rules:
- Sample at candle ``i``: the normalised feature rows ``i - seq_len + 1 .. i``
  (``features.FeatureSpec``; a row sees only its own ``spec.lookback`` candles), so a prediction
  needs ``lookback = spec.lookback + seq_len - 1`` closed candles and no later one. Label: 1 if
  ``log(close[i + k] / close[i]) > 0`` else 0; candles without ``k`` later candles are no samples,
  nor are windows with a non-finite feature.
- ``fit`` sees the given candles only. The chronologically last ``validation`` fraction of the
  samples validates; the ``k`` samples just before it are dropped (their labels would reach into
  the validation period). The normaliser is fitted on the training rows only. Binary
  cross-entropy on the logit, Adam, seeded mini-batch order; early stopping when the validation
  loss has not improved for ``patience`` epochs, restoring the best epoch's weights.
- Reproducible: the seed fixes the initial weights (``torch.manual_seed`` inside a forked RNG, so
  the caller's global RNG is untouched) and the batch order (a numpy ``Generator``); no dropout,
  no DataLoader, deterministic CPU ops. Same config and candles give identical weights.
- Threads: ``torch.set_num_threads(threads)`` around fitting and predicting (restored after), so
  torch does not start one thread per core in every bot and worker process sharing the CPUs.
  Default 1: the network is small (a 32-unit LSTM, batches of 128) and every LSTM step is a
  parallel region that waits for all its threads. Measured on a 2-core machine (fit, 6000 candles,
  2 epochs): 1 thread 0.37-0.72 s; 2 threads 0.40-0.48 s with the other core free but 1.9-7 s
  while another process used it, at 1.5-10x the CPU time; BTCUSDT-1h, 13k candles, 9 epochs on
  that loaded machine: 6 s with 1 thread, 156 s with 2. 1, 2 and 4 threads gave identical weights
  there; ``threads`` is stored with the model all the same.
- Decision on ``p = P(up)``: ``LONG`` if ``p >= 0.5 + band``, ``SHORT`` if ``p <= 0.5 - band``,
  else ``FLAT``. Confidence: ``p`` for ``LONG``, ``1 - p`` for ``SHORT``, ``1 - |2p - 1|`` for
  ``FLAT`` (1 at ``p = 0.5``, ``1 - 2 * band`` at the band's edges); always in [0, 1]. A window
  with a non-finite feature gives ``FLAT`` / 0.0 (``p`` is ``nan``).
- Series = live, bit for bit: ``probabilities_series`` / ``predict_series`` and ``live_predict``
  run one code path, and the network always sees blocks of exactly ``BLOCK`` windows
  (zero-padded). CPU BLAS results differ in the last bit between batch sizes (a window in a batch
  of 7 and in one of 5000); with one fixed shape, a window's output does not depend on its slot
  or its neighbours (the tests check every slot of a block). So row ``i`` of a series equals
  ``live_predict`` on the candles ``0..i``, bit for bit.
- Bytes: ``torch.save`` of a JSON string (config, normaliser, history) and the state dict's
  tensors, read back with ``weights_only=True``; anything unreadable raises ``AiModelError``.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from torch import nn

from apps.strategies.domain.base import OHLCV, CandleArrays

from .features import FeatureSpec, Normalizer, compute_features
from .types import ActionArray, AiAction, AiModelError, FloatArray, Prediction

__all__ = ["BLOCK", "LstmConfig", "LstmPredictor", "decide"]

BLOCK = 64  # windows per forward pass at prediction time, always (see the module docstring)
FORMAT = "lstm-predictor/1"
MIN_TRAIN, MIN_VALIDATION = 32, 8  # samples; fewer make no model worth keeping
Progress = Callable[[int, float, float], None]  # (epoch from 1, train loss, validation loss)
IntArray = NDArray[np.int64]
Float32Array = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class LstmConfig:
    """The network, the target and the training (stored with every model)."""

    spec: FeatureSpec = field(default_factory=FeatureSpec)
    seq_len: int = 32  # feature rows per sample
    hidden: int = 32
    layers: int = 1
    horizon: int = 4  # k: the label is the direction of the log return over the next k candles
    band: float = 0.05  # FLAT while P(up) is within 0.5 +/- band
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5  # epochs without a better validation loss before stopping
    validation: float = 0.2  # the chronologically last fraction of the samples
    seed: int = 0
    threads: int = 1  # torch intra-op threads (see the module docstring)

    def __post_init__(self) -> None:
        counts = ("seq_len", "hidden", "layers", "horizon", "epochs", "batch_size", "patience")
        for name in (*counts, "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AiModelError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.band < 0.5:
            raise AiModelError(f"band must be in [0, 0.5), got {self.band!r}")
        if not 0.0 < self.validation < 1.0:
            raise AiModelError(f"validation must be in (0, 1), got {self.validation!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise AiModelError(f"lr must be a positive number, got {self.lr!r}")

    @property
    def lookback(self) -> int:
        return self.spec.lookback + self.seq_len - 1

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["spec"] = self.spec.as_dict()
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LstmConfig:
        values = dict(data)
        values["spec"] = FeatureSpec.from_dict(values.get("spec", {}))
        return cls(**values)


class _Net(nn.Module):
    """An LSTM over the window; the logit of P(up) from its last hidden state."""

    def __init__(self, features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        logit: torch.Tensor = self.head(out[:, -1]).squeeze(-1)
        return logit


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _deterministic() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def decide(p: FloatArray, band: float) -> tuple[ActionArray, FloatArray]:
    """Actions and confidences for probabilities of up (``nan``: ``FLAT`` / 0.0)."""
    known = np.isfinite(p)
    q = np.where(known, p, 0.5)
    long = known & (q >= 0.5 + band)
    short = known & ~long & (q <= 0.5 - band)
    actions = np.full(p.shape, AiAction.FLAT, dtype=np.int8)
    actions[long] = AiAction.LONG
    actions[short] = AiAction.SHORT
    confidence = np.where(long, q, np.where(short, 1.0 - q, 1.0 - np.abs(2.0 * q - 1.0)))
    return actions, np.where(known, confidence, 0.0)


def _complete_windows(complete: NDArray[np.bool_], seq_len: int) -> NDArray[np.bool_]:
    """Whether the ``seq_len`` rows ending at each row are all complete."""
    n = complete.size
    ok = np.zeros(n, dtype=np.bool_)
    if n >= seq_len:
        bad = np.concatenate(([0], np.cumsum(~complete)))
        ok[seq_len - 1 :] = bad[seq_len:] == bad[: n - seq_len + 1]
    return ok


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in net.state_dict().items()}


def _windows(scaled: Float32Array, ends: IntArray, seq_len: int) -> Float32Array:
    """The ``(len(ends), seq_len, features)`` windows of rows ending at ``ends``."""
    view = sliding_window_view(scaled, seq_len, axis=0)  # (rows - seq_len + 1, features, seq_len)
    return np.ascontiguousarray(view[ends - seq_len + 1].transpose(0, 2, 1))


class LstmPredictor:
    """``LstmPredictor(config).fit(candles)``, then ``live_predict`` / ``predict_series``."""

    def __init__(self, config: LstmConfig | None = None) -> None:
        self.config = config or LstmConfig()
        self.normalizer: Normalizer | None = None
        self.history: dict[str, Any] | None = None
        self._net: _Net | None = None

    @property
    def lookback(self) -> int:
        return self.config.lookback

    # -- training ---------------------------------------------------------------------------

    def fit(self, candles: CandleArrays, *, progress: Progress | None = None) -> dict[str, Any]:
        """Train on ``candles`` from scratch; return the history (raise ``AiModelError`` when
        there are too few samples). Keys: ``train_loss``, ``val_loss``, ``val_accuracy`` (per
        epoch), ``best_epoch`` (from 1, the weights kept), ``epochs_run``, ``stopped_early``,
        ``accuracy`` (validation accuracy of the kept weights), ``base_rate`` (share of up
        labels in validation), ``train_samples``, ``val_samples``, ``seconds``."""
        cfg = self.config
        started = time.perf_counter()
        c = OHLCV.of(candles)
        raw = compute_features(c, cfg.spec)
        ok = _complete_windows(np.all(np.isfinite(raw), axis=1), cfg.seq_len)
        k = cfg.horizon
        with np.errstate(divide="ignore", invalid="ignore"):
            future = np.full(len(c), np.nan)  # the label's log return, nan without k ahead
            ahead = max(len(c) - k, 0)
            future[:ahead] = np.log(c.close[k:] / c.close[:ahead])
        ends = np.flatnonzero(ok & np.isfinite(future))
        n_val = round(ends.size * cfg.validation)
        val_ends = ends[ends.size - n_val :]
        train_ends = ends[: ends.size - n_val]
        if val_ends.size:
            train_ends = train_ends[train_ends + k <= val_ends[0]]
        if train_ends.size < MIN_TRAIN or val_ends.size < MIN_VALIDATION:
            raise AiModelError(
                f"too few samples to fit the LSTM: {train_ends.size} to train and "
                f"{val_ends.size} to validate (at least {MIN_TRAIN} and {MIN_VALIDATION}) from "
                f"{len(c)} candles with {cfg.lookback} of history and {k} ahead each"
            )
        normalizer = Normalizer.fit(raw[: train_ends[-1] + 1])
        scaled = normalizer.apply(raw)
        labels = (future > 0).astype(np.float32)
        y_train = torch.from_numpy(labels[train_ends])
        y_val = labels[val_ends]

        with _torch_threads(cfg.threads), _deterministic():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                net = _Net(cfg.spec.size, cfg.hidden, cfg.layers)
            rng = np.random.default_rng(cfg.seed)
            optimiser = torch.optim.Adam(net.parameters(), lr=cfg.lr)
            loss_fn = nn.BCEWithLogitsLoss()
            history: dict[str, Any] = {"train_loss": [], "val_loss": [], "val_accuracy": []}
            best_loss, best_epoch, best_state = math.inf, 0, _state(net)
            for epoch in range(1, cfg.epochs + 1):
                net.train()
                order = rng.permutation(train_ends.size)
                total = 0.0
                for start in range(0, order.size, cfg.batch_size):
                    batch = order[start : start + cfg.batch_size]
                    x = torch.from_numpy(_windows(scaled, train_ends[batch], cfg.seq_len))
                    loss = loss_fn(net(x), y_train[batch])
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    total += loss.item() * batch.size
                val_loss, val_accuracy = self._evaluate(net, scaled, val_ends, y_val)
                history["train_loss"].append(total / train_ends.size)
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(val_accuracy)
                if progress is not None:
                    progress(epoch, total / train_ends.size, val_loss)
                if val_loss < best_loss:
                    best_loss, best_epoch, best_state = val_loss, epoch, _state(net)
                elif epoch - best_epoch >= cfg.patience:
                    break
            net.load_state_dict(best_state)
            history["accuracy"] = self._evaluate(net, scaled, val_ends, y_val)[1]
        history.update(
            best_epoch=best_epoch,
            epochs_run=len(history["val_loss"]),
            stopped_early=len(history["val_loss"]) < cfg.epochs,
            base_rate=float(y_val.mean()),
            train_samples=int(train_ends.size),
            val_samples=int(val_ends.size),
            seconds=time.perf_counter() - started,
        )
        self._net, self.normalizer, self.history = net, normalizer, history
        return history

    def _evaluate(
        self, net: _Net, scaled: Float32Array, ends: IntArray, y: Float32Array
    ) -> tuple[float, float]:
        """Validation loss (mean binary cross-entropy) and accuracy (``p >= 0.5`` says up)."""
        logits, p = self._run(net, scaled, ends)
        logits64 = logits.astype(np.float64)
        # log(1 + exp(-|z|)) + max(z, 0) - y z: the cross-entropy of logit z, stable
        loss = np.logaddexp(0.0, -np.abs(logits64)) + np.maximum(logits64, 0.0) - y * logits64
        return float(loss.mean()), float(np.mean((p >= 0.5) == (y > 0.5)))

    # -- prediction ---------------------------------------------------------------------------

    def _trained(self) -> tuple[_Net, Normalizer]:
        if self._net is None or self.normalizer is None:
            raise AiModelError("the LSTM predictor is not trained: fit it or load it from bytes")
        return self._net, self.normalizer

    def _run(
        self, net: _Net, scaled: Float32Array, ends: IntArray
    ) -> tuple[Float32Array, Float32Array]:
        """Logits and P(up) of the windows ending at ``ends``, in blocks of exactly ``BLOCK``."""
        seq_len, size = self.config.seq_len, scaled.shape[1]
        logits = np.empty(ends.size, dtype=np.float32)
        p = np.empty(ends.size, dtype=np.float32)
        net.eval()
        with _torch_threads(self.config.threads), torch.inference_mode():
            for start in range(0, ends.size, BLOCK):
                part = ends[start : start + BLOCK]
                block = np.zeros((BLOCK, seq_len, size), dtype=np.float32)
                block[: part.size] = _windows(scaled, part, seq_len)
                z = net(torch.from_numpy(block))
                logits[start : start + part.size] = z.numpy()[: part.size]
                p[start : start + part.size] = torch.sigmoid(z).numpy()[: part.size]
        return logits, p

    def probabilities_series(self, candles: CandleArrays) -> FloatArray:
        """P(up) at every candle of a series (``nan`` with too little history or non-finite
        features); row ``i`` equals ``live_probability`` on the candles ``0..i``."""
        net, normalizer = self._trained()
        raw = compute_features(candles, self.config.spec)
        ok = _complete_windows(np.all(np.isfinite(raw), axis=1), self.config.seq_len)
        out = np.full(raw.shape[0], np.nan)
        ends = np.flatnonzero(ok)
        if ends.size:
            out[ends] = self._run(net, normalizer.apply(raw), ends)[1]
        return out

    def predict_series(self, candles: CandleArrays) -> tuple[ActionArray, FloatArray]:
        return decide(self.probabilities_series(candles), self.config.band)

    def live_probability(self, market_data: CandleArrays) -> float:
        """P(up) at the last candle of a window of at least ``lookback`` closed candles (``nan``
        where a feature is not finite); raise ``AiModelError`` on a shorter window."""
        net, normalizer = self._trained()
        window = OHLCV.of(market_data)
        if len(window) < self.lookback:
            raise AiModelError(f"the LSTM needs {self.lookback} closed candles, got {len(window)}")
        raw = compute_features(OHLCV.of(window, len(window) - self.lookback), self.config.spec)
        return self._probability_of(net, normalizer, raw)

    def _probability_of(self, net: _Net, normalizer: Normalizer, raw: FloatArray) -> float:
        """P(up) at the last row of ``raw`` (the features of the last ``lookback`` candles)."""
        if not np.all(np.isfinite(raw[-self.config.seq_len :])):
            return math.nan
        last = np.array([raw.shape[0] - 1])
        return float(self._run(net, normalizer.apply(raw), last)[1][0])

    def live_predict(self, market_data: object) -> Prediction:
        p = self.live_probability(market_data)  # type: ignore[arg-type]
        actions, confidence = decide(np.array([p]), self.config.band)
        return Prediction(AiAction(int(actions[0])), float(confidence[0]))

    @property
    def feature_spec(self) -> FeatureSpec:
        return self.config.spec

    def live_predict_features(self, raw: FloatArray) -> Prediction:
        """``live_predict`` from ``compute_features(window, self.feature_spec)`` of a window of
        at least ``lookback`` candles (an ensemble computes them once for all its members); the
        same bits: its last ``lookback`` rows are what ``live_probability`` computes."""
        net, normalizer = self._trained()
        p = self._probability_of(net, normalizer, raw[-self.lookback :])
        actions, confidence = decide(np.array([p]), self.config.band)
        return Prediction(AiAction(int(actions[0])), float(confidence[0]))

    # -- bytes ------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        net, normalizer = self._trained()
        meta = {
            "format": FORMAT,
            "config": self.config.as_dict(),
            "normalizer": normalizer.as_dict(),
            # the wall-clock time stays out: the same training gives the same bytes
            "history": {k: v for k, v in (self.history or {}).items() if k != "seconds"},
        }
        buffer = io.BytesIO()
        torch.save({"meta": json.dumps(meta), "state": _state(net)}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LstmPredictor:
        """Load ``to_bytes`` output; raise ``AiModelError`` when it is not a readable model."""
        try:
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            meta = json.loads(payload["meta"])
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
            model = cls(LstmConfig.from_dict(meta["config"]))
            net = _Net(model.config.spec.size, model.config.hidden, model.config.layers)
            net.load_state_dict(payload["state"])
            model.normalizer = Normalizer.from_dict(meta["normalizer"])
            if len(model.normalizer.mean) != model.config.spec.size:
                raise ValueError("the normaliser does not match the features")
        except Exception as exc:  # torch, pickle, JSON, config and shape errors alike
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__  # one line
            raise AiModelError(f"cannot load the LSTM predictor: {reason}") from exc
        model._net = net.eval()
        model.history = meta.get("history")
        return model
