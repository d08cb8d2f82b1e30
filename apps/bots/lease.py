"""One actor per bot at a time: a short lease in the cache, renewed by its holder.

Candle cycles, webhook signals, reconciliation and the kill switch all act on a bot under its
lease (``bot_lock``). The lease lives in the cache (Redis when ``REDIS_URL`` is set, so it is
shared by every process; the process's memory in the embedded default) and expires after
``LEASE_SECONDS`` unless its holder renews it: a thread renews it every ``RENEW_SECONDS`` while
the holder works. A holder that dies (``kill -9``, a lost machine) stops renewing, so its
bot is free again within ``LEASE_SECONDS``, not after a long fixed TTL.

Fencing: the kill switch never waits behind a cycle. It takes the lease over (``steal=True``)
after a short wait; the previous holder finds out at its next ``BotLease.check()`` (called
before every order it sends and before a paper cycle commits) and stops with ``LeaseLost``,
having sent nothing more.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.cache import cache

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15
RENEW_SECONDS = 5.0
KEY_PREFIX = "bot-lock:"


class CycleBusy(Exception):
    """Another actor holds the bot's lease; the caller retries later."""


class LeaseLost(Exception):
    """The lease was taken over (the kill switch: ``taken_over``) or lapsed (its holder could not
    renew it in time, or the cache lost it): stop acting on the bot."""

    def __init__(self, message: str, *, taken_over: bool) -> None:
        super().__init__(message)
        self.taken_over = taken_over


def _key(bot_id: int) -> str:
    return f"{KEY_PREFIX}{bot_id}"


def lease_holder(bot_id: int) -> str | None:
    """Who holds the bot's lease now ("host:pid:thread:nonce"), or None."""
    value = cache.get(_key(bot_id))
    return None if value is None else str(value)


class BotLease:
    """A held lease. ``check()`` raises ``LeaseLost`` once it is no longer ours."""

    def __init__(self, bot_id: int, token: str, *, seconds: int) -> None:
        self.bot_id = bot_id
        self.key = _key(bot_id)
        self.token = token
        self.seconds = seconds
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def owned(self) -> bool:
        return not self.lost.is_set() and cache.get(self.key) == self.token

    def check(self) -> None:
        """Raise ``LeaseLost`` unless this holder still owns the bot's lease."""
        holder = cache.get(self.key)
        if self.lost.is_set() or holder != self.token:
            self.lost.set()
            if holder is not None and holder != self.token:
                raise LeaseLost(f"bot {self.bot_id}: taken over by {holder}", taken_over=True)
            raise LeaseLost(f"bot {self.bot_id}: the lease lapsed", taken_over=False)

    def _renew_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                if cache.get(self.key) != self.token:
                    self.lost.set()
                    logger.warning("bot %s: lease lost to %s", self.bot_id, cache.get(self.key))
                    return
                cache.touch(self.key, self.seconds)
            except Exception:  # the cache is down: the lease may lapse; check() will tell
                logger.exception("bot %s: lease renewal failed", self.bot_id)

    def start_renewing(self, every: float) -> None:
        self._thread = threading.Thread(
            target=self._renew_loop, args=(every,), name=f"lease-{self.bot_id}", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            if cache.get(self.key) == self.token:
                cache.delete(self.key)
        except Exception:  # the lease lapses by itself
            logger.exception("bot %s: lease release failed", self.bot_id)


_RELEASED: list[Callable[[int], None]] = []


def on_release(hook: Callable[[int], None]) -> Callable[[int], None]:
    """Call ``hook(bot_id)`` each time a holder has released a bot's lease (``bot_lock``), so
    what waited for the bot meanwhile is taken up at once (the trading app hands a webhook
    signal that arrived during a candle cycle to a worker). A hook's error is logged."""
    if hook not in _RELEASED:
        _RELEASED.append(hook)
    return hook


def _released(bot_id: int) -> None:
    for hook in list(_RELEASED):
        try:
            hook(bot_id)
        except Exception:
            logger.exception("bot %s: after-release hook %r failed", bot_id, hook)


def _token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def bot_lock(
    bot_id: int,
    *,
    wait: float = 0.0,
    steal: bool = False,
    seconds: int = LEASE_SECONDS,
    renew_every: float = RENEW_SECONDS,
    notify: bool = True,
) -> Iterator[BotLease]:
    """Hold the bot's lease for the block; yield it (``check()`` it before acting).

    Try for ``wait`` seconds; then raise ``CycleBusy``, or with ``steal`` take the lease over
    from its holder (the kill switch: the holder stops at its next check). Once released, the
    ``on_release`` hooks run (``notify=False``: the holder looks after its release itself).
    """
    token = _token()
    deadline = time.monotonic() + wait
    while not cache.add(_key(bot_id), token, timeout=seconds):
        if time.monotonic() >= deadline:
            if not steal:
                raise CycleBusy(f"bot {bot_id} is already running a cycle")
            previous = cache.get(_key(bot_id))
            cache.set(_key(bot_id), token, timeout=seconds)
            logger.warning("bot %s: lease taken over from %s", bot_id, previous)
            break
        time.sleep(0.05)
    lease = BotLease(bot_id, token, seconds=seconds)
    lease.start_renewing(renew_every)
    try:
        yield lease
    finally:
        lease.release()
        if notify:
            _released(bot_id)
