"""Walk-forward judgement of the AI: train on each window, test on the next, and put the AI's
out-of-sample figures beside the rule strategies', buy-and-hold's and always-flat's.

For each window (``train`` candles, then ``test`` candles; the next window starts ``step``
later) every AI kind asked for is trained on the training part only (features normalised on it)
and judged on the test part, the model seeing the history it needs from before the test part:

- the AI in the ``driver`` role and every rule strategy (default parameters) are played by the
  backtest kernel (``backtest_series``: the same fee, book slippage, funding, stake and stop
  rules for all of them);
- buy-and-hold and always-flat, with the same stake, fee, slippage and funding, by
  ``simulate_actions``; and the AI's raw actions the same way (no stops: what the agent learnt).

Every figure is a fraction of the starting capital (``total_return``, ``max_drawdown``) or a
ratio (``sharpe``, annualised from the per-candle equity returns).
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.ai.domain.env import EnvConfig
from apps.ai.domain.hybrid import HybridAI, HybridMode
from apps.ai.domain.types import AiAction
from apps.core.domain.formatting import fmt_pct
from apps.exchange.domain.fees import DEFAULT_TAKER_FEE
from apps.market.data import Klines
from apps.strategies.domain.base import OHLCV

RULES = ("ema_cross", "bollinger_scalp", "trend_swing")
AI_KINDS = ("ppo", "a2c", "lstm")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class WalkForwardConfig:
    kinds: tuple[str, ...] = ("ppo",)
    rules: tuple[str, ...] = RULES
    train: int = 24 * 180
    test: int = 24 * 30
    step: int | None = None
    timesteps: int = 30_000
    seed: int = 0
    fee: float = DEFAULT_TAKER_FEE
    stake: float = 1000.0
    cash: float = 10_000.0
    slippage: str = "book"
    sl: float = 0.02  # the AI driver's stop-loss distance
    min_confidence: float = 0.0
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def check(self, n: int) -> None:
        unknown = [k for k in self.kinds if k not in (*AI_KINDS, "ensemble")]
        if unknown:
            raise ValueError(f"unknown AI kind(s) {', '.join(unknown)} (ppo, a2c, lstm, ensemble)")
        if self.train < 500 or self.test < 50:
            raise ValueError("--train must be at least 500 candles and --test at least 50")
        if self.train + self.test > n:
            raise ValueError(f"--train + --test ({self.train + self.test}) exceed the {n} candles")


def windows(n: int, train: int, test: int, step: int | None) -> list[tuple[int, int, int]]:
    """(train start, test start, test end) of every window that fits in ``n`` candles."""
    step = step or test
    out, start = [], 0
    while start + train + test <= n:
        out.append((start, start + train, start + train + test))
        start += step
    return out


def _train(kind: str, candles: OHLCV, config: WalkForwardConfig, funding: Any) -> Any:
    h = config.hyperparameters
    if kind in ("ppo", "a2c"):
        from apps.ai.domain.agent import AgentConfig, TradingAgent

        keys = ("n_envs", "n_steps", "batch_size", "n_epochs", "learning_rate", "ent_coef")
        agent_config = AgentConfig(
            algorithm=kind,
            timesteps=config.timesteps,
            seed=config.seed,
            **{k: h[k] for k in keys if k in h},
        )
        env = EnvConfig(fee=config.fee, stake=config.stake, initial_equity=config.cash)
        return TradingAgent.train(candles, agent_config, env_config=env, funding=[funding])
    from apps.ai.domain.lstm import LstmConfig, LstmPredictor

    keys = ("seq_len", "hidden", "horizon", "band", "epochs", "patience")
    predictor = LstmPredictor(LstmConfig(seed=config.seed, **{k: h[k] for k in keys if k in h}))
    predictor.fit(candles)
    return predictor


def _hybrid(kind: str, model: Any, config: WalkForwardConfig) -> HybridAI:
    if kind == "lstm":
        return HybridAI(HybridMode.LSTM_ONLY, predictor=model, min_confidence=config.min_confidence)
    if kind == "ensemble":
        return HybridAI(HybridMode.ENSEMBLE, ensemble=model, min_confidence=config.min_confidence)
    return HybridAI(HybridMode.PPO_ONLY, agent=model, min_confidence=config.min_confidence)


def _kernel_figures(
    strategy: str, params: dict[str, Any], candles: Klines, first: int, config: WalkForwardConfig,
    funding: Any, ai: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """The kernel's figures of a strategy over the candles from ``first`` (warm-up before)."""
    from apps.backtest.services import backtest_series

    outcome = backtest_series(
        strategy=strategy,
        params=params,
        series=[candles],
        fee=config.fee,
        stake=config.stake,
        cash=config.cash,
        slippage=config.slippage,
        funding={candles.symbol: funding} if funding is not None else None,
        ai=ai,
    )
    result = outcome.results[0]
    equity = np.asarray(result.equity, dtype=np.float64)[first:]
    entries = result.trades.entry_index
    trades = int(np.sum(entries >= first))
    return _equity_figures(equity, candles, first) | {"trades": trades}


def _equity_figures(equity: np.ndarray, candles: Any, first: int) -> dict[str, Any]:
    if equity.size < 2:
        return {"total_return": 0.0, "sharpe": 0.0, "max_drawdown": 0.0}
    returns = equity[1:] / equity[:-1] - 1.0
    times = np.asarray(candles.open_time)
    step = float(np.median(np.diff(times))) if times.size > 1 else 3_600_000.0
    per_year = 365 * 24 * 3_600_000 / step
    std = float(returns.std())
    peak = np.maximum.accumulate(equity)
    return {
        "total_return": float(equity[-1] / equity[0] - 1.0),
        "sharpe": float(returns.mean()) / std * math.sqrt(per_year) if std > 0 else 0.0,
        "max_drawdown": float(np.max((peak - equity) / peak)),
    }


