"""The webhook's security checks, pure: secrets, signatures, source addresses, replay keys.

- Secrets are compared in constant time: both sides are reduced to a SHA-256 digest first, so
  neither the content nor the length of the stored secret leaks through timing.
- A per-bot secret is stored as ``sha256$<salt>$<hex>`` (a random 16-byte salt). Webhook
  passphrases are generated high-entropy tokens (``python manage.py webhook_secret BOT``), so a
  fast salted hash is the right trade: a slow KDF would cost tens of milliseconds per request
  inside TradingView's 3-second budget and buy nothing against a 256-bit token.
- The optional signature is ``X-Signature: sha256=<hex>``, HMAC-SHA256 of the raw body.
- The replay key of a signal is its ``alert_id`` when it has one, else the SHA-256 of the
  canonical body (passphrase removed, keys sorted) and the time bucket it arrived in.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "body_digest",
    "hash_secret",
    "ip_allowed",
    "parse_networks",
    "replay_keys",
    "secret_matches",
    "secret_matches_hash",
    "signature_valid",
]

_SCHEME = "sha256"
SECRET_FIELDS = frozenset({"passphrase"})


def _digest(value: str | bytes) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return hashlib.sha256(raw).digest()


def secret_matches(candidate: str, secret: str) -> bool:
    """Constant-time comparison of a received passphrase with a configured one."""
    if not secret:
        hmac.compare_digest(_digest(candidate), _digest("\x00"))  # same work either way
        return False
    return hmac.compare_digest(_digest(candidate), _digest(secret))


def hash_secret(secret: str, *, salt: str | None = None) -> str:
    """Return the stored form of a per-bot secret: ``sha256$<salt>$<hex>``."""
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    salt = salt or secrets.token_hex(16)
    if "$" in salt:
        raise ValueError("the salt must not contain '$'")
    return f"{_SCHEME}${salt}${hashlib.sha256((salt + secret).encode()).hexdigest()}"


def secret_matches_hash(candidate: str, stored: str) -> bool:
    """Constant-time check of a passphrase against a stored ``hash_secret`` value."""
    scheme, _, rest = (stored or "").partition("$")
    salt, _, expected = rest.partition("$")
    if scheme != _SCHEME or not salt or not expected:
        hmac.compare_digest(_digest(candidate), _digest("\x00"))
        return False
    actual = hashlib.sha256((salt + candidate).encode()).hexdigest()
    return hmac.compare_digest(actual.encode(), expected.encode())


def signature_valid(body: bytes, header: str, key: str) -> bool:
    """Check ``header`` (``sha256=<hex>`` or bare hex) against HMAC-SHA256(key, body)."""
    if not key or not header:
        return False
    received = header.strip()
    if received.lower().startswith("sha256="):
        received = received[len("sha256=") :]
    expected = hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.lower().encode(), expected.encode())


def parse_networks(
    entries: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse an allowlist of addresses / CIDR blocks; raise ValueError naming a bad entry."""
    networks = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {text!r}") from None
    return tuple(networks)


def ip_allowed(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    """True when no allowlist is set, or ``address`` is inside one of its networks."""
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks if net.version == ip.version)


def body_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical body: secret fields removed, keys sorted, compact JSON."""
    clean = {k: v for k, v in payload.items() if k not in SECRET_FIELDS}
    text = json.dumps(clean, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def replay_keys(
    payload: Mapping[str, Any], *, received_ms: int, window_s: int
) -> tuple[str, tuple[str, ...]]:
    """Return (the key to store, the keys that make this delivery a repeat).

    With an ``alert_id`` the key is ``alert:<id>`` forever. Without one, it is the body digest
    and the ``window_s`` bucket the delivery fell in; the previous bucket's key is checked too,
    so the same body twice within ``window_s`` is always a repeat (and a repeat is at most
    ``2 * window_s`` apart).
    """
    alert_id = str(payload.get("alert_id") or "").strip()
    if alert_id:
        key = f"alert:{alert_id}"
        return key, (key,)
    if window_s <= 0:
        raise ValueError(f"the replay window must be positive, got {window_s}")
    bucket = received_ms // (window_s * 1000)
    digest = body_digest(payload)
    key = f"body:{digest}:{bucket}"
    return key, (key, f"body:{digest}:{bucket - 1}")
