"""Reads of the experiments: each variant's daily returns and the A/B report; the same
comparison for two backtest runs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, Sum

from apps.backtest.models import BacktestRun
from apps.core.domain.metrics import trade_figures
from apps.experiments.domain.stats import (
    Comparison,
    compare_daily_returns,
    daily_returns,
    day_range,
)
from apps.experiments.models import Experiment, Variant
from apps.monitoring.domain.performance import ClosedTrade
from apps.monitoring.selectors import closed_trade_records
from apps.trading.models import Position, Trade

ZERO = Decimal(0)


class ReportError(ValueError):
    """The report cannot be made; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class VariantFigures:
    label: str
    bot: str
    trades: int
    open_trades: int
    net_pnl: Decimal
    open_pnl: Decimal
    win_rate: Decimal | None
    pnl_by_day: dict[date, Decimal]

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "bot": self.bot,
            "trades": self.trades,
            "open_trades": self.open_trades,
            "net_pnl": str(self.net_pnl),
            "open_pnl": str(self.open_pnl),
            "win_rate": None if self.win_rate is None else str(self.win_rate),
        }


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    experiment: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    days: list[date]
    capital: Decimal
    variants: list[VariantFigures]
    comparisons: list[Comparison]

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "status": self.status,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "first_day": self.days[0].isoformat() if self.days else None,
            "last_day": self.days[-1].isoformat() if self.days else None,
            "days": len(self.days),
            "capital": str(self.capital),
            "variants": [v.as_dict() for v in self.variants],
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


def experiment_get(*, name: str) -> Experiment:
    experiment = Experiment.objects.select_related("base_bot").filter(name=name).first()
    if experiment is None:
        raise ReportError(f"no experiment named {name!r}")
    return experiment


def _variant_figures(
    variant: Variant, *, since: datetime, until: datetime, closed_all: list[ClosedTrade]
) -> VariantFigures:
    bot = variant.bot
    assert bot is not None
    closed = [t for t in closed_all if t.bot == bot.pk]
    by_day: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for trade in closed:
        by_day[trade.exit_time.astimezone(UTC).date()] += trade.net_pnl
    # Still open at the end: what the open trades booked so far (partial exits, fees, funding)
    # plus the positions' unrealised PnL, counted on the last day.
    open_trades = Trade.objects.filter(bot=bot, status=Trade.Status.OPEN, entry_time__gte=since)
    booked = open_trades.aggregate(
        net=Sum(F("realized_pnl") - F("fees") - F("funding"), default=ZERO)
    )["net"]
    unrealised = (
        Position.objects.filter(bot=bot)
        .exclude(quantity=0)
        .aggregate(u=Sum("unrealized_pnl", default=ZERO))["u"]
    )
    open_pnl = Decimal(booked) + Decimal(unrealised)
    if open_pnl:
        by_day[until.astimezone(UTC).date()] += open_pnl
    figures = trade_figures([t.net_pnl for t in closed], zero=ZERO)
    return VariantFigures(
        label=variant.label,
        bot=bot.name,
        trades=figures.trades,
        open_trades=open_trades.count(),
        net_pnl=figures.net_pnl,
        open_pnl=open_pnl,
        win_rate=figures.win_rate,
        pnl_by_day=dict(by_day),
    )


def experiment_report(*, experiment: Experiment, now: datetime) -> ExperimentReport:
    """Each variant's figures over the experiment's period (start to stop, or to ``now`` while
    it runs), and each variant compared with the control (the first label) on the same days.

    Raise ReportError for a draft, or when a variant's equity fell to zero.
    """
    if experiment.started_at is None:
        raise ReportError(f"experiment {experiment.name} has not started: nothing to report")
    since = experiment.started_at
    until = experiment.stopped_at or now
    variants = [v for v in experiment.variants.select_related("bot") if v.bot is not None]
    days = day_range(since.astimezone(UTC).date(), until.astimezone(UTC).date())
    closed_all = closed_trade_records(since=since, until=until)
    figures = [
        _variant_figures(v, since=since, until=until, closed_all=closed_all) for v in variants
    ]
    comparisons = []
    if figures:
        try:
            returns = {
                f.label: daily_returns(f.pnl_by_day, days=days, capital=experiment.capital)
                for f in figures
            }
        except ValueError as exc:
            raise ReportError(f"experiment {experiment.name}: {exc}") from exc
        control = figures[0].label
        for other in figures[1:]:
            comparisons.append(
                compare_daily_returns(
                    returns[control],
                    returns[other.label],
                    label_a=control,
                    label_b=other.label,
                    confidence=experiment.confidence,
                    resamples=experiment.resamples,
                    seed=experiment.seed,
                )
            )
    return ExperimentReport(
        experiment=experiment.name,
        status=experiment.status,
        started_at=since,
        ended_at=until,
        days=days,
        capital=experiment.capital,
        variants=figures,
        comparisons=comparisons,
    )


