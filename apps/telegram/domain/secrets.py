"""Keeping the bot token out of every text that may be logged or stored."""

from __future__ import annotations

MASK = "<token>"


def mask(text: str, token: str) -> str:
    """`text` with every occurrence of `token` (and of its secret half, the part after the
    colon) replaced by ``<token>``."""
    if not token:
        return text
    out = text.replace(token, MASK)
    _, _, secret = token.partition(":")
    if len(secret) >= 8:
        out = out.replace(secret, MASK)
    return out
