"""The cockpit's live socket on the production channel layer (channels-redis on a real Redis):
held open past many of the layer's 5 s blocking pops, it neither drops nor misses an event."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from apps.events import publish_event
from tradingplatform.env import InvalidSetting
from tradingplatform.settings.base import CHANNELS_BRPOP_TIMEOUT_S, redis_channel_layer

HOLD_S = 60

pytestmark = [pytest.mark.redis, pytest.mark.timeout(HOLD_S + 60)]


def _staff_cookie() -> str:
    user = get_user_model().objects.create_user("desk", password="pw-123456", is_staff=True)
    web = Client()
    web.force_login(user)
    return web.cookies["sessionid"].value


def test_redis_channel_layer_reads_longer_than_its_blocking_pop() -> None:
    host = redis_channel_layer("redis://127.0.0.1:6379/0")["CONFIG"]["hosts"][0]
    assert host["socket_timeout"] > CHANNELS_BRPOP_TIMEOUT_S


def test_redis_channel_layer_with_socket_timeout_under_the_pop_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("CHANNELS_SOCKET_TIMEOUT_S", "5")
    with pytest.raises(InvalidSetting, match="must exceed channels-redis's 5 s blocking pop"):
        redis_channel_layer("redis://127.0.0.1:6379/0")


@pytest.mark.django_db(transaction=True)
async def test_live_socket_on_channels_redis_held_60s_stays_open_and_gets_late_event(
    settings, redis_url
) -> None:
    from tradingplatform.asgi import application

    layer = redis_channel_layer(redis_url)
    layer["CONFIG"]["prefix"] = f"hold-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {"default": layer}
    channel_layers.backends = {}
    cookie = await sync_to_async(_staff_cookie)()
    communicator = WebsocketCommunicator(
        application,
        "/ws/live/",
        headers=[(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://127.0.0.1")],
    )
    try:
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        assert (await communicator.receive_json_from(timeout=10))["kind"] == "hello"
        # Idle for 12 of the layer's blocking pops. Before the fix the consumer's receive loop
        # raised redis TimeoutError after 5-10 s and the application (the socket) ended.
        loop = asyncio.get_running_loop()
        end = loop.time() + HOLD_S
        while (left := end - loop.time()) > 0:
            assert await communicator.receive_nothing(timeout=min(5.0, left), interval=0.5)
            assert not communicator.future.done(), "the socket's application ended while idle"
        marker = uuid.uuid4().hex
        await sync_to_async(publish_event)("test_event", {"marker": marker})
        while True:
            event = await communicator.receive_json_from(timeout=10)
            if event["kind"] == "test_event":
                break
        assert event["data"] == {"marker": marker}
    finally:
        await communicator.disconnect()
        channel_layers.backends = {}
        await sync_to_async(connections.close_all)()
