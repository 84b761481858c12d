"""The errors a service raises, each rendered as an RFC 9457 problem.

Services raise these from their rules (``service.py``) and never build HTTP
responses for errors themselves; `servicekit.problems` renders every one of them,
and Starlette's and FastAPI's own errors, the same way::

    AppError (500, internal)
    ├── BadRequest (400)
    ├── Unauthorized (401, WWW-Authenticate: Bearer)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── PreconditionFailed (412)
    ├── ContentTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── RateLimited (429, Retry-After)
    └── ServiceUnavailable (503, Retry-After)

Each class has a stable problem ``type`` (a URI reference, ``/problems/<slug>``)
and a ``title`` that never varies between occurrences; ``detail`` says what went
wrong this time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AppError",
    "BadRequest",
    "Conflict",
    "ContentTooLarge",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
    "problem_type",
]


def problem_type(slug: str) -> str:
    """The ``type`` URI reference of the problem named ``slug``."""
    return f"/problems/{slug}"


class AppError(Exception):
    """An error with an HTTP status, rendered as a problem details response."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal Server Error"
    default_detail: ClassVar[str] = "The server could not complete the request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.headers: dict[str, str] = dict(headers or {})
        self.extensions: dict[str, Any] = dict(extensions or {})
        super().__init__(self.detail)

    @property
    def type(self) -> str:
        """The problem type URI reference."""
        return problem_type(self.slug)


class BadRequest(AppError):
    """The request is malformed in a way validation cannot express."""

    status = 400
    slug = "bad-request"
    title = "Bad Request"
    default_detail = "The request is malformed."


class Unauthorized(AppError):
    """No valid credentials: the client must authenticate (again)."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    default_detail = "Authentication is required."

    def __init__(
        self,
        detail: str | None = None,
        *,
        error: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # RFC 6750 §3: no error code when the request carried no token at all.
        challenge = "Bearer"
        if error is not None:
            challenge = f'Bearer error="{error}"'
            if detail:
                challenge += f', error_description="{_quote_safe(detail)}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge, **(headers or {})})


class Forbidden(AppError):
    """The client is known but lacks the right to do this."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"
    default_detail = "You do not have permission to do this."


class NotFound(AppError):
    """The resource does not exist, or the client may not know that it does."""

    status = 404
    slug = "not-found"
    title = "Not Found"
    default_detail = "The resource was not found."


class Conflict(AppError):
    """The request conflicts with the current state, e.g. a taken unique value."""

    status = 409
    slug = "conflict"
    title = "Conflict"
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(AppError):
    """A conditional request (``If-Match``) does not match the current version."""

    status = 412
    slug = "precondition-failed"
    title = "Precondition Failed"
    default_detail = "The resource has changed since you last read it."


class ContentTooLarge(AppError):
    """The request body is over the configured limit."""

    status = 413
    slug = "content-too-large"
    title = "Content Too Large"
    default_detail = "The request body is too large."


class UnsupportedMediaType(AppError):
    """The request body is in a media type the endpoint does not accept."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported Media Type"
    default_detail = "The request body has an unsupported media type."


class RateLimited(AppError):
    """The client sent too many requests; ``Retry-After`` says when to retry."""

    status = 429
    slug = "rate-limited"
    title = "Too Many Requests"
    default_detail = "Too many requests; retry later."

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(retry_after, 1))})


class ServiceUnavailable(AppError):
    """A dependency (database, Redis, another service) is unavailable."""

    status = 503
    slug = "service-unavailable"
    title = "Service Unavailable"
    default_detail = "The service is temporarily unavailable; retry later."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(retry_after, 1))})


def _quote_safe(text: str) -> str:
    """Make ``text`` safe inside a quoted-string of an auth challenge."""
    return "".join(c for c in text if c.isprintable() and c not in '"\\')
