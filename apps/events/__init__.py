"""The platform's event bus: what happened (orders, fills, bot states, AI decisions, alerts),
published to whoever listens over the channel layer (the dashboards today).

Every app that changes something publishes here; only ``apps.dashboard`` subscribes. It lives
outside the dashboard so that trading, orders and exchange never import the UI app.

Events describing database changes are published only after the transaction commits, so a
browser never sees a change that was rolled back.

In-process listeners: :data:`event_published` is sent by :func:`publish_event` at once, in the
publisher's transaction (before commit), with ``kind`` and ``data``. A receiver that writes rows
(``apps.telegram`` puts the platform's critical alerts into its notification outbox) so writes
them in the same transaction as the change: rolled back together. A receiver that raises is
logged and the publisher goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

logger = logging.getLogger(__name__)

LIVE_GROUP = "live"
SEQUENCE_KEY = "events:sequence"

#: Sent by :func:`publish_event` in the publisher's transaction: ``kind=``, ``data=``.
event_published = Signal()


def next_sequence() -> int | None:
    """The next number of the platform-wide event sequence (the cache: Redis when scaled out,
    so every process counts in one sequence). A page that sees a number skipped knows an event
    was lost on the way (a full channel layer drops silently) and fetches a snapshot."""
    from django.core.cache import cache

    try:
        cache.add(SEQUENCE_KEY, 0, timeout=None)
        return int(cache.incr(SEQUENCE_KEY))
    except Exception:  # no sequence is better than no event
        logger.warning("event sequence unavailable", exc_info=True)
        return None


def _send(kind: str, data: dict[str, Any], group: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": "platform.event",
        "event": {
            "kind": kind,
            "seq": next_sequence(),
            "sent_at": timezone.now().isoformat(),
            "data": data,
        },
    }
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a dashboard being unreachable must never break trading
        logger.exception("could not publish %s event to %s", kind, group)


def publish_event(kind: str, data: dict[str, Any], *, group: str = LIVE_GROUP) -> None:
    """Send an event to the dashboards once the current transaction (if any) commits; tell the
    in-process listeners (:data:`event_published`) now."""
    if event_published.has_listeners():
        for listener, result in event_published.send_robust(sender=None, kind=kind, data=data):
            if isinstance(result, Exception):
                logger.error("listener %r of the %s event failed", listener, kind, exc_info=result)
    transaction.on_commit(lambda: _send(kind, data, group))
