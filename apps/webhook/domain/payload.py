"""The alert body, pure: parse it strictly, and bound what is kept of it.

- ``parse_alert`` takes the raw bytes and returns the JSON object, or raises ``BodyError``
  with one line saying what is wrong. Beyond "is it a JSON object" it refuses what the database
  (PostgreSQL text and jsonb) or the platform could not hold: a NUL character, an unpaired
  UTF-16 surrogate (``"\\ud800"``), ``NaN`` / ``Infinity`` / ``-Infinity``, a number too large
  for a float (``1e400``), and nesting deeper than ``MAX_DEPTH`` (a 5,000-deep body would
  otherwise exhaust the parser's recursion). Refused, not cleaned: a body is signed and
  replay-checked as received, and a silently altered alert is worse than a clear 400.
- ``bounded_payload`` caps the stored copy of an accepted or rejected alert at
  ``STORED_PAYLOAD_BYTES`` (the request size limit stays as it is): the known alert fields are
  always kept; other fields are kept in the order received while they fit, and a
  ``_truncated`` marker says how large the body was and which fields were left out.
- ``rejection_key`` names "the same rejected alert": the same reason and the same body apart
  from the fields that change on every firing (``time``, ``alert_id``) and the secret.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "STORED_PAYLOAD_BYTES",
    "TRUNCATED_KEY",
    "BodyError",
    "bounded_payload",
    "encoded_size",
    "parse_alert",
    "rejection_key",
]

MAX_DEPTH = 16
STORED_PAYLOAD_BYTES = 8 * 1024
TRUNCATED_KEY = "_truncated"
_LISTED_DROPPED = 20  # names of dropped fields listed in the marker, at most
_NAME_CHARS = 64  # each listed name cut to this many characters
_SURROGATE = re.compile("[\ud800-\udfff]")
_PER_FIRING = frozenset({"time", "alert_id", "passphrase"})


class BodyError(ValueError):
    """The body cannot be taken; the message is one line for the caller."""


def _constant(name: str) -> Any:
    raise BodyError(f"the body holds {name}, which is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"the number {_printable(text[:40])} is too large")
    return value


def _printable(name: str) -> str:
    """``name`` cut short, with NUL, surrogates, line breaks and other non-ASCII escaped."""
    return json.dumps(name[:_NAME_CHARS], ensure_ascii=True)[1:-1]


def _where(path: tuple[str, ...]) -> str:
    shown = ".".join(_printable(p) for p in path[:6]) or "the body"
    return shown + ("..." if len(path) > 6 else "")


def _check_text(text: str, path: tuple[str, ...], what: str) -> None:
    if "\x00" in text:
        raise BodyError(f"{what} {_where(path)} holds a NUL character (\\u0000)")
    if _SURROGATE.search(text):
        raise BodyError(f"{what} {_where(path)} holds an unpaired UTF-16 surrogate")


def _check_tree(data: Any) -> None:
    """Walk the parsed value without recursion: no NUL, no lone surrogate, bounded depth."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise BodyError(f"the body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            _check_text(value, path, "the value of")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, (*path, key), "the field name")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(value))


def parse_alert(raw: bytes) -> dict[str, Any]:
    """Return the JSON object of ``raw``; raise ``BodyError`` saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8 text") from None
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except RecursionError:
        raise BodyError(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except BodyError:
        raise
    except ValueError:  # JSONDecodeError, and integers past Python's digit limit
        raise BodyError("the body must be a JSON object (TradingView's alert message)") from None
    if not isinstance(data, dict):
        raise BodyError("the body must be a JSON object, not a list or value")
    _check_tree(data)
    return data


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (the way it is measured against the cap)."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode("utf-8"))


def bounded_payload(
    known: Mapping[str, Any],
    extra: Mapping[str, Any],
    *,
    received_bytes: int,
    limit: int = STORED_PAYLOAD_BYTES,
) -> dict[str, Any]:
    """``known`` (always kept) plus as many ``extra`` fields, in order, as fit in ``limit``
    bytes of JSON; a ``_truncated`` marker when any was left out."""
    kept: dict[str, Any] = dict(known)
    dropped: list[str] = []
    reserve = 96 + _LISTED_DROPPED * (_NAME_CHARS + 4)  # room for the marker itself
    size = encoded_size(kept)
    for key, value in extra.items():
        if key in kept or key == TRUNCATED_KEY:
            continue
        cost = encoded_size({key: value})
        if size + cost + reserve <= limit:
            kept[key] = value
            size += cost
        else:
            dropped.append(key)
    if dropped:
        kept[TRUNCATED_KEY] = {
            "received_bytes": received_bytes,
            "dropped_fields": len(dropped),
            "dropped": [_printable(name) for name in dropped[:_LISTED_DROPPED]],
        }
    return kept


def rejection_key(payload: Mapping[str, Any], reason: str) -> str:
    """The key under which repeats of a rejected alert are counted on its first record."""
    same = {k: v for k, v in payload.items() if k not in _PER_FIRING}
    text = json.dumps([reason, same], sort_keys=True, separators=(",", ":"), default=str)
    return "rejected:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