# --- backtest runs -----------------------------------------------------------------------------


def _ms_day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


def backtest_run_daily(run: BacktestRun) -> tuple[list[date], dict[date, Decimal], Decimal]:
    """A finished run's days, net PnL per exit day (``pnl`` is net of fees and funding) and
    capital (the cash of each symbol's series). Raise ReportError for an unfinished run."""
    if run.status != BacktestRun.Status.DONE or run.first_open_time is None:
        raise ReportError(f"backtest {run.pk} is {run.status}, not done")
    series = max(1, len(run.metrics or {}))
    capital = Decimal(run.cash) * series
    by_day: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for trade in run.trades or []:
        by_day[_ms_day(int(trade["exit_time"]))] += Decimal(repr(float(trade["pnl"])))
    last = run.last_open_time if run.last_open_time is not None else run.first_open_time
    return day_range(_ms_day(run.first_open_time), _ms_day(last)), dict(by_day), capital


def backtest_runs_compare(
    *,
    run_a: BacktestRun,
    run_b: BacktestRun,
    confidence: Decimal = Decimal("0.95"),
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Two finished runs compared on the days both cover (JSON-ready). Each run's daily
    returns come from its whole equity curve, cut to the common days. Raise ReportError."""
    if run_a.pk == run_b.pk:
        raise ReportError("compare two different backtest runs")
    days_a, pnl_a, capital_a = backtest_run_daily(run_a)
    days_b, pnl_b, capital_b = backtest_run_daily(run_b)
    common = sorted(set(days_a) & set(days_b))
    if not common:
        raise ReportError(f"backtests {run_a.pk} and {run_b.pk} cover no common day")
    try:
        full_a = daily_returns(pnl_a, days=days_a, capital=capital_a)
        full_b = daily_returns(pnl_b, days=days_b, capital=capital_b)
    except ValueError as exc:
        raise ReportError(str(exc)) from exc
    index_a = {d: i for i, d in enumerate(days_a)}
    index_b = {d: i for i, d in enumerate(days_b)}
    comparison = compare_daily_returns(
        [full_a[index_a[d]] for d in common],
        [full_b[index_b[d]] for d in common],
        label_a=f"run {run_a.pk}",
        label_b=f"run {run_b.pk}",
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )

    def run_figures(run: BacktestRun, capital: Decimal, pnl: dict[date, Decimal]) -> dict[str, Any]:
        in_common = [t for t in run.trades or [] if _ms_day(int(t["exit_time"])) in set(common)]
        return {
            "id": run.pk,
            "strategy": run.strategy,
            "parameters": run.parameters,
            "capital": str(capital),
            "trades": run.trade_count,
            "trades_in_common_days": len(in_common),
            "net_pnl_in_common_days": str(sum((pnl.get(d, ZERO) for d in common), ZERO)),
        }

    return {
        "first_day": common[0].isoformat(),
        "last_day": common[-1].isoformat(),
        "days": len(common),
        "a": run_figures(run_a, capital_a, pnl_a),
        "b": run_figures(run_b, capital_b, pnl_b),
        "comparison": comparison.as_dict(),
    }


def report_winner(report: ExperimentReport) -> str | None:
    """The variant to promote: the one that beats the control by the largest significant
    Sharpe difference; the control when it significantly beats every other variant; else
    None (no significant winner yet)."""
    better = [c for c in report.comparisons if c.significant and c.better == c.label_b]
    if better:
        best = max(better, key=lambda c: c.sharpe_diff.observed if c.sharpe_diff else 0)
        return best.label_b
    if report.comparisons and all(
        c.significant and c.better == c.label_a for c in report.comparisons
    ):
        return report.comparisons[0].label_a
    return None
