"""Events are numbered platform-wide, so a page can tell that one was lost on the way."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.events import LIVE_GROUP, _send


@pytest.mark.django_db
def test_events_carry_consecutive_numbers_a_page_can_check_for_gaps() -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(LIVE_GROUP, channel)
    for n in range(3):
        _send("heartbeat", {"n": n}, LIVE_GROUP)
    seqs = [async_to_sync(layer.receive)(channel)["event"]["seq"] for _ in range(3)]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    async_to_sync(layer.group_discard)(LIVE_GROUP, channel)