def _slice(candles: Klines, start: int, stop: int) -> Klines:
    return candles.slice(start, stop)


def walk_forward(
    candles: Klines,
    config: WalkForwardConfig,
    *,
    funding: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the walk-forward (see the module doc); return the report as a JSON-able dict."""
    config.check(len(candles))
    rows = []
    env = EnvConfig(fee=config.fee, stake=config.stake, initial_equity=config.cash)
    for number, (a, b, c) in enumerate(
        windows(len(candles), config.train, config.test, config.step)
    ):
        train = OHLCV.of(candles, a, b)
        history = 400  # enough candles before the test part for any model's look-back
        test = _slice(candles, max(a, b - history), c)
        first = b - max(a, b - history)
        row: dict[str, Any] = {
            "window": number,
            "train": [int(candles.open_time[a]), int(candles.open_time[b - 1])],
            "test": [int(candles.open_time[b]), int(candles.open_time[c - 1])],
            "contenders": {},
        }
        hold = np.full(len(test), AiAction.LONG, dtype=np.int8)
        row["contenders"]["buy_and_hold"] = _tail_of(test, hold, first, env, funding)
        flat = np.zeros(len(test), dtype=np.int8)
        row["contenders"]["flat"] = _tail_of(test, flat, first, env, funding)
        trained = {}
        for kind in config.kinds:
            if kind == "ensemble":
                continue
            started = time.perf_counter()
            if progress:
                progress(f"window {number}: training {kind}")
            model = trained[kind] = _train(kind, train, config, funding)
            ai = _hybrid(kind, model, config)
            actions, _ = model.predict_series(test)
            row["contenders"][kind] = _kernel_figures(
                "ai", {"sl": config.sl}, test, first, config, funding, ai
            ) | {
                "actions_only": _tail_of(test, actions, first, env, funding),
                "train_seconds": round(time.perf_counter() - started, 2),
            }
        if "ensemble" in config.kinds and trained:
            from apps.ai.domain.ensemble import EnsembleAgent, EnsembleMode

            ensemble = EnsembleAgent(tuple(trained.values()), EnsembleMode.CONFIDENCE_WEIGHTED)
            ai = _hybrid("ensemble", ensemble, config)
            row["contenders"]["ensemble"] = _kernel_figures(
                "ai", {"sl": config.sl}, test, first, config, funding, ai
            )
        for rule in config.rules:
            if progress:
                progress(f"window {number}: {rule}")
            row["contenders"][rule] = _kernel_figures(rule, {}, test, first, config, funding)
        rows.append(row)
    return {"config": _config_json(config), "symbol": candles.symbol, "windows": rows,
            "summary": _summary(rows)}  # fmt: skip


def _tail_of(
    test: Any, actions: np.ndarray, first: int, env: EnvConfig, funding: Any
) -> dict[str, Any]:
    """``simulate_actions`` figures of the candles from ``first`` (the actions before are the
    model's look-back, flat)."""
    acts = np.asarray(actions, dtype=np.int8).copy()
    acts[:first] = AiAction.FLAT
    from apps.ai.domain.env import simulate_actions

    run = simulate_actions(test, acts, env, funding=funding)
    return _equity_figures(run.equity[first - 1 :] if first else run.equity, test, first) | {
        "trades": int(run.trades)
    }


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    names = sorted({k for r in rows for k in r["contenders"]})
    out = {}
    for name in names:
        values = [r["contenders"][name] for r in rows if name in r["contenders"]]
        returns = np.array([v["total_return"] for v in values])
        out[name] = {
            "windows": len(values),
            "mean_return": float(returns.mean()),
            "median_return": float(np.median(returns)),
            "mean_sharpe": float(np.mean([v["sharpe"] for v in values])),
            "worst_drawdown": float(max(v["max_drawdown"] for v in values)),
            "positive_windows": int(np.sum(returns > 0)),
        }
    return out


def _config_json(config: WalkForwardConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(config)))


def report_html(report: dict[str, Any]) -> str:
    """The walk-forward as a self-contained HTML page (tables; no script, no network)."""
    names = list(report["summary"])
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = []
    for row in report["windows"]:
        cells = "".join(
            f"<td>{fmt_pct(row['contenders'][n]['total_return'])}<br>"
            f"<small>Sharpe {row['contenders'][n]['sharpe']:.2f}</small></td>"
            if n in row["contenders"]
            else "<td></td>"
            for n in names
        )
        body.append(f"<tr><th>{row['window']}</th>{cells}</tr>")
    summary = "".join(
        f"<tr><th>{html.escape(n)}</th><td>{fmt_pct(s['mean_return'])}</td>"
        f"<td>{fmt_pct(s['median_return'])}</td><td>{s['mean_sharpe']:.2f}</td>"
        f"<td>{fmt_pct(s['worst_drawdown'])}</td><td>{s['positive_windows']}/{s['windows']}</td></tr>"
        for n, s in report["summary"].items()
    )
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}")  # fmt: skip
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>AI walk-forward"
        f"</title><style>{style}</style></head><body><h1>AI walk-forward: "
        f"{html.escape(report['symbol'])}</h1><p>Out-of-sample figures per test window, after "
        "fees, book slippage and funding; returns are fractions of the starting capital.</p>"
        "<h2>Summary</h2><table><tr><th></th><th>mean return</th><th>median return</th>"
        f"<th>mean Sharpe</th><th>worst drawdown</th><th>positive windows</th></tr>{summary}"
        f"</table><h2>Windows</h2><table><tr><th>window</th>{head}</tr>{''.join(body)}</table>"
        "</body></html>"
    )
