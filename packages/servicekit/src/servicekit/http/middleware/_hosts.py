"""Only the ``Host`` names the service serves."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.errors import BadRequest
from servicekit.http._problems import problem_response

__all__ = ["AllowedHostsMiddleware"]


class AllowedHostsMiddleware:
    """Refuses requests whose ``Host`` is not one of ``allowed_hosts`` (400).

    An entry ``*.example.com`` allows every subdomain of example.com.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.exact = frozenset(h.lower() for h in allowed_hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:].lower() for h in allowed_hosts if h.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _host_without_port(scope)
        if host in self.exact or (self.suffixes and host.endswith(self.suffixes)):
            await self.app(scope, receive, send)
            return
        unknown = BadRequest("The Host header names a host this service does not serve.")
        await problem_response(unknown, instance=scope["path"])(scope, receive, send)


def _host_without_port(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            if host.startswith("["):  # IPv6 literal
                return host.split("]", 1)[0] + "]"
            return host.rsplit(":", 1)[0]
    return ""
