from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.events import LIVE_GROUP

UNAUTHENTICATED = 4401


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Authenticated staff receive platform events (fills, trades, alerts, heartbeats)."""

    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=UNAUTHENTICATED)
            return
        await self.channel_layer.group_add(LIVE_GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"kind": "hello", "data": {"user": user.get_username()}})

    async def disconnect(self, code: int) -> None:
        if self.channel_layer is not None:
            await self.channel_layer.group_discard(LIVE_GROUP, self.channel_name)

    async def platform_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
