"""The flood gate: at most ``limit`` commands per chat in any ``window_s`` seconds.

The first command over the limit is answered once with a notice; the rest of the flood is
ignored in silence until the window has room again (then the notice may be given again).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    ALLOW = "allow"
    NOTICE = "notice"  # over the limit: answer once, do not run
    DROP = "drop"  # over the limit, already told: nothing at all


@dataclass
class FloodGate:
    limit: int
    window_s: float = 60.0
    _seen: dict[int, deque[float]] = field(default_factory=dict)
    _told: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"the flood limit must be at least 1, got {self.limit}")
        if self.window_s <= 0:
            raise ValueError(f"the flood window must be positive, got {self.window_s}")

    def check(self, chat_id: int, now: float) -> Verdict:
        """Count one command from `chat_id` at monotonic time `now` and judge it."""
        seen = self._seen.setdefault(chat_id, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) < self.limit:
            seen.append(now)
            self._told.discard(chat_id)
            return Verdict.ALLOW
        if chat_id in self._told:
            return Verdict.DROP
        self._told.add(chat_id)
        return Verdict.NOTICE

    def retry_in(self, chat_id: int, now: float) -> float:
        """Seconds until `chat_id` may send a command again (0 if it may now)."""
        seen = self._seen.get(chat_id)
        if not seen or len(seen) < self.limit:
            return 0.0
        return max(0.0, seen[0] + self.window_s - now)
