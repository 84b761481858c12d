"""Request bodies no larger than the configured limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.errors import BadRequest, ContentTooLarge
from servicekit.http._problems import WrappedAppError, problem_response

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
            malformed = BadRequest("The Content-Length header is not a valid number.")
            await problem_response(malformed, instance=scope["path"])(scope, receive, send)
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
                    raise WrappedAppError(ContentTooLarge(self._detail()))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except WrappedAppError as exc:
            # Raised by `counting_receive` where no handler caught it.
            if response_started:
                raise
            await problem_response(exc.error, instance=scope["path"])(scope, receive, send)

    def _detail(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes."

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_large = ContentTooLarge(self._detail())
        await problem_response(too_large, instance=scope["path"])(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; ``None`` when absent, -1 when not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None
