from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from apps.events import publish_event


def _cookie(staff: bool) -> str:
    user = get_user_model().objects.create_user("u", password="pw-123456", is_staff=staff)
    web = Client()
    web.force_login(user)
    return web.cookies["sessionid"].value


async def _connect(cookie: str | None) -> tuple[WebsocketCommunicator, bool, int | None]:
    from tradingplatform.asgi import application

    headers = [(b"origin", b"http://127.0.0.1")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
async def test_websocket_with_anonymous_user_is_refused() -> None:
    _communicator, connected, code = await _connect(None)
    assert not connected
    assert code == 4401
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_websocket_with_non_staff_user_is_refused() -> None:
    cookie = await sync_to_async(_cookie)(False)
    _communicator, connected, code = await _connect(cookie)
    assert not connected and code == 4401
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_websocket_with_staff_user_receives_published_events_after_commit() -> None:
    cookie = await sync_to_async(_cookie)(True)
    communicator, connected, _ = await _connect(cookie)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["kind"] == "hello"
    await sync_to_async(publish_event)("fill", {"symbol": "BTCUSDT", "qty": "0.010"})
    event = await communicator.receive_json_from(timeout=5)
    assert event["kind"] == "fill" and event["data"] == {"symbol": "BTCUSDT", "qty": "0.010"}
    await communicator.disconnect()
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_event_published_in_rolled_back_transaction_never_reaches_websocket() -> None:
    from django.db import transaction

    cookie = await sync_to_async(_cookie)(True)
    communicator, connected, _ = await _connect(cookie)
    assert connected
    await communicator.receive_json_from(timeout=5)

    def publish_then_fail() -> None:
        try:
            with transaction.atomic():
                publish_event("fill", {"rolled": "back"})
                raise RuntimeError("boom")
        except RuntimeError:
            pass

    await sync_to_async(publish_then_fail)()
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
    await sync_to_async(connections.close_all)()
