"""RFC 9457 problem details: one renderer and the exception handlers that use it.

Every error response of a service goes through `problem_response`: the service's
own `AppError`s, request validation errors, Starlette's routing errors (404, 405),
database and Redis outages (503), unique-constraint violations (409), values
PostgreSQL refuses (422) and, from `ServiceMiddleware`, unexpected
exceptions (500). No stack trace, SQL or secret ever reaches the body.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from http import HTTPStatus
from typing import Any, Final, TypeVar, cast

import asyncpg
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

from servicekit.db import client_error
from servicekit.errors import (
    AppError,
    MethodNotAllowed,
    ServiceUnavailable,
    UnprocessableContent,
    error_for_status,
    problem_type,
)
from servicekit.http._context import current_request_id

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ProblemDetails",
    "ValidationProblem",
    "WrappedAppError",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

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


class WrappedAppError(StarletteHTTPException):
    """An `AppError` raised where FastAPI lets only an ``HTTPException`` through.

    FastAPI turns any other exception raised while it reads a request body into
    a 400; this one reaches the handlers, which render the error inside.
    """

    def __init__(self, error: AppError) -> None:
        super().__init__(error.status, error.detail, error.headers)
        self.error = error


def problem_response(error: AppError, *, instance: str) -> Response:
    """The problem details response of ``error``, for the request at ``instance``."""
    return _render(
        error.status,
        type_=error.type,
        title=error.title,
        detail=error.detail,
        instance=instance,
        headers=error.headers,
        extensions=error.extensions,
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
    _handle(app, AppError, render_app_error)
    _handle(app, RequestValidationError, render_validation_error)
    _handle(
        app, StarletteHTTPException, partial(render_http_error, allowed_methods=allowed_methods)
    )
    for database_error in (sqlalchemy.exc.DBAPIError, asyncpg.PostgresError):
        _handle(app, database_error, partial(render_database_error, conflicts=conflicts))
    for unavailable in _UNAVAILABLE:
        _handle(app, unavailable, render_unavailable)


async def render_app_error(request: Request, exc: AppError) -> Response:
    """A service's own error."""
    return problem_response(exc, instance=request.url.path)


async def render_validation_error(request: Request, exc: RequestValidationError) -> Response:
    """422, listing each invalid value: where, what, and a stable type (never the value)."""
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return problem_response(
        UnprocessableContent(_summarize(errors), errors=errors), instance=request.url.path
    )


async def render_http_error(
    request: Request, exc: StarletteHTTPException, *, allowed_methods: Callable[[str], str]
) -> Response:
    """Starlette's and FastAPI's own errors: no route (404), a method the path lacks (405)."""
    path = request.url.path
    if isinstance(exc, WrappedAppError):
        return problem_response(exc.error, instance=path)
    if exc.status_code == 405:
        allow = allowed_methods(path) or (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed here; allowed: {allow}."
        return problem_response(MethodNotAllowed(message, allow=allow), instance=path)
    kind = error_for_status(exc.status_code)
    title = kind.title if kind else _phrase(exc.status_code)
    detail = exc.detail if exc.detail and exc.detail != _phrase(exc.status_code) else title
    if exc.status_code == 404 and detail in (title, "Not Found"):
        detail = f"Nothing is at {path}."
    return _render(
        exc.status_code,
        type_=problem_type(kind.slug if kind else str(exc.status_code)),
        title=title,
        detail=detail,
        instance=path,
        headers=exc.headers or {},
    )


async def render_database_error(
    request: Request,
    exc: sqlalchemy.exc.DBAPIError | asyncpg.PostgresError,
    *,
    conflicts: Mapping[str, str],
) -> Response:
    """A constraint or value the database refused (409, 422), or the database down (503)."""
    error = client_error(exc, conflicts=conflicts)
    if error is None:
        raise exc
    if isinstance(error, ServiceUnavailable):
        return await render_unavailable(request, exc)
    return problem_response(error, instance=request.url.path)


async def render_unavailable(request: Request, exc: Exception) -> Response:
    """503 with ``Retry-After``: the database or Redis did not answer."""
    _log.warning("dependency_unavailable", error=type(exc).__name__)
    return problem_response(ServiceUnavailable(), instance=request.url.path)


ExcT = TypeVar("ExcT", bound=Exception)


def _handle(
    app: FastAPI, exc_type: type[ExcT], handler: Callable[[Request, ExcT], Awaitable[Response]]
) -> None:
    # Starlette calls a handler only with exceptions of its registered type.
    app.add_exception_handler(exc_type, cast("ExceptionHandler", handler))


def _render(
    status: int,
    *,
    type_: str,
    title: str,
    detail: str,
    instance: str,
    headers: Mapping[str, str],
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": current_request_id(),
    }
    if extensions:
        body.update(extensions)
    return Response(
        orjson.dumps(body), status_code=status, headers=dict(headers), media_type=PROBLEM_MEDIA_TYPE
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _summarize(errors: list[dict[str, Any]]) -> str:
    shown = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(shown) + more if shown else "The request is invalid."
