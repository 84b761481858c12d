"""Who the client is behind a reverse proxy: ``X-Forwarded-For`` from trusted hops only."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["TrustedProxies"]

_SCHEMES = frozenset({"http", "https"})
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
"""A dotted-quad IPv4 address as `ipaddress` would write it (no leading zeros)."""


class TrustedProxies:
    """Proxies (addresses or CIDRs) whose forwarding headers are believed.

    A header is only as good as whoever wrote it: a client can send any
    ``X-Forwarded-For`` it likes, and each proxy appends the address it saw. So
    the list is read from the right, skipping the proxies we trust; the first
    address that is not one of them is the client. ``Forwarded`` and
    ``X-Real-IP`` are never read: one header, one rule.
    """

    def __init__(self, networks: Sequence[str]) -> None:
        parsed = tuple(ipaddress.ip_network(network, strict=False) for network in networks)

        @lru_cache(maxsize=4096)
        def trusts(address: str) -> bool:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                return False
            return any(ip in network for network in parsed)

        self.trusts = trusts

    def client(self, peer: str, forwarded_for: bytes | None) -> str:
        """The client's address, for a connection from ``peer``."""
        if forwarded_for is None or not self.trusts(peer):
            return peer
        client = peer
        for hop in reversed(forwarded_for.decode("latin-1").split(",")):
            address = _address(hop)
            if address is None:
                break  # garbage the last trusted proxy passed on: that proxy is the client
            client = address
            if not self.trusts(address):
                break
        return client

    def scheme(self, peer: str, forwarded_proto: bytes | None, default: str) -> str:
        """The scheme the client used: the nearest proxy's ``X-Forwarded-Proto``."""
        if forwarded_proto is None or not self.trusts(peer):
            return default
        proto = forwarded_proto.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
        return proto if proto in _SCHEMES else default


def _address(hop: str) -> str | None:
    """An address of a list entry (``203.0.113.7``, ``[2001:db8::1]:443``), if it is one."""
    text = hop.strip()
    if _IPV4.fullmatch(text):  # the common case, already in its canonical form
        return text
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
