"""The webhook's one-round-trip hand-over to a worker (apps/webhook/dispatch.py) puts on the
broker what Celery's own ``apply_async`` puts there, through kombu's real Redis transport: the
same task, arguments, routing, options and encoding (only the unique ids differ), and sets the
sweep's "dispatched a moment ago" marker as ``cache.add`` does. Where it cannot be exactly that
(an in-memory broker, an eager task) the web side takes Celery's own path."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
import redis
from celery import Celery
from django.core.cache.backends.redis import RedisCache

from apps.webhook.dispatch import build_hand_over, capture_template

UNIQUE = ("id", "root_id", "correlation_id", "delivery_tag")


def _task_app(redis_url: str, queue: str) -> tuple[Celery, Any]:
    app = Celery("handover-test", set_as_current=False)
    app.conf.update(
        broker_url=redis_url,
        task_default_queue=queue,
        task_serializer="json",
        broker_transport_options={"visibility_timeout": 300},
    )

    @app.task(
        name="trading.signal_process",
        bind=True,
        acks_late=True,
        max_retries=3,
        time_limit=120,
        soft_time_limit=100,
        ignore_result=True,
    )
    def signal_process(self: Any, signal_id: int) -> None:  # pragma: no cover (not run)
        raise AssertionError(signal_id)

    return app, signal_process


def _decoded(raw: bytes) -> dict[str, Any]:
    message = json.loads(raw)
    assert message["properties"]["body_encoding"] == "base64"
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for part in ("headers", "properties"):
        for key in UNIQUE:
            if key in message[part]:
                message[part][key] = "<unique>"
    return message


@pytest.mark.redis
def test_hand_over_pushes_what_celery_pushes_and_marks_the_signal(redis_url):
    queue = f"handover-{uuid.uuid4().hex[:8]}"
    app, task = _task_app(redis_url, queue)
    cache = RedisCache(redis_url, {"KEY_PREFIX": "tp"})
    hand_over = build_hand_over(task, broker_url=redis_url, cache_backend=cache)
    assert hand_over is not None
    client = redis.Redis.from_url(redis_url)

    task.apply_async((4242,))  # Celery and kombu's Redis transport
    hand_over(4242)
    hand_over(77)
    celery_raw, fast_raw = client.lrange(queue, -2, -1)[::-1]  # LPUSH: oldest last
    fast_77 = client.lrange(queue, 0, 0)[0]
    assert json.loads(fast_raw)["headers"]["id"] != json.loads(celery_raw)["headers"]["id"]
    assert _decoded(fast_raw) == _decoded(celery_raw)
    other = _decoded(fast_77)
    assert other["body"][0] == [77] and other["headers"]["argsrepr"] == "(77,)"
    ids = {json.loads(raw)["headers"]["id"] for raw in (fast_raw, fast_77)}
    assert len(ids) == 2

    # The sweep's marker, as signal_dispatched's cache.add sets it: a second add is refused.
    from apps.trading.engine.sweep import _DISPATCH_KEY, SIGNAL_REDISPATCH_S

    assert cache.get(f"{_DISPATCH_KEY}4242") == 1
    assert cache.add(f"{_DISPATCH_KEY}77", 1, timeout=SIGNAL_REDISPATCH_S) is False
    assert 0 < client.ttl(cache.make_and_validate_key(f"{_DISPATCH_KEY}77")) <= SIGNAL_REDISPATCH_S
    app.close()


@pytest.mark.redis
def test_hand_over_falls_back_where_it_would_not_be_exactly_celerys(redis_url):
    app, task = _task_app(redis_url, "handover-fallback")
    cache = RedisCache(redis_url, {})
    from django.core.cache.backends.locmem import LocMemCache

    assert build_hand_over(task, broker_url="memory://", cache_backend=cache) is None
    assert build_hand_over(task, broker_url=redis_url, cache_backend=LocMemCache("x", {})) is None
    app.conf.broker_transport_options = {"global_keyprefix": "x:"}
    assert build_hand_over(task, broker_url=redis_url, cache_backend=cache) is None
    app.close()

    template = capture_template(_task_app(redis_url, "handover-template")[1])
    assert template is not None and template.queue == "handover-template"


@pytest.mark.django_db(transaction=True)
def test_accepted_alert_is_handed_over_through_celery_when_eager(client, eager, signal_bot):
    """The test settings' in-memory broker and eager tasks take Celery's own path: the
    accepted alert is acted on in the request."""
    from django.utils import timezone

    from apps.trading.models import Signal
    from tests.webhook.conftest import SECRET

    body = {
        "passphrase": SECRET,
        "bot": "tv-bot",
        "symbol": "BTCUSDT",
        "action": "buy",
        "quote_amount": "300",
        "alert_id": "handover-eager",
        "time": timezone.now().isoformat(),
    }
    response = client.post("/api/webhook/tradingview/", body, content_type="application/json")
    assert response.status_code == 202, response.content
    signal = Signal.objects.get(pk=response.json()["signal_id"])
    assert signal.outcome != Signal.Outcome.ACCEPTED  # a worker acted on it
