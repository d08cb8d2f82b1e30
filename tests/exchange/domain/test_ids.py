from hypothesis import given
from hypothesis import strategies as st

from apps.exchange.domain.ids import client_order_id, is_valid_client_order_id


def test_client_order_id_with_same_intent_is_stable():
    assert client_order_id(7, "BTCUSDT", "entry", 3) == client_order_id(7, "BTCUSDT", "entry", 3)


def test_client_order_id_with_int_or_string_sequence_is_the_same():
    assert client_order_id(7, "BTCUSDT", "sl", 3) == client_order_id("7", "BTCUSDT", "sl", "3")


def test_client_order_id_with_different_sequence_differs():
    assert client_order_id(7, "BTCUSDT", "entry", 3) != client_order_id(7, "BTCUSDT", "entry", 4)


def test_client_order_id_with_short_intent_stays_readable():
    cid = client_order_id(7, "BTCUSDT", "sl", 1)
    assert cid.startswith("7-BTCUSDT-sl-1-")


@given(st.lists(st.one_of(st.text(), st.integers()), min_size=1, max_size=6))
def test_client_order_id_with_any_parts_matches_binance_pattern(parts):
    cid = client_order_id(*parts)
    assert is_valid_client_order_id(cid)
    assert len(cid) <= 36


@given(st.text(min_size=1), st.text(min_size=1))
def test_client_order_id_with_sanitised_alike_parts_still_differs(a, b):
    if a != b:
        assert client_order_id("bot", a) != client_order_id("bot", b)
