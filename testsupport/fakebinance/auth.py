"""API-key and HMAC-SHA256 request authentication, as Binance does it.

The signed payload is the query string followed by the body (``totalParams``), both without the
``signature`` parameter. python-binance signs decoded text but percent-encodes form bodies, so a
signature is checked over the raw text first and then over its URL-decoded form.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, unquote, unquote_plus

from . import errors

MAX_RECV_WINDOW = 60_000
DEFAULT_RECV_WINDOW = 5_000


def parse_params(query: str, body: str) -> dict[str, str]:
    """Merge query and form-body parameters (the body wins on duplicates)."""
    out = dict(parse_qsl(query, keep_blank_values=True))
    out.update(parse_qsl(body, keep_blank_values=True))
    return out


def _strip_signature(text: str) -> tuple[str, str | None]:
    marker = "signature="
    idx = text.find("&" + marker)
    if idx >= 0:
        rest = text[idx + 1 + len(marker) :]
        return text[:idx], rest.split("&", 1)[0]
    if text.startswith(marker):
        return "", text[len(marker) :].split("&", 1)[0]
    return text, None


def signed_payload(query: str, body: str) -> tuple[str, str | None]:
    """Return (text that was signed, signature) from the raw query string and body."""
    q, q_sig = _strip_signature(query)
    b, b_sig = _strip_signature(body)
    if q and b:
        return q + b, q_sig or b_sig
    return q or b, q_sig or b_sig


def check_api_key(header: str | None, api_keys: dict[str, str]) -> str:
    """Return the secret for the X-MBX-APIKEY header; raise -2014 / -2015 (HTTP 401)."""
    if not header:
        raise errors.BinanceError(-2014, "API-key format invalid.", 401)
    secret = api_keys.get(header)
    if secret is None:
        raise errors.BinanceError(
            -2015, "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1", 401
        )
    return secret


def verify(
    *,
    secret: str,
    query: str,
    body: str,
    params: dict[str, str],
    server_time: int,
) -> None:
    """Check timestamp, recvWindow and the signature; raise -1102 / -1131 / -1021 / -1022."""
    ts_raw = params.get("timestamp")
    if not ts_raw:
        raise errors.missing("timestamp")
    try:
        timestamp = int(ts_raw)
        recv_window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
    except ValueError:
        raise errors.bad_param("timestamp") from None
    if recv_window <= 0 or recv_window > MAX_RECV_WINDOW:
        raise errors.BinanceError(-1131, "recvWindow must be less than 60000")
    text, signature = signed_payload(query, body)
    if not signature:
        raise errors.missing("signature")
    if timestamp >= server_time + 1000 or server_time - timestamp > recv_window:
        raise errors.BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
    key = secret.encode()
    for candidate in (text, unquote_plus(text), unquote(text)):
        digest = hmac.new(key, candidate.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(digest, signature.lower()):
            return
    raise errors.BinanceError(-1022, "Signature for this request is not valid.")


def sign(secret: str, payload: str) -> str:
    """Return Binance's hex HMAC-SHA256 of ``payload`` (for tests and admin tools)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
