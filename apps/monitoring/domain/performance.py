"""Performance figures of closed trades and the threshold checks that turn them into alerts.

Pure: no Django, no clock, no I/O. The caller passes the trades, the starting equity and the
thresholds.

The trade figures (win rate, average win and loss, profit/loss ratio, profit factor, net PnL,
expectancy, loss streaks) are ``apps.core.domain.metrics.trade_figures`` of the trades' net PnL in
exit order: one definition for backtests and this monitor, in ``Decimal``, ``None`` where a figure
is not defined (no trade, no win, no loss). On top of them, for the monitor (``n`` = trades):

- ``total_roi = sum(roi %)``, ``avg_roi = total_roi / trades with a known roi``;
- ``max_drawdown``: the largest fall of the cumulative net-PnL curve (trades ordered by exit
  time) from its running peak, the peak starting at 0 (the starting equity); >= 0, in quote
  currency. ``max_drawdown_pct = max_drawdown / starting_equity * 100`` (``None`` when the
  starting equity is not positive);
- ``avg_holding``: the mean of ``exit_time - entry_time``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from apps.core.domain.metrics import trade_figures

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Severity:
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    ORDER: tuple[str, ...] = (INFO, WARNING, CRITICAL)

    @classmethod
    def rank(cls, severity: str) -> int:
        """Return the position of `severity` (info < warning < critical); raise ValueError."""
        return cls.ORDER.index(severity)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One closed trade as the monitor sees it; ``roi`` is in % (None when unknown)."""

    bot: Hashable
    mode: str
    net_pnl: Decimal
    roi: Decimal | None
    entry_time: datetime
    exit_time: datetime


@dataclass(frozen=True, slots=True)
class PerformanceStats:
    trades: int
    wins: int
    losses: int
    win_rate: Decimal | None
    gross_profit: Decimal
    gross_loss: Decimal
    avg_win: Decimal | None
    avg_loss: Decimal | None
    profit_loss_ratio: Decimal | None
    profit_factor: Decimal | None
    net_pnl: Decimal
    expectancy: Decimal | None
    total_roi: Decimal
    avg_roi: Decimal | None
    max_drawdown: Decimal
    max_drawdown_pct: Decimal | None
    max_consecutive_losses: int
    current_losing_streak: int
    avg_holding: timedelta | None
    starting_equity: Decimal
    first_exit: datetime | None = None
    last_exit: datetime | None = None


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return None if denominator == 0 else numerator / denominator


def compute_stats(
    trades: Iterable[ClosedTrade], *, starting_equity: Decimal = ZERO
) -> PerformanceStats:
    """Compute the figures of the module docstring for `trades` (in any order)."""
    ordered = sorted(trades, key=lambda t: (t.exit_time, t.entry_time))
    n = len(ordered)
    figures = trade_figures([t.net_pnl for t in ordered], zero=ZERO)
    rois = [t.roi for t in ordered if t.roi is not None]
    total_roi = sum(rois, ZERO)

    cumulative = peak = drawdown = ZERO
    holding = timedelta(0)
    for trade in ordered:
        cumulative += trade.net_pnl
        peak = max(peak, cumulative)
        drawdown = max(drawdown, peak - cumulative)
        holding += trade.exit_time - trade.entry_time

    return PerformanceStats(
        trades=n,
        wins=figures.wins,
        losses=figures.losses,
        win_rate=figures.win_rate,
        gross_profit=figures.gross_profit,
        gross_loss=figures.gross_loss,
        avg_win=figures.avg_win,
        avg_loss=figures.avg_loss,
        profit_loss_ratio=figures.profit_loss_ratio,
        profit_factor=figures.profit_factor,
        net_pnl=figures.net_pnl,
        expectancy=figures.expectancy,
        total_roi=total_roi,
        avg_roi=_ratio(total_roi, Decimal(len(rois))),
        max_drawdown=drawdown,
        max_drawdown_pct=drawdown / starting_equity * HUNDRED if starting_equity > 0 else None,
        max_consecutive_losses=figures.max_consecutive_losses,
        current_losing_streak=figures.current_losing_streak,
        avg_holding=holding / n if n else None,
        starting_equity=starting_equity,
        first_exit=ordered[0].exit_time if ordered else None,
        last_exit=ordered[-1].exit_time if ordered else None,
    )


ALL = None
"""The key for "all bots" or "all modes" in :func:`stats_by_scope`."""


