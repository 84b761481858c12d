"""Absolute URLs of a service's own resources, for ``Location`` headers."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

__all__ = ["url_of"]


def url_of(request: Request, path: str, **params: object) -> str:
    """``path`` (a route's template, ``/items/{item_id}``) with ``params``, as an absolute URL.

    Under the request's base URL, root path included, as ``request.url_for`` gives it;
    but ``url_for`` finds the route by its name among every route, on every call,
    and this formats a string.
    """
    values = {name: quote(str(value), safe="") for name, value in params.items()}
    return str(request.base_url).rstrip("/") + path.format(**values)
