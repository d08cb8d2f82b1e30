"""The Telegram worker: a poller (``getUpdates`` long polling, commands) and a notifier (the
outbox, the daily summary), each a thread.

``manage.py telegrambot`` runs it in the foreground; the embedded default (``runplatform``
without a broker) starts it when its in-process beat starts (Celery's ``beat_init``) if
``TELEGRAM_EMBEDDED`` is on. Run one per platform: Telegram answers a second poller with 409.
No public URL is needed (no webhook).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery.signals import beat_init
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from apps.telegram.client import TelegramError
from apps.telegram.domain.flood import FloodGate
from apps.telegram.selectors import telegram_api, telegram_bot_get
from apps.telegram.services import (
    daily_summary_record,
    notices_deliver,
    notices_prune,
    telegram_bot_seen,
    telegram_offset_advance,
    telegram_poll_recorded,
    update_handle,
)

logger = logging.getLogger(__name__)

IDLE_S = 5.0  # how often a worker without an enabled bot looks again
PRUNE_EVERY_S = 3600.0
MAX_BACKOFF_S = 60.0


class TelegramWorker:
    def __init__(
        self,
        *,
        poll_timeout: int | None = None,
        notify_interval: float = 1.0,
        idle_s: float = IDLE_S,
    ) -> None:
        self.poll_timeout = int(
            settings.TELEGRAM_POLL_TIMEOUT_S if poll_timeout is None else poll_timeout
        )
        self.notify_interval = notify_interval
        self.idle_s = idle_s
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._gate: FloodGate | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> TelegramWorker:
        for name, target in (("telegram-poller", self._poll_loop), ("notifier", self._notify_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask both threads to stop; wait for them (a long poll ends within its timeout)."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    # --- loops ----------------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        backoff = 1.0
        try:
            while not self.stopping.is_set():
                close_old_connections()
                wait = self._poll_once()
                if wait is None:
                    backoff = 1.0
                elif wait > 0:
                    self.stopping.wait(min(wait, MAX_BACKOFF_S))
                else:
                    self.stopping.wait(backoff)
                    backoff = min(MAX_BACKOFF_S, backoff * 2)
        finally:
            connections.close_all()

    def _poll_once(self) -> float | None:
        """One long poll and the commands it brings; None when all went well, else how long to
        wait (0: back off)."""
        from apps.market.clock import market_now

        config = telegram_bot_get()
        api = telegram_api(config, timeout=10.0)
        if config is None or api is None:
            return self.idle_s
        try:
            if not config.username:
                telegram_bot_seen(config=config, username=str(api.get_me().get("username", "")))
            if self._gate is None or self._gate.limit != config.commands_per_minute:
                self._gate = FloodGate(limit=config.commands_per_minute)
            updates = api.get_updates(offset=config.update_offset, timeout=self.poll_timeout)
            for update in updates:
                telegram_offset_advance(config=config, update_id=int(update["update_id"]))
                update_handle(
                    update=update,
                    config=config,
                    api=api,
                    gate=self._gate,
                    monotonic=time.monotonic(),
                    now=timezone.now(),
                    market_now=market_now(),
                )
            telegram_poll_recorded(config=config, now=timezone.now())
            return None
        except TelegramError as exc:  # masked: never holds the token
            level = logging.WARNING if exc.temporary else logging.ERROR
            logger.log(level, "telegram poller: %s", exc)
            telegram_poll_recorded(config=config, now=timezone.now(), error=str(exc))
            if exc.code == 401:
                return 60.0  # a wrong token: say so, look again in a minute
            return exc.retry_after or 0.0
        except Exception:
            logger.exception("telegram poller: unexpected error")
            return 0.0

    def _notify_loop(self) -> None:
        from apps.market.clock import market_now

        pruned_at = 0.0
        try:
            while not self.stopping.is_set():
                close_old_connections()
                try:
                    daily_summary_record(market_now=market_now(), now=timezone.now())
                    notices_deliver(now=timezone.now())
                    if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                        notices_prune(now=timezone.now())
                        pruned_at = time.monotonic()
                except Exception:
                    logger.exception("notifier: unexpected error")
                self.stopping.wait(self.notify_interval)
        finally:
            connections.close_all()


_embedded: TelegramWorker | None = None
_embedded_lock = threading.Lock()


def embedded_worker() -> TelegramWorker | None:
    return _embedded


def start_embedded(**options: Any) -> TelegramWorker:
    """Start the worker in this process once (the embedded default)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None or not _embedded.alive():
            _embedded = TelegramWorker(**options).start()
            logger.info("Telegram worker started in-process (poller and notifier)")
        return _embedded


def stop_embedded() -> None:
    global _embedded
    with _embedded_lock:
        if _embedded is not None:
            _embedded.stop()
        _embedded = None


@beat_init.connect(dispatch_uid="telegram-embedded-worker")
def _start_with_embedded_beat(sender: Any = None, **kwargs: Any) -> None:
    """Beat started: in the embedded default (no broker server, beat in the web process) the
    Telegram worker runs beside it. A separate ``celery beat`` process never starts it (run
    ``manage.py telegrambot`` there)."""
    if getattr(settings, "TELEGRAM_EMBEDDED", False) and settings.CELERY_EMBEDDED:
        start_embedded()