def stats_by_scope(
    trades: Sequence[ClosedTrade],
    *,
    starting_equity: dict[Hashable, Decimal] | None = None,
    total_starting_equity: Decimal = ZERO,
) -> dict[tuple[Hashable | None, str | None], PerformanceStats]:
    """Return figures keyed by ``(bot, mode)``, where ``None`` means "all".

    Holds every combination present: ``(None, None)`` (always, even without trades),
    ``(None, mode)``, ``(bot, None)`` and ``(bot, mode)``. A bot's starting equity comes from
    `starting_equity` (0 when missing); scopes over all bots use `total_starting_equity`.
    """
    equity = starting_equity or {}
    groups: dict[tuple[Hashable | None, str | None], list[ClosedTrade]] = {(ALL, ALL): []}
    for trade in trades:
        for key in ((ALL, ALL), (ALL, trade.mode), (trade.bot, ALL), (trade.bot, trade.mode)):
            groups.setdefault(key, []).append(trade)
    result: dict[tuple[Hashable | None, str | None], PerformanceStats] = {}
    for (bot, mode), group in groups.items():
        start = total_starting_equity if bot is ALL else equity.get(bot, ZERO)
        result[(bot, mode)] = compute_stats(group, starting_equity=start)
    return result


# --- Thresholds --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Limits a scope is judged against; ``None`` switches a check off.

    ``min_win_rate`` is a fraction (0.40 = 40 %); ``max_drawdown_pct`` is in % of the starting
    equity. Win rate and profit factor are judged only once ``min_trades`` trades exist (too few
    trades say nothing); drawdown and the losing streak are judged at any count, since they
    measure money already lost.
    """

    min_win_rate: Decimal | None = Decimal("0.40")
    min_profit_factor: Decimal | None = Decimal("1.0")
    max_drawdown_pct: Decimal | None = Decimal("10")
    max_consecutive_losses: int | None = 5
    min_trades: int = 10


@dataclass(frozen=True, slots=True)
class Breach:
    kind: str
    severity: str
    message: str
    value: str
    threshold: str
    data: dict[str, str] = field(default_factory=dict)


class BreachKind:
    WIN_RATE = "win_rate_low"
    PROFIT_FACTOR = "profit_factor_low"
    DRAWDOWN = "drawdown_high"
    LOSING_STREAK = "losing_streak"


def _pct(fraction: Decimal) -> str:
    return f"{fraction * HUNDRED:.1f} %"


def evaluate_thresholds(
    stats: PerformanceStats, thresholds: Thresholds, *, label: str = ""
) -> list[Breach]:
    """Return the limits `stats` breaks, each with a one-line message holding the figures.

    `label` (a bot name, a mode) starts each message. The losing streak judged is the current
    one (the run that ends with the latest trade), so an old streak does not alert forever; it
    breaches when it is longer than ``max_consecutive_losses``.
    """
    prefix = f"{label}: " if label else ""
    breaches: list[Breach] = []
    judged = stats.trades >= thresholds.min_trades and stats.trades > 0
    if (
        judged
        and thresholds.min_win_rate is not None
        and stats.win_rate is not None
        and stats.win_rate < thresholds.min_win_rate
    ):
        breaches.append(
            Breach(
                kind=BreachKind.WIN_RATE,
                severity=Severity.WARNING,
                message=(
                    f"{prefix}win rate {_pct(stats.win_rate)} is below "
                    f"{_pct(thresholds.min_win_rate)} over {stats.trades} trades "
                    f"({stats.wins} won, {stats.losses} lost)"
                ),
                value=str(stats.win_rate),
                threshold=str(thresholds.min_win_rate),
            )
        )
    if (
        judged
        and thresholds.min_profit_factor is not None
        and stats.profit_factor is not None
        and stats.profit_factor < thresholds.min_profit_factor
    ):
        breaches.append(
            Breach(
                kind=BreachKind.PROFIT_FACTOR,
                severity=Severity.WARNING,
                message=(
                    f"{prefix}profit factor {stats.profit_factor:.2f} is below "
                    f"{thresholds.min_profit_factor:.2f} over {stats.trades} trades "
                    f"(gross profit {stats.gross_profit:.2f}, gross loss {stats.gross_loss:.2f})"
                ),
                value=str(stats.profit_factor),
                threshold=str(thresholds.min_profit_factor),
            )
        )
    if (
        thresholds.max_drawdown_pct is not None
        and stats.max_drawdown_pct is not None
        and stats.max_drawdown_pct > thresholds.max_drawdown_pct
    ):
        breaches.append(
            Breach(
                kind=BreachKind.DRAWDOWN,
                severity=Severity.CRITICAL,
                message=(
                    f"{prefix}max drawdown {stats.max_drawdown_pct:.2f} % "
                    f"({stats.max_drawdown:.2f} of {stats.starting_equity:.2f} starting equity) "
                    f"exceeds {thresholds.max_drawdown_pct:.2f} %"
                ),
                value=str(stats.max_drawdown_pct),
                threshold=str(thresholds.max_drawdown_pct),
            )
        )
    if (
        thresholds.max_consecutive_losses is not None
        and stats.current_losing_streak > thresholds.max_consecutive_losses
    ):
        breaches.append(
            Breach(
                kind=BreachKind.LOSING_STREAK,
                severity=Severity.WARNING,
                message=(
                    f"{prefix}{stats.current_losing_streak} consecutive losing trades "
                    f"(limit {thresholds.max_consecutive_losses})"
                ),
                value=str(stats.current_losing_streak),
                threshold=str(thresholds.max_consecutive_losses),
            )
        )
    return breaches
