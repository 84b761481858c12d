"""Routers for service endpoints: `ServiceRouter` and its `ServiceRoute`.

A `ServiceRoute` refuses a request body of the wrong media type with 415
before anything reads it: JSON endpoints take ``application/json`` (or
``application/*+json``), form endpoints take form encodings. Every router of a
service is a `ServiceRouter`; `create_service_app` checks that.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import APIRouter, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from servicekit.errors import UnsupportedMediaType
from servicekit.http._dependencies import DATABASE_DEPENDENCIES
from servicekit.http._openapi import problem_responses

__all__ = ["ServiceRoute", "ServiceRouter"]

_FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class ServiceRoute(APIRoute):
    """An API route that checks the media type of request bodies.

    A route that uses the database (a unit of work, a transaction, a reader)
    documents the 503 it answers when the database does not.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if any(_depends_on(self.dependant, use) for use in DATABASE_DEPENDENCIES):
            self.responses.setdefault(503, problem_responses(503)[503])

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        expects_form = isinstance(self.body_field.field_info, params.Form)
        accepted = _is_form if expects_form else _is_json
        expected = "application/x-www-form-urlencoded" if expects_form else "application/json"

        async def handle(request: Request) -> Response:
            if _has_body(request.scope) and not accepted(
                _media_type(request.headers.get("content-type"))
            ):
                raise UnsupportedMediaType(f"Send the request body as {expected}.")
            return await handler(request)

        return handle


class ServiceRouter(APIRouter):
    """An `APIRouter` whose routes are `ServiceRoute`s."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", ServiceRoute)
        super().__init__(**kwargs)


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value != b"0")
        if name == b"transfer-encoding":
            return True
    return False


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _is_form(media_type: str) -> bool:
    return media_type in _FORM_TYPES
