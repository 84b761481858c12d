"""The errors a service raises, each rendered as an RFC 9457 problem: the one registry.

Services raise these from their rules (``service.py``) and never build HTTP
responses for errors themselves; `servicekit.http` renders every one of them,
and Starlette's and FastAPI's own errors, the same way::

    AppError (500, internal)
    ├── BadRequest (400)
    ├── Unauthorized (401, WWW-Authenticate: Bearer)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── MethodNotAllowed (405, Allow)
    ├── Conflict (409)
    ├── PreconditionFailed (412)
    ├── ContentTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── UnprocessableContent (422, errors)
    ├── RateLimited (429, Retry-After)
    └── ServiceUnavailable (503, Retry-After)

A class is everything there is to know about its problem: its status, a stable
``type`` (a URI reference, ``/problems/<slug>``), a ``title`` that never varies
between occurrences, and the ``description`` of its response in the OpenAPI
document; ``detail`` says what went wrong this time. The first class to declare a
status is the problem of that status wherever only a status is known (Starlette's
404 and 405, `problem_responses`): a new kind of error is one class, written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

__all__ = [
    "AppError",
    "BadRequest",
    "Conflict",
    "ContentTooLarge",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
    "UnprocessableContent",
    "UnsupportedMediaType",
    "error_for_status",
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
    description: ClassVar[str] = "An unexpected error; nothing about it is revealed."
    default_detail: ClassVar[str] = "The server could not complete the request."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "status" in cls.__dict__:
            _BY_STATUS.setdefault(cls.status, cls)

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
        self.keep_writes = False
        """Commit what the request wrote before failing (see `keeping_writes`)."""
        super().__init__(self.detail)

    def keeping_writes(self) -> Self:
        """This error, but the request's unit of work commits before it is answered.

        For a refusal that must leave a trace: a reused refresh token is refused, and
        the session it belongs to is revoked all the same. Any other error rolls back.
        """
        self.keep_writes = True
        return self

    @property
    def type(self) -> str:
        """The problem type URI reference."""
        return problem_type(self.slug)


_BY_STATUS: dict[int, type[AppError]] = {AppError.status: AppError}


def error_for_status(status: int) -> type[AppError] | None:
    """The error class that is the problem of ``status``, if there is one."""
    return _BY_STATUS.get(status)


class BadRequest(AppError):
    """The request is malformed in a way validation cannot express."""

    status = 400
    slug = "bad-request"
    title = "Bad Request"
    description = "Malformed request."
    default_detail = "The request is malformed."


class Unauthorized(AppError):
    """No valid credentials: the client must authenticate (again)."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    description = "Missing, invalid, expired or revoked access token."
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
    description = "The caller may not do this."
    default_detail = "You do not have permission to do this."


class NotFound(AppError):
    """The resource does not exist, or the client may not know that it does."""

    status = 404
    slug = "not-found"
    title = "Not Found"
    description = "Not found."
    default_detail = "The resource was not found."


class MethodNotAllowed(AppError):
    """The path exists, but not for this method; ``Allow`` names the methods it takes."""

    status = 405
    slug = "method-not-allowed"
    title = "Method Not Allowed"
    description = "The path does not take this method; see `Allow`."
    default_detail = "The method is not allowed here."

    def __init__(self, detail: str | None = None, *, allow: str) -> None:
        super().__init__(detail, headers={"Allow": allow})


class Conflict(AppError):
    """The request conflicts with the current state, e.g. a taken unique value."""

    status = 409
    slug = "conflict"
    title = "Conflict"
    description = "Conflicts with the current state."
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(AppError):
    """A conditional request (``If-Match``) does not match the current version."""

    status = 412
    slug = "precondition-failed"
    title = "Precondition Failed"
    description = "`If-Match` does not match the current version."
    default_detail = "The resource has changed since you last read it."


class ContentTooLarge(AppError):
    """The request body is over the configured limit."""

    status = 413
    slug = "content-too-large"
    title = "Content Too Large"
    description = "Request body over the size limit."
    default_detail = "The request body is too large."


class UnsupportedMediaType(AppError):
    """The request body is in a media type the endpoint does not accept."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported Media Type"
    description = "Request body in an unsupported media type."
    default_detail = "The request body has an unsupported media type."


class UnprocessableContent(AppError):
    """The request is well-formed but its values are invalid; ``errors`` says which."""

    status = 422
    slug = "validation-error"
    title = "Unprocessable Content"  # RFC 9110's name
    description = "Invalid request values."
    default_detail = "The request is invalid."

    def __init__(self, detail: str | None = None, *, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(detail, extensions={"errors": [dict(error) for error in errors]})


class RateLimited(AppError):
    """The client sent too many requests; ``Retry-After`` says when to retry."""

    status = 429
    slug = "rate-limited"
    title = "Too Many Requests"
    description = "Too many requests; see `Retry-After`."
    default_detail = "Too many requests; retry later."

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            detail, headers={**(headers or {}), "Retry-After": str(max(retry_after, 1))}
        )


class ServiceUnavailable(AppError):
    """A dependency (database, Redis, another service) is unavailable."""

    status = 503
    slug = "service-unavailable"
    title = "Service Unavailable"
    description = "A dependency is unavailable; see `Retry-After`."
    default_detail = "The service is temporarily unavailable; retry later."

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(retry_after, 1))})


def _quote_safe(text: str) -> str:
    """Make ``text`` safe inside a quoted-string of an auth challenge."""
    return "".join(c for c in text if c.isprintable() and c not in '"\\')
