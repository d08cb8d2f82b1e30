"""Strategy kinds and their parameters: one schema per kind, validated with one-line errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


class ParameterError(ValueError):
    """A strategy parameter is missing, unknown, of the wrong type or out of range."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    kind: type  # int, float or Decimal
    default: Any
    minimum: Any | None = None
    maximum: Any | None = None
    help: str = ""

    def coerce(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise ParameterError(f"{self.name} must be a number, got {value!r}")
        try:
            if self.kind is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                number: Any = int(Decimal(str(value)))
                if Decimal(str(value)) != number:
                    raise ValueError
            elif self.kind is Decimal:
                number = Decimal(str(value))
                if not number.is_finite():
                    raise ValueError
            else:
                number = float(value)
                if number != number or number in (float("inf"), float("-inf")):
                    raise ValueError
        except (ValueError, TypeError, InvalidOperation) as exc:
            raise ParameterError(
                f"{self.name} must be {'an integer' if self.kind is int else 'a number'}, "
                f"got {value!r}"
            ) from exc
        if self.minimum is not None and number < self.minimum:
            raise ParameterError(f"{self.name} must be >= {self.minimum}, got {number}")
        if self.maximum is not None and number > self.maximum:
            raise ParameterError(f"{self.name} must be <= {self.maximum}, got {number}")
        return number


Check = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class StrategySchema:
    kind: str
    title: str
    description: str
    params: tuple[ParamSpec, ...]
    checks: tuple[Check, ...] = field(default=())

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the full, typed parameter set (defaults filled in) or raise ParameterError."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ParameterError(f"parameters of {self.kind} must be a JSON object")
        known = {p.name for p in self.params}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ParameterError(
                f"unknown parameter(s) for {self.kind}: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        values = {
            p.name: p.coerce(raw[p.name]) if p.name in raw else p.default for p in self.params
        }
        for check in self.checks:
            problem = check(values)
            if problem:
                raise ParameterError(problem)
        return values


def _fast_below_slow(values: Mapping[str, Any]) -> str | None:
    if values["fast"] >= values["slow"]:
        return f"fast ({values['fast']}) must be smaller than slow ({values['slow']})"
    return None


def _rsi_bounds(values: Mapping[str, Any]) -> str | None:
    if values["rsi_oversold"] >= values["rsi_overbought"]:
        return "rsi_oversold must be below rsi_overbought"
    return None


SCHEMAS: dict[str, StrategySchema] = {
    s.kind: s
    for s in (
        StrategySchema(
            kind="ema_cross",
            title="EMA cross",
            description="Long when the fast EMA crosses above the slow EMA; stop-loss and "
            "take-profit as fractions of the entry price. The reference strategy.",
            params=(
                ParamSpec("fast", int, 12, 1, 1000, "fast EMA period"),
                ParamSpec("slow", int, 26, 2, 5000, "slow EMA period"),
                ParamSpec("warmup", int, 200, 0, 100000, "candles ignored before acting"),
                ParamSpec("sl", float, 0.02, 0.0001, 0.5, "stop-loss distance (fraction)"),
                ParamSpec("tp", float, 0.04, 0.0001, 5.0, "take-profit distance (fraction)"),
            ),
            checks=(_fast_below_slow,),
        ),
        StrategySchema(
            kind="bollinger_scalp",
            title="Bollinger/RSI scalp",
            description="SCALP: mean reversion at the Bollinger bands confirmed by RSI, ATR "
            "stops, quick partial take-profits.",
            params=(
                ParamSpec("bb_period", int, 20, 5, 500),
                ParamSpec("bb_std", float, 2.0, 0.5, 5.0),
                ParamSpec("rsi_period", int, 14, 2, 200),
                ParamSpec("rsi_oversold", float, 30.0, 1.0, 99.0),
                ParamSpec("rsi_overbought", float, 70.0, 1.0, 99.0),
                ParamSpec("atr_period", int, 14, 2, 200),
                ParamSpec("stop_atr", float, 1.5, 0.1, 20.0, "stop distance in ATRs"),
                ParamSpec("take_profit_atr", float, 2.0, 0.1, 50.0),
            ),
            checks=(_rsi_bounds,),
        ),
        StrategySchema(
            kind="trend_swing",
            title="Trend-following swing",
            description="SWING: EMA trend filter with breakout entries on a longer timeframe, "
            "ATR stops and a trailing stop.",
            params=(
                ParamSpec("fast", int, 20, 1, 1000),
                ParamSpec("slow", int, 50, 2, 5000),
                ParamSpec("breakout", int, 20, 2, 1000, "Donchian breakout lookback"),
                ParamSpec("atr_period", int, 14, 2, 200),
                ParamSpec("stop_atr", float, 2.5, 0.1, 20.0),
                ParamSpec("trail_atr", float, 3.0, 0.1, 20.0),
            ),
            checks=(_fast_below_slow,),
        ),
        StrategySchema(
            kind="signal",
            title="External signals",
            description="Acts on external signals (the TradingView-style webhook); default "
            "stop-loss and take-profit when a signal carries none.",
            params=(
                ParamSpec("default_sl", float, 0.02, 0.0001, 0.5),
                ParamSpec("default_tp", float, 0.04, 0.0001, 5.0),
                ParamSpec("max_signal_age_s", int, 60, 1, 3600, "older signals are refused"),
            ),
        ),
        StrategySchema(
            kind="ai",
            title="AI driver",
            description="Trades the AI's actions (HybridAI, the bot's AI settings): a confident "
            "LONG or SHORT enters when flat, a confident different action exits; stop-loss and "
            "take-profit as fractions of the entry price (0: none).",
            params=(
                ParamSpec("sl", float, 0.02, 0.0001, 0.5, "stop-loss distance (fraction)"),
                ParamSpec("tp", float, 0.0, 0.0, 5.0, "take-profit distance (fraction; 0: none)"),
            ),
        ),
    )
}


def validate_parameters(kind: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ParameterError(
            f"unknown strategy kind {kind!r} (known: {', '.join(sorted(SCHEMAS))})"
        )
    return schema.validate(raw)
