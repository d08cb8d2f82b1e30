"""Deterministic client order ids derived from an order's intent.

The same intent (bot, symbol, purpose, sequence, ...) always gives the same id, so a retried task
or a replayed webhook re-sends the same id and the venue rejects the duplicate (-4116) instead of
opening a second position. Ids match `^[A-Za-z0-9._-]{1,36}$` (a subset of Binance's pattern
without ':' and '/', which python-binance signs inconsistently).

Shape: `<readable prefix>-<12 hex digest>`; the readable part is the sanitised parts joined by
'-' and cut to 23 characters, the digest is BLAKE2b over the exact parts, so two intents that
sanitise alike still get different ids.
"""

from __future__ import annotations

import hashlib
import re

CLIENT_ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,36}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")
_DIGEST_CHARS = 12
_READABLE_CHARS = 36 - _DIGEST_CHARS - 1


def client_order_id(*parts: str | int) -> str:
    """Return the client order id for an intent, e.g. `client_order_id(bot_id, symbol, "sl", 3)`.

    Parts are compared by `str()`, so an int and its decimal string give the same id (task
    arguments that went through JSON keep their id). Raise ValueError when no parts are given.
    """
    if not parts:
        raise ValueError("client_order_id needs at least one intent part")
    exact = "\x1f".join(str(p) for p in parts)  # 3 and "3" are the same intent
    digest = hashlib.blake2b(exact.encode("utf-8"), digest_size=16).hexdigest()[:_DIGEST_CHARS]
    readable = "-".join(s for s in (_UNSAFE.sub("_", str(p)).strip("_") for p in parts) if s)
    readable = readable[:_READABLE_CHARS].rstrip("-_.")
    return f"{readable}-{digest}" if readable else digest


def is_valid_client_order_id(value: str) -> bool:
    return bool(CLIENT_ORDER_ID_PATTERN.fullmatch(value))
