"""The hand-over of an accepted signal to a worker in one Redis round trip (docs/webhook.md,
"Speed").

What ``signal_dispatched(id)`` and ``signal_process.delay(id)`` do, the web side's way:

- the sweep's "dispatched a moment ago" marker (``SET <key> 1 NX EX 5`` in the cache, what
  ``cache.add`` sends), and
- the Celery task message, pushed onto its queue (``LPUSH``, what kombu's Redis transport sends),

pipelined on clients kept per process. Celery and kombu build a new Redis client, a producer
and the whole message (routing, headers, ``saferepr`` of the arguments) on every call: about
1.5 ms of CPU per alert. Here the message is built once per process *by Celery itself*: the
task is published with a sentinel argument into a capturing in-memory kombu channel (so the
configured routing, queue, time limits, ``ignore_result``, origin and encoding are Celery's),
and each signal's message is that template with a new task id, delivery tag and argument.
``tests/webhook/test_dispatch.py`` asserts that what it pushes is what ``apply_async`` pushes
through kombu's own Redis transport, the unique ids aside.

Used only where it is exactly that: a ``redis://`` broker, a Redis cache, the task not eager,
no receiver of Celery's ``before/after_task_publish`` signals, no transport option that changes
keys (``global_keyprefix``, priorities), a message routed to one queue at priority 0. Anything
else takes Celery's own path. (One difference no worker reads: ``reply_to``, which Celery sets
to the publishing thread's id, is the capturing thread's; results are ignored.) A broker error
is logged and the signal stays ``accepted``: the scheduler's sweep hands it over within
seconds, as with Celery's path.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

_SENTINEL = 987654321987654321  # the argument of the captured message, replaced per signal
_SAFE_TRANSPORT_OPTIONS = frozenset(
    {"visibility_timeout", "socket_timeout", "socket_connect_timeout", "health_check_interval"}
)


@dataclass(frozen=True)
class MessageTemplate:
    """One task's message as kombu's Redis transport pushes it, for any integer argument."""

    queue: str
    headers: dict[str, Any]
    properties: dict[str, Any]
    envelope: dict[str, Any]  # content-type, content-encoding
    body: str  # the JSON body, the sentinel in place of the argument

    def message(self, argument: int) -> dict[str, Any]:
        task_id = str(uuid.uuid4())
        value = str(int(argument))
        headers = {
            **self.headers,
            "id": task_id,
            "root_id": task_id,
            "argsrepr": self.headers["argsrepr"].replace(str(_SENTINEL), value),
        }
        properties = {
            **self.properties,
            "correlation_id": task_id,
            "delivery_tag": str(uuid.uuid4()),
        }
        body = base64.b64encode(self.body.replace(str(_SENTINEL), value).encode()).decode()
        return {"body": body, **self.envelope, "headers": headers, "properties": properties}


class _Captured(Exception):
    pass


def capture_template(task: Any) -> MessageTemplate | None:
    """The message ``task.apply_async((n,))`` publishes, captured from kombu's virtual channel
    (the step before the Redis transport's ``LPUSH``); None when it is not one plain message
    on one queue."""
    from kombu import Connection, Producer
    from kombu.transport import memory

    captured: list[tuple[str, dict[str, Any]]] = []

    class CapturingChannel(memory.Channel):
        def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
            captured.append((queue, message))

    class Transport(memory.Transport):
        Channel = CapturingChannel

    with Connection("memory://", transport=Transport) as connection:
        task.apply_async((_SENTINEL,), producer=Producer(connection.default_channel))
    if len(captured) != 1:
        return None
    queue, message = captured[0]
    headers, properties = dict(message["headers"]), dict(message["properties"])
    task_id = headers.get("id")
    body = base64.b64decode(message["body"]).decode() if properties.get("body_encoding") else ""
    plain = (
        properties.get("body_encoding") == "base64"
        and properties.get("correlation_id") == task_id == headers.get("root_id")
        and headers.get("parent_id") is None
        and not properties.get("priority")
        and properties.get("delivery_info", {}).get("exchange") == ""
        and properties.get("delivery_info", {}).get("routing_key") == queue
        and body.count(str(_SENTINEL)) == 1
        and headers.get("argsrepr", "").count(str(_SENTINEL)) == 1
    )
    if not plain:
        return None
    envelope = {k: v for k, v in message.items() if k not in ("body", "headers", "properties")}
    return MessageTemplate(queue, headers, properties, envelope, body)


@dataclass
class HandOver:
    """Marker and message in one pipeline (two when broker and cache are different Redis)."""

    template: MessageTemplate
    broker: Any  # redis.Redis of the broker
    marker: Any  # redis.Redis of the cache
    marker_key: Any  # signal id -> the cache's full key of the sweep's marker
    marker_seconds: int

    def __call__(self, signal_id: int) -> None:
        from kombu.utils.json import dumps

        payload = dumps(self.template.message(signal_id))
        key = self.marker_key(signal_id)
        if self.marker is self.broker:
            pipe = self.broker.pipeline(transaction=False)
            pipe.set(key, 1, ex=self.marker_seconds, nx=True)
            pipe.lpush(self.template.queue, payload)
            pipe.execute()
            return
        self.marker.set(key, 1, ex=self.marker_seconds, nx=True)
        self.broker.lpush(self.template.queue, payload)


def _same_server(a: Any, b: Any) -> bool:
    fields = ("host", "port", "db", "username", "password", "path")
    ka, kb = a.connection_pool.connection_kwargs, b.connection_pool.connection_kwargs
    return all(ka.get(f) == kb.get(f) for f in fields) and type(a.connection_pool) is type(
        b.connection_pool
    )


def build_hand_over(task: Any, *, broker_url: str, cache_backend: Any) -> HandOver | None:
    """The one-round-trip hand-over for ``task`` on ``broker_url``; None where Celery's own
    path must be taken (see the module's docstring)."""
    import redis

    from apps.trading.engine.sweep import _DISPATCH_KEY, SIGNAL_REDISPATCH_S

    conf = task.app.conf
    options = dict(conf.broker_transport_options or {})
    if not broker_url.startswith("redis://") or set(options) - _SAFE_TRANSPORT_OPTIONS:
        return None
    if not isinstance(cache_backend, RedisCache):
        return None
    template = capture_template(task)
    if template is None:
        return None
    marker = cache_backend._cache.get_client(write=True)
    broker = redis.Redis.from_url(broker_url)
    if _same_server(marker, broker):
        broker = marker

    def marker_key(signal_id: int) -> str:
        return cache_backend.make_and_validate_key(f"{_DISPATCH_KEY}{signal_id}")

    return HandOver(template, broker, marker, marker_key, SIGNAL_REDISPATCH_S)


_lock = threading.Lock()
_built: dict[int, HandOver | None] = {}  # by process id


def _hand_over() -> HandOver | None:
    from apps.trading.tasks import signal_process

    pid = os.getpid()
    if pid not in _built:
        with _lock:
            if pid not in _built:
                try:
                    _built[pid] = build_hand_over(
                        signal_process,
                        broker_url=str(signal_process.app.conf.broker_url or ""),
                        cache_backend=caches["default"],
                    )
                except Exception:
                    logger.warning("webhook hand-over: Celery's own path", exc_info=True)
                    _built[pid] = None
    return _built[pid]


def hand_over_reset() -> None:
    """Forget the built hand-over (tests that change the broker or the cache)."""
    with _lock:
        _built.clear()


def _celery_path_needed(task: Any) -> bool:
    """An eager task, or a receiver of Celery's publish signals (which only Celery's path
    sends)."""
    from celery.signals import after_task_publish, before_task_publish

    return bool(
        task.app.conf.task_always_eager
        or before_task_publish.receivers
        or after_task_publish.receivers
    )


def signal_hand_over(signal_id: int) -> None:
    """Hand the stored signal to a worker: the sweep's marker and the task message. If the
    broker is unreachable the signal stays accepted and the sweep hands it over within
    seconds."""
    from apps.trading.tasks import signal_process

    fast = None if _celery_path_needed(signal_process) else _hand_over()
    if fast is None:
        from apps.trading.engine.sweep import signal_dispatched

        signal_dispatched(signal_id)
        signal_process.delay(signal_id)
        return
    try:
        fast(signal_id)
    except Exception as exc:  # the sweep hands it over
        logger.warning("signal %s: not handed to a worker now (%s); the sweep will", signal_id, exc)
