"""Round trips through the real scale-out parts: a Celery worker process on the Redis broker,
and an event published by that worker reaching an authenticated websocket via channels-redis."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from celery import Celery
from celery.result import allow_join_result
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import connections

from testsupport.processes import TEST_FIELD_ENCRYPTION_KEY, Process, process_env

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.redis]


@pytest.fixture
def redis_worker(redis_url: str, tmp_path: Path):
    """A real `celery worker` process configured like production: broker and results on Redis."""
    prefix = f"rt{uuid.uuid4().hex[:8]}"
    env = process_env(
        servers=True,
        REDIS_URL=redis_url,
        CHANNELS_PREFIX=prefix,
        SQLITE_PATH=str(tmp_path / "worker.sqlite3"),
        FIELD_ENCRYPTION_KEY=TEST_FIELD_ENCRYPTION_KEY,
    )
    worker = Process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tradingplatform",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{prefix}@test",
        ],
        env=env,
        log=tmp_path / "worker.log",
    )
    worker.start()
    # Not the current app: shared tasks (`ping.delay()`) in later tests must still publish
    # through the platform's app, not this closed client.
    client = Celery("test-client", broker=redis_url, backend=redis_url, set_as_current=False)
    client.conf.task_serializer = "json"
    client.conf.accept_content = ["json"]
    try:
        yield client, prefix, worker
    finally:
        worker.stop(grace=20)
        client.close()


def test_celery_task_with_redis_broker_runs_on_a_real_worker(redis_worker) -> None:
    client, _prefix, worker = redis_worker
    token = uuid.uuid4().hex
    result = client.send_task("core.ping", args=[token])
    with allow_join_result():  # this process may have hosted an embedded worker before
        answer = result.get(timeout=90)
    assert answer["pong"] == token
    assert answer["host"]
    assert worker.running()


@pytest.mark.django_db(transaction=True)
async def test_event_published_by_worker_reaches_logged_in_websocket(
    redis_worker, settings, redis_url
) -> None:
    client, prefix, _worker = redis_worker
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": prefix},
        }
    }
    channel_layers.backends = {}
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tradingplatform.asgi import application

    def login_cookie() -> str:
        user = get_user_model().objects.create_user("ops", password="pw-123456", is_staff=True)
        web = Client()
        web.force_login(user)
        return web.cookies["sessionid"].value

    session = await sync_to_async(login_cookie)()
    communicator = WebsocketCommunicator(
        application,
        "/ws/live/",
        headers=[(b"cookie", f"sessionid={session}".encode()), (b"origin", b"http://127.0.0.1")],
    )
    try:
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        hello = await communicator.receive_json_from(timeout=10)
        assert hello["kind"] == "hello" and hello["data"]["user"] == "ops"
        marker = uuid.uuid4().hex
        deadline = time.monotonic() + 90
        await sync_to_async(client.send_task)(
            "dashboard.publish", args=["test_event", {"marker": marker}]
        )
        while True:
            event = await communicator.receive_json_from(
                timeout=max(1, deadline - time.monotonic())
            )
            if event["kind"] == "test_event":
                break
        assert event["data"] == {"marker": marker}
    finally:
        await communicator.disconnect()
        channel_layers.backends = {}
        await sync_to_async(connections.close_all)()
