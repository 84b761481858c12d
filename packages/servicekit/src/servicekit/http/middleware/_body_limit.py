"""Request bodies no larger than the configured limit."""

from __future__ import annotations

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.http._problems import problem_response

__all__ = ["BodyLimitMiddleware"]


class BodyLimitMiddleware:
    """Answers 413 to request bodies over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a body without one (chunked) is counted as it is read and refused as
    soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            response = problem_response(
                400,
                instance=scope["path"],
                detail="The Content-Length header is not a valid number.",
            )
            await response(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise StarletteHTTPException(413, detail=self._detail())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except StarletteHTTPException as exc:
            # Raised by `counting_receive` where no handler caught it.
            if exc.status_code != 413 or response_started:
                raise
            await self._too_large(scope, receive, send)

    def _detail(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes."

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, instance=scope["path"], detail=self._detail())
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; ``None`` when absent, -1 when not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None
