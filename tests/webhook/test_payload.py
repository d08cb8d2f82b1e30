"""The pure body rules (apps/webhook/domain/payload.py): strict parse, bounded copy, repeats."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.webhook.domain.payload import (
    MAX_DEPTH,
    STORED_PAYLOAD_BYTES,
    TRUNCATED_KEY,
    BodyError,
    bounded_payload,
    encoded_size,
    parse_alert,
    rejection_key,
)

KNOWN = {"bot": "tv-bot", "symbol": "BTCUSDT", "action": "buy", "time": "2026-12-06T10:00:00Z"}
extras = st.dictionaries(
    st.text(min_size=1, max_size=200),
    st.one_of(st.text(max_size=3000), st.integers(), st.lists(st.text(max_size=50), max_size=5)),
    max_size=30,
)


@given(extra=extras)
@hypothesis_settings(max_examples=80, deadline=None, database=None)
def test_bounded_payload_never_exceeds_the_cap_and_keeps_the_alert(extra) -> None:
    stored = bounded_payload(KNOWN, extra, received_bytes=123)
    assert encoded_size(stored) <= STORED_PAYLOAD_BYTES
    assert {k: stored[k] for k in KNOWN} == KNOWN
    kept = [k for k in extra if k in stored and k not in KNOWN]
    dropped = [k for k in extra if k not in stored and k not in KNOWN and k != TRUNCATED_KEY]
    assert kept == [k for k in extra if k in kept]  # in the order received
    if dropped:
        assert stored[TRUNCATED_KEY]["dropped_fields"] == len(dropped)
        assert stored[TRUNCATED_KEY]["received_bytes"] == 123
    else:
        assert TRUNCATED_KEY not in stored or TRUNCATED_KEY in KNOWN


def test_parse_alert_accepts_nesting_up_to_the_limit_only() -> None:
    ok = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert parse_alert(ok.encode())
    deeper = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    with pytest.raises(BodyError, match="nested deeper"):
        parse_alert(deeper.encode())


def test_parse_alert_error_messages_are_printable_one_liners() -> None:
    raw = json.dumps({"a\n\ud800": 1}, ensure_ascii=True).encode()
    with pytest.raises(BodyError) as refused:
        parse_alert(raw)
    message = str(refused.value)
    assert "\n" not in message and message.isascii()
    message.encode("utf-8")  # no lone surrogate left to break the JSON answer


def test_rejection_key_ignores_per_firing_fields_only() -> None:
    one = {**KNOWN, "passphrase": "a", "alert_id": "x-1", "time": "t1"}
    two = {**KNOWN, "passphrase": "b", "alert_id": "x-2", "time": "t2"}
    assert rejection_key(one, "bot paused") == rejection_key(two, "bot paused")
    assert rejection_key(one, "bot paused") != rejection_key(one, "unknown symbol")
    assert rejection_key(one, "bot paused") != rejection_key(
        {**one, "action": "sell"}, "bot paused"
    )
    assert len(rejection_key(one, "r")) <= 160  # fits Signal.dedup_key
