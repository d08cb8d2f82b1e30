"""Hypothesis strategies for hostile webhook requests: bodies written as raw JSON text (so that
``\\u0000``, lone surrogates, ``NaN`` and ``1e400`` reach the server exactly as an attacker sends
them), raw bytes, deep nesting, odd types and sizes, and odd headers.

``FUZZ_EXAMPLES`` (environment) sets the examples per test; the default keeps the suite's share
of ``make test`` short. ``benchmarks/fuzz_webhook.py`` runs it with many more.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

SECRET = "fuzz-shared-secret-0123456789abcdef"
BOT = "tv-bot"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FIELDS = (
    "passphrase",
    "bot",
    "symbol",
    "action",
    "order_type",
    "quantity",
    "quote_amount",
    "percent_equity",
    "price",
    "stop_loss",
    "take_profit",
    "alert_id",
    "time",
)


def fuzz_settings(examples: int | None = None) -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=examples or EXAMPLES,
        deadline=None,
        database=None,
        derandomize=os.environ.get("FUZZ_RANDOM", "") != "1",  # reproducible unless asked
        suppress_health_check=list(HealthCheck),
    )


# Any code point, surrogates (category Cs) included: json.dumps writes them as \\udXXX escapes.
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.sampled_from(
        [
            "\x00",
            "x\x00",
            "\ud800",
            "\udfff",
            "a\ud83d",
            "\u202e",
            "\ufeff",
            "'; DROP TABLE trading_signal; --",
            "{{ticker}}",
            "../../etc/passwd",
            "%00",
            "\\",
            "",
            " ",
            "BTCUSDT.P",
            "BINANCE:BTCUSDT.P",
            "buy",
            "close",
        ]
    ),
    st.integers(min_value=3000, max_value=300_000).map(lambda n: "ab" * (n // 2)),  # big values
)

raw_numbers = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: json.dumps(f)),
    st.sampled_from(
        [
            "1e400",
            "-1e400",
            "1e-400",
            "1E308",
            "-0",
            "0.0000000000000000000001",
            "9" * 400,
            "9" * 5000,
            "NaN",
            "-Infinity",
            "Infinity",
            "1.5e-7",
        ]
    ),
)


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=True)


scalars = st.one_of(
    hostile_text.map(_text),
    raw_numbers,
    st.sampled_from(["true", "false", "null"]),
)


def _obj(items: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{_text(k)}:{v}" for k, v in items) + "}"


json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(hostile_text, inner), max_size=4).map(_obj),
    ),
    max_leaves=12,
)


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    depth = draw(st.integers(min_value=10, max_value=6000))
    if draw(st.booleans()):
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "]" * depth


def alert_fields(now: datetime | None = None) -> dict[str, str]:
    stamp = (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return {
        "passphrase": SECRET,
        "bot": BOT,
        "symbol": "BTCUSDT.P",
        "action": "buy",
        "order_type": "market",
        "quote_amount": "500",
        "time": stamp,
    }


@st.composite
def authenticated_alerts(draw: st.DrawFn) -> str:
    """A valid alert (right passphrase and bot), then some fields replaced by hostile values
    and hostile extra fields added: fuzzing past authentication into validation and storage."""
    fields = {k: _text(v) for k, v in alert_fields().items()}
    fields["alert_id"] = _text(f"fuzz-{draw(st.integers(0, 10**9))}")
    if draw(st.booleans()):
        age = draw(st.integers(min_value=-(10**6), max_value=10**6))
        stamp = (datetime.now(UTC) - timedelta(seconds=age)).isoformat()
        fields["time"] = _text(stamp)
    replaced = draw(st.lists(st.sampled_from(FIELDS[1:]), max_size=3, unique=True))
    for name in replaced:
        fields[name] = draw(json_values)
    extras = draw(st.lists(st.tuples(hostile_text, json_values), max_size=3))
    return _obj([*fields.items(), *extras])


bodies: st.SearchStrategy[bytes] = st.one_of(
    json_values.map(str.encode),
    json_values.map(lambda v: _obj([("bot", v), ("passphrase", _text("wrong"))]).encode()),
    authenticated_alerts().map(str.encode),
    deep_nesting().map(str.encode),
    st.binary(max_size=300),
)

content_types = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
)
# Over real HTTP also a charset the body is not in (Django's test client would re-encode it).
http_content_types = st.one_of(content_types, st.just("application/json; charset=latin-1"))

forwarded_for = st.one_of(
    st.sampled_from(
        [
            "garbage",
            "1.2.3.4:443",
            "[::1]:80",
            "52.89.214.238",
            "2001:db8::1",
            ", ,",
            "1.2.3.4, 5.6.7.8",
            "unknown",
            "999.1.1.1",
            "fe80::1%eth0",
            "::ffff:52.89.214.238",
        ]
    ),
    st.text(st.characters(codec="latin-1"), max_size=60),
)


def request_headers() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "HTTP_X_FORWARDED_FOR": forwarded_for,
            "HTTP_X_SIGNATURE": st.text(st.characters(codec="latin-1"), max_size=80),
        },
    )
