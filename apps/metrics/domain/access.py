"""Who may read the metrics: a bearer token and/or a list of source networks.

Closed by default: with neither configured nobody may (the endpoint answers as if it did not
exist). With both configured both must pass.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Verdict(StrEnum):
    ALLOWED = "allowed"
    DISABLED = "disabled"  # nothing configured: the endpoint does not exist (404)
    UNAUTHORIZED = "unauthorized"  # token missing or wrong (401)
    FORBIDDEN = "forbidden"  # source address not in the allowlist (403)


class AccessConfigError(ValueError):
    """A malformed allowlist entry."""


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse addresses and CIDR blocks; raise AccessConfigError naming a bad entry."""
    out = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise AccessConfigError(
                f"METRICS_ALLOWED_IPS: {text!r} is not an address or CIDR"
            ) from exc
    return tuple(out)


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    token: str = ""
    networks: tuple[Network, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.networks)

    def check(self, *, authorization: str, remote_addr: str) -> Verdict:
        """Judge one request from its ``Authorization`` header and source address."""
        if not self.enabled:
            return Verdict.DISABLED
        if self.networks and not _address_in(remote_addr, self.networks):
            return Verdict.FORBIDDEN
        if self.token:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return Verdict.UNAUTHORIZED
        return Verdict.ALLOWED


def _address_in(remote_addr: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
