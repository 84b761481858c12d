"""Which ``Host`` names a service answers to."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AllowedHosts"]


class AllowedHosts:
    """Host names, exact (``api.example.com``) or with subdomains (``*.example.com``)."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.exact = frozenset(h.lower().encode() for h in hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:].lower().encode() for h in hosts if h.startswith("*."))

    def allows(self, host_header: bytes | None) -> bool:
        """Whether a request with this ``Host`` header (port and all) is served."""
        host = _without_port((host_header or b"").lower())
        return host in self.exact or bool(self.suffixes and host.endswith(self.suffixes))


def _without_port(host: bytes) -> bytes:
    if host.startswith(b"["):  # IPv6 literal
        return host.split(b"]", 1)[0] + b"]"
    return host.rsplit(b":", 1)[0]
