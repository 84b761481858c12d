"""Request bodies no larger than the configured limit."""

from __future__ import annotations

from starlette.types import Message, Receive

from servicekit.errors import ContentTooLarge
from servicekit.http._problems import WrappedAppError

__all__ = ["counting", "too_large"]


def too_large(max_bytes: int) -> ContentTooLarge:
    """The 413 of a body over ``max_bytes``."""
    return ContentTooLarge(f"The request body is larger than the limit of {max_bytes} bytes.")


def counting(receive: Receive, max_bytes: int) -> Receive:
    """``receive``, refusing a body without a declared length once it passes ``max_bytes``.

    The error travels as a `WrappedAppError`: FastAPI turns anything else raised
    while it reads a body into a 400.
    """
    received = 0

    async def receive_counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise WrappedAppError(too_large(max_bytes))
        return message

    return receive_counted
