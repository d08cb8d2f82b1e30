"""Chart series for lightweight-charts: ``{"time": <UTC seconds>, "value": float}`` points,
strictly ascending in time (the library refuses anything else)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Max, Min, QuerySet, Sum
from django.db.models.functions import Trunc

from apps.trading.models import Trade

Point = dict[str, float | int]

MAX_POINTS = 1000  # a snapshot is fetched after every batch of events: keep it small
_UNITS = (("minute", 60), ("hour", 3600), ("day", 86400), ("week", 7 * 86400))
_MONEY = DecimalField(max_digits=28, decimal_places=12)


def closed_net_by_time(trades: QuerySet[Trade]) -> list[tuple[datetime, Decimal]]:
    """Net PnL (after fees and funding) of the closed ``trades`` by exit time, ascending: one
    row per trade, or, past ``MAX_POINTS`` trades, summed per minute, hour, day or week (the
    coarsest unit needed), dated by the last exit in each; the database does the summing."""
    closed = trades.filter(status=Trade.Status.CLOSED, exit_time__isnull=False)
    net = F("realized_pnl") - F("fees") - F("funding")
    span = closed.aggregate(n=Count("id"), first=Min("exit_time"), last=Max("exit_time"))
    if not span["n"]:
        return []
    if span["n"] <= MAX_POINTS:
        rows = closed.order_by("exit_time", "id").annotate(net=net).values_list("exit_time", "net")
        return [(at, Decimal(value)) for at, value in rows]
    seconds = (span["last"] - span["first"]).total_seconds()
    unit = next((name for name, size in _UNITS if seconds / size <= MAX_POINTS), "week")
    buckets = (
        closed.annotate(bucket=Trunc("exit_time", unit))
        .values("bucket")
        .annotate(at=Max("exit_time"), net=Sum(net, output_field=_MONEY))
        .order_by("bucket")
        .values_list("at", "net")
    )
    return [(at, Decimal(value)) for at, value in buckets]


def equity_points(
    start: Decimal,
    exits: Iterable[tuple[datetime, Decimal]],
    *,
    now: datetime | None = None,
    last: Decimal | None = None,
) -> list[Point]:
    """Equity after each closed trade (``start`` plus the cumulative net PnL at each exit time,
    ascending), one point per second, then ``last`` at ``now`` (the equity with the open
    positions marked), at most ``MAX_POINTS`` points (the last value of each bucket kept)."""
    equity = start
    by_second: dict[int, float] = {}
    first: int | None = None
    for exit_time, net in exits:
        second = int(exit_time.timestamp())
        if first is None:
            first = second - 1
        equity += net
        by_second[second] = float(equity)
    points = [{"time": t, "value": v} for t, v in by_second.items()]
    points.sort(key=lambda p: p["time"])
    if first is not None:
        points.insert(0, {"time": first, "value": float(start)})
    if now is not None and last is not None:
        moment = max(int(now.timestamp()), points[-1]["time"] if points else 0)
        if points and points[-1]["time"] == moment:
            points[-1] = {"time": moment, "value": float(last)}
        else:
            points.append({"time": moment, "value": float(last)})
    return downsample(points)


def drawdown_points(equity: list[Point]) -> list[Point]:
    """Drawdown from the running peak of ``equity``, in percent (0 or negative)."""
    peak = None
    out: list[Point] = []
    for point in equity:
        value = float(point["value"])
        peak = value if peak is None else max(peak, value)
        out.append(
            {
                "time": point["time"],
                "value": round((value / peak - 1) * 100, 4) if peak > 0 else 0.0,
            }
        )
    return out


def downsample(points: list[Point], limit: int = MAX_POINTS) -> list[Point]:
    """Keep at most ``limit`` points: the last of each equal time bucket, and always the last."""
    if len(points) <= limit:
        return points
    span = points[-1]["time"] - points[0]["time"]
    width = max(1, -(-span // limit))
    kept: dict[int, Point] = {}
    for point in points:
        kept[(point["time"] - points[0]["time"]) // width] = point
    return list(kept.values())
