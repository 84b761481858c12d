"""RFC 9457 problem details: one renderer and one set of exception handlers.

Every error response of a service goes through `problem_response`: the service's
own `AppError`s, request validation errors, Starlette's routing errors (404, 405),
database and Redis outages (503), unique-constraint violations (409), values
PostgreSQL refuses (422) and, from `RequestContextMiddleware`, unexpected
exceptions (500). No stack trace, SQL or secret ever reaches the body.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final, TypeVar, cast

import orjson
import redis.exceptions
import sqlalchemy.exc
import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from servicekit.errors import (
    AppError,
    BadRequest,
    Conflict,
    ContentTooLarge,
    Forbidden,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    problem_type,
)
from servicekit.http._context import current_request_id

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ProblemDetails",
    "ValidationProblem",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

# The type and title of a problem that only has a status: those of servicekit's
# own error of that status, else of the statuses only Starlette and FastAPI raise.
_KINDS: Final[Mapping[int, tuple[str, str]]] = {
    error.status: (error.slug, error.title)
    for error in (
        AppError,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PreconditionFailed,
        ContentTooLarge,
        UnsupportedMediaType,
        RateLimited,
        ServiceUnavailable,
    )
} | {
    405: ("method-not-allowed", "Method Not Allowed"),
    406: ("not-acceptable", "Not Acceptable"),
    422: ("validation-error", "Unprocessable Content"),  # RFC 9110's name
}
_UNIQUE_VIOLATION: Final = "23505"
_FOREIGN_KEY_VIOLATION: Final = "23503"
_DATA_EXCEPTION_CLASS: Final = "22"
# Connection exceptions, insufficient resources, operator intervention (shutdown).
_UNAVAILABLE_CLASSES: Final = ("08", "53", "57P")

_log = structlog.get_logger("servicekit.problems")


class ProblemDetails(BaseModel):
    """An error response (RFC 9457)."""

    type: str = Field(description="Stable URI reference naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem; never varies.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, for a human.")
    instance: str = Field(description="The path of the request that failed.")
    request_id: str | None = Field(description="The request id, as in `X-Request-ID`.")


class ValidationErrorItem(BaseModel):
    """One reason a request failed validation."""

    loc: list[str | int] = Field(description="Where: e.g. `['body', 'password']`.")
    msg: str = Field(description="What is wrong with the value.")
    type: str = Field(description="Stable machine-readable error type.")


class ValidationProblem(ProblemDetails):
    """A 422 response: the request was well-formed but its values are invalid."""

    errors: list[ValidationErrorItem]


def _status_title(status: int) -> str:
    if status in _KINDS:
        return _KINDS[status][1]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    *,
    instance: str,
    detail: str | None = None,
    title: str | None = None,
    type_: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """Render one problem details response."""
    body: dict[str, Any] = {
        "type": type_ or problem_type(_KINDS[status][0] if status in _KINDS else str(status)),
        "title": title or _status_title(status),
        "status": status,
        "detail": detail or _status_title(status),
        "instance": instance,
        "request_id": current_request_id(),
    }
    if extensions:
        body.update(extensions)
    return Response(
        orjson.dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def install_problem_handlers(
    app: FastAPI, *, conflicts: Mapping[str, str], allowed_methods: Callable[[str], str]
) -> None:
    """Render every error of ``app`` as problem details.

    ``conflicts`` maps unique-constraint names to the ``detail`` of the 409 a
    violation of that constraint becomes, e.g. ``{"uq_users_email": "…taken"}``.
    ``allowed_methods`` gives the ``Allow`` header of a 405 for a request path:
    every method some route of that path accepts (Starlette names only the
    first route it tried).
    """

    async def app_error(request: Request, exc: AppError) -> Response:
        return problem_response(
            exc.status,
            instance=request.url.path,
            detail=exc.detail,
            title=exc.title,
            type_=exc.type,
            headers=exc.headers,
            extensions=exc.extensions,
        )

    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "loc": list(err.get("loc", ())),
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return problem_response(
            422,
            instance=request.url.path,
            detail=_summarize(errors),
            extensions={"errors": errors},
        )

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if exc.detail != _status_title(exc.status_code) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail in (None, "Not Found"):
            detail = f"Nothing is at {request.url.path}."
        elif exc.status_code == 405:
            headers["Allow"] = allowed_methods(request.url.path) or headers.get("Allow", "")
            detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}."
        return problem_response(
            exc.status_code,
            instance=request.url.path,
            detail=detail if isinstance(detail, str) else None,
            headers=headers,
        )

    async def database_error(request: Request, exc: sqlalchemy.exc.DBAPIError) -> Response:
        sqlstate, constraint = _sqlstate(exc)
        if sqlstate == _UNIQUE_VIOLATION:
            _log.info("unique_violation", constraint=constraint)
            detail = conflicts.get(constraint or "") or "A resource with these values exists."
            return problem_response(409, instance=request.url.path, detail=detail)
        if sqlstate == _FOREIGN_KEY_VIOLATION:
            _log.info("foreign_key_violation", constraint=constraint)
            detail = "The request refers to a resource that no longer exists."
            return problem_response(409, instance=request.url.path, detail=detail)
        if sqlstate and sqlstate.startswith(_DATA_EXCEPTION_CLASS):
            # Validation lets little through that PostgreSQL refuses (a NUL
            # character, a number out of range); what it missed is still the
            # client's input, not a 500.
            _log.info("data_exception", sqlstate=sqlstate)
            message = "A value cannot be stored or searched for as given."
            error = {"loc": [], "msg": message, "type": "value_error"}
            return problem_response(
                422, instance=request.url.path, detail=message, extensions={"errors": [error]}
            )
        if exc.connection_invalidated or (sqlstate and sqlstate.startswith(_UNAVAILABLE_CLASSES)):
            return await dependency_down(request, exc)
        raise exc

    async def dependency_down(request: Request, exc: Exception) -> Response:
        _log.warning("dependency_unavailable", error=type(exc).__name__)
        unavailable = ServiceUnavailable()
        return await app_error(request, unavailable)

    _handle(app, AppError, app_error)
    _handle(app, RequestValidationError, validation_error)
    _handle(app, StarletteHTTPException, http_error)
    _handle(app, sqlalchemy.exc.DBAPIError, database_error)
    for unavailable in _UNAVAILABLE:
        _handle(app, unavailable, dependency_down)


ExcT = TypeVar("ExcT", bound=Exception)


def _handle(
    app: FastAPI, exc_type: type[ExcT], handler: Callable[[Request, ExcT], Awaitable[Response]]
) -> None:
    # Starlette calls a handler only with exceptions of its registered type.
    app.add_exception_handler(exc_type, cast("ExceptionHandler", handler))


# Errors that mean "a dependency did not answer", not "this code is wrong".
_UNAVAILABLE: Final[Sequence[type[Exception]]] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)


def _message(error: Mapping[str, Any]) -> str:
    # Pydantic prefixes the messages of custom validators with "Value error, ".
    return str(error.get("msg", "")).removeprefix("Value error, ")


def _summarize(errors: list[dict[str, Any]]) -> str:
    shown = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(shown) + more if shown else "The request is invalid."


def _sqlstate(exc: sqlalchemy.exc.DBAPIError) -> tuple[str | None, str | None]:
    """The SQLSTATE of a database error, and the constraint it names, if any."""
    cause = getattr(exc.orig, "__cause__", None)
    sqlstate = getattr(cause, "sqlstate", None) or getattr(exc.orig, "sqlstate", None)
    constraint = getattr(cause, "constraint_name", None)
    return sqlstate, constraint
