"""Tiered loss circuit breaker.

Each `BreakerTier` watches the net realized PnL over its own trailing window
`(now - window_minutes, now]`. The loss figure is `max(0, -sum(pnl))` over that window: gains
in the window offset losses (net, not gross). A tier trips when the loss reaches its limit
(`loss >= limit`), where the limit is either an absolute quote amount (`loss_limit`, e.g.
`Decimal("500")` USDT) or a fraction of the equity passed to `evaluate` (`loss_limit_pct`,
a fraction: `Decimal("0.03")` means 3 % of equity).

Actions, by increasing severity: WARN < REDUCE_SIZE < HALT_ENTRIES < FLATTEN. `evaluate`
reports the most severe tier that is active (ties: the tier with the highest loss/limit
ratio, then the longest window).

Latching: when a tier trips at `t`, it stays active until `t + cooldown_minutes` (per tier;
defaults to the tier's window) even if later gains bring the window's loss back under the
limit. When the cool-down has passed, the latch clears only if the loss is under the limit;
otherwise the tier re-trips at the current time and a new cool-down starts. `reset(at)` is
the explicit operator override: it clears every latch and forgets every PnL event at or
before `at`, so those losses cannot re-trip a tier.

Pruning: events older than the largest window (relative to the latest `now` or `at` seen)
are dropped; they can no longer count towards any tier.

The breaker reads no clock: every time is a UTC-aware datetime passed in. `to_state()` and
`from_state()` round-trip the events and latches through plain JSON types; the tiers are
configuration and are passed to `from_state` again (latches of tiers no longer configured
are dropped). With equity <= 0 every percentage limit is 0, so any such tier is active.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from apps.risk.domain.types import require_utc

STATE_VERSION = 1


class BreakerAction(StrEnum):
    WARN = "WARN"
    REDUCE_SIZE = "REDUCE_SIZE"
    HALT_ENTRIES = "HALT_ENTRIES"
    FLATTEN = "FLATTEN"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    BreakerAction.WARN: 1,
    BreakerAction.REDUCE_SIZE: 2,
    BreakerAction.HALT_ENTRIES: 3,
    BreakerAction.FLATTEN: 4,
}


@dataclass(frozen=True, slots=True)
class BreakerTier:
    """One loss limit over one trailing window; give exactly one of the two limits."""

    name: str
    window_minutes: int
    action: BreakerAction
    loss_limit: Decimal | None = None
    loss_limit_pct: Decimal | None = None
    size_multiplier: Decimal = Decimal("1")
    cooldown_minutes: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("breaker tier name must not be empty")
        if isinstance(self.window_minutes, bool) or not isinstance(self.window_minutes, int):
            raise ValueError(f"tier {self.name!r}: window_minutes must be an int")
        if self.window_minutes <= 0:
            raise ValueError(f"tier {self.name!r}: window_minutes must be positive")
        if not isinstance(self.action, BreakerAction):
            object.__setattr__(self, "action", BreakerAction(self.action))
        if (self.loss_limit is None) == (self.loss_limit_pct is None):
            raise ValueError(f"tier {self.name!r}: give exactly one of loss_limit, loss_limit_pct")
        if self.loss_limit is not None and not self.loss_limit > 0:
            raise ValueError(f"tier {self.name!r}: loss_limit must be positive")
        if self.loss_limit_pct is not None and not Decimal(0) < self.loss_limit_pct <= 1:
            raise ValueError(f"tier {self.name!r}: loss_limit_pct must be a fraction in (0, 1]")
        if self.action is BreakerAction.REDUCE_SIZE:
            if not Decimal(0) < self.size_multiplier < 1:
                raise ValueError(f"tier {self.name!r}: REDUCE_SIZE needs size_multiplier in (0, 1)")
        elif self.size_multiplier != 1:
            raise ValueError(f"tier {self.name!r}: size_multiplier applies only to REDUCE_SIZE")
        if self.cooldown_minutes is not None and self.cooldown_minutes < 0:
            raise ValueError(f"tier {self.name!r}: cooldown_minutes must not be negative")

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @property
    def cooldown(self) -> timedelta:
        minutes = self.window_minutes if self.cooldown_minutes is None else self.cooldown_minutes
        return timedelta(minutes=minutes)

    def limit_for(self, equity: Decimal) -> Decimal:
        """Return the absolute loss limit in quote currency for this equity."""
        if self.loss_limit is not None:
            return self.loss_limit
        assert self.loss_limit_pct is not None
        return equity * self.loss_limit_pct


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    """What the breaker says now; `action` is None when no tier is active."""

    action: BreakerAction | None
    tier: str | None
    loss: Decimal
    limit: Decimal | None
    window_minutes: int | None
    size_multiplier: Decimal
    reason: str
    active_tiers: tuple[str, ...] = ()

    @property
    def tripped(self) -> bool:
        return self.action is not None

    @property
    def allows_entries(self) -> bool:
        return self.action not in (BreakerAction.HALT_ENTRIES, BreakerAction.FLATTEN)

    @property
    def must_flatten(self) -> bool:
        return self.action is BreakerAction.FLATTEN


@dataclass(frozen=True, slots=True)
class _TierStatus:
    tier: BreakerTier
    loss: Decimal
    limit: Decimal
    tripped_at: datetime

    @property
    def ratio(self) -> Decimal:
        return self.loss / self.limit if self.limit > 0 else Decimal("Infinity")


def validate_tiers(tiers: Iterable[BreakerTier]) -> tuple[BreakerTier, ...]:
    """Return the tiers as a tuple; raise ValueError if empty or a name repeats."""
    result = tuple(tiers)
    if not result:
        raise ValueError("circuit breaker needs at least one tier")
    seen: set[str] = set()
    for tier in result:
        if not isinstance(tier, BreakerTier):
            raise ValueError(f"expected BreakerTier, got {type(tier).__name__}")
        if tier.name in seen:
            raise ValueError(f"duplicate breaker tier name {tier.name!r}")
        seen.add(tier.name)
    return result


@dataclass
class CircuitBreaker:
    """Tiered loss limits over trailing windows; see the module docstring for the rules."""

    tiers: Sequence[BreakerTier]
    _events: list[tuple[datetime, Decimal]] = field(default_factory=list, init=False, repr=False)
    _latched: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.tiers = validate_tiers(self.tiers)
        self._max_window = max(t.window for t in self.tiers)

    @property
    def events(self) -> tuple[tuple[datetime, Decimal], ...]:
        return tuple(self._events)

    @property
    def latched(self) -> Mapping[str, datetime]:
        return dict(self._latched)

    def record_pnl(self, at: datetime, pnl: Decimal) -> None:
        """Record a realized PnL event (negative for a loss) that happened at `at`."""
        require_utc(at, "at")
        if not isinstance(pnl, Decimal):
            raise ValueError(f"pnl must be a Decimal, got {type(pnl).__name__}")
        if not pnl.is_finite():
            raise ValueError(f"pnl must be finite, got {pnl}")
        self._events.append((at, pnl))
        self._events.sort(key=lambda e: e[0])
        self._prune(self._events[-1][0])

    def reset(self, at: datetime, tier: str | None = None) -> None:
        """Clear latches (one tier or all); with no tier, also forget events at or before `at`."""
        require_utc(at, "at")
        if tier is not None:
            if tier not in {t.name for t in self.tiers}:
                raise ValueError(f"unknown breaker tier {tier!r}")
            self._latched.pop(tier, None)
            return
        self._latched.clear()
        self._events = [e for e in self._events if e[0] > at]

    def window_loss(self, now: datetime, window: timedelta) -> Decimal:
        """Return the net realized loss (>= 0) over `(now - window, now]`."""
        start = now - window
        total = sum((pnl for at, pnl in self._events if start < at <= now), Decimal(0))
        return max(Decimal(0), -total)

    def evaluate(self, now: datetime, equity: Decimal) -> BreakerDecision:
        """Prune, update latches and return the most severe active tier as of `now`."""
        require_utc(now, "now")
        if not isinstance(equity, Decimal) or not equity.is_finite():
            raise ValueError(f"equity must be a finite Decimal, got {equity!r}")
        self._prune(now)
        active: list[_TierStatus] = []
        for tier in self.tiers:
            loss = self.window_loss(now, tier.window)
            limit = tier.limit_for(max(equity, Decimal(0)))
            breached = loss >= limit
            tripped_at = self._latched.get(tier.name)
            if tripped_at is not None and now >= tripped_at + tier.cooldown:
                tripped_at = None
                del self._latched[tier.name]
            if breached and tripped_at is None:
                tripped_at = now
                self._latched[tier.name] = now
            if tripped_at is not None:
                active.append(_TierStatus(tier, loss, limit, tripped_at))
        if not active:
            return BreakerDecision(
                action=None,
                tier=None,
                loss=self.window_loss(now, self._max_window),
                limit=None,
                window_minutes=None,
                size_multiplier=Decimal(1),
                reason="circuit breaker clear",
            )
        worst = max(active, key=lambda s: (s.tier.action.severity, s.ratio, s.tier.window_minutes))
        return BreakerDecision(
            action=worst.tier.action,
            tier=worst.tier.name,
            loss=worst.loss,
            limit=worst.limit,
            window_minutes=worst.tier.window_minutes,
            size_multiplier=_size_multiplier(active),
            reason=_reason(worst, now),
            active_tiers=tuple(s.tier.name for s in active),
        )

    def _prune(self, now: datetime) -> None:
        cutoff = now - self._max_window
        if self._events and self._events[0][0] <= cutoff:
            self._events = [e for e in self._events if e[0] > cutoff]

    def to_state(self) -> dict[str, Any]:
        """Return the events and latches as plain JSON types (ISO-8601 times, str Decimals)."""
        return {
            "version": STATE_VERSION,
            "events": [[at.isoformat(), str(pnl)] for at, pnl in self._events],
            "latched": {name: at.isoformat() for name, at in sorted(self._latched.items())},
        }

    @classmethod
    def from_state(cls, tiers: Sequence[BreakerTier], state: Mapping[str, Any]) -> CircuitBreaker:
        """Rebuild a breaker from `to_state()` output; raise ValueError on a malformed state."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported circuit breaker state version {state.get('version')!r}")
        breaker = cls(tiers)
        names = {t.name for t in breaker.tiers}
        try:
            events = [
                (require_utc(datetime.fromisoformat(at), "event time"), Decimal(pnl))
                for at, pnl in state.get("events", [])
            ]
            latched = {
                name: require_utc(datetime.fromisoformat(at), "latch time")
                for name, at in state.get("latched", {}).items()
                if name in names
            }
        except (TypeError, InvalidOperation) as exc:
            raise ValueError(f"malformed circuit breaker state: {exc}") from exc
        breaker._events = sorted(events, key=lambda e: e[0])
        breaker._latched = latched
        return breaker


def _size_multiplier(active: Sequence[_TierStatus]) -> Decimal:
    if any(s.tier.action.severity >= BreakerAction.HALT_ENTRIES.severity for s in active):
        return Decimal(0)
    reduce = [s.tier.size_multiplier for s in active if s.tier.action is BreakerAction.REDUCE_SIZE]
    return min(reduce, default=Decimal(1))


def _reason(status: _TierStatus, now: datetime) -> str:
    tier = status.tier
    limit_text = f"{status.limit:.2f}"
    if tier.loss_limit_pct is not None:
        limit_text += f" ({(tier.loss_limit_pct * 100).normalize():f}% of equity)"
    text = (
        f"tier {tier.name!r} {tier.action.value}: net loss {status.loss:.2f} over "
        f"{tier.window_minutes} min vs limit {limit_text}"
    )
    if status.tripped_at != now:
        until = status.tripped_at + tier.cooldown
        text += f"; latched since {status.tripped_at.isoformat()} until {until.isoformat()}"
    return text
