"""``HEAD`` answered as ``GET`` without the body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HeadMiddleware"]


class HeadMiddleware:
    """Answers ``HEAD`` as ``GET`` without the body (RFC 9110 §9.3.2).

    FastAPI's routes take only the methods they declare, so without this every
    ``HEAD`` would be a 405. The headers, ``Content-Length`` included, stay those
    of the ``GET``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # A copy: the server keeps reading its own scope (uvicorn sends no body
        # for a HEAD only while its scope still says HEAD).
        as_get = {**scope, "method": "GET"}

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(as_get, receive, send_without_body)
        finally:
            if "route" in as_get:  # for the route label of logs and metrics
                scope["route"] = as_get["route"]
