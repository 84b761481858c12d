"""Per-request context that code deep in a call stack may need: the request id, and a
token the middleware already verified."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

__all__ = ["VERIFIED_PRINCIPAL_KEY", "current_request_id", "request_id_var"]

VERIFIED_PRINCIPAL_KEY: Final = "servicekit.verified_principal"
"""Scope key of ``(token, Principal)``: the bearer token `ServiceMiddleware` verified for
the rate limit, so that `CurrentPrincipal` does not verify it a second time."""

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being handled; set by `ServiceMiddleware`."""


def current_request_id() -> str | None:
    """The id of the request being handled, or ``None`` outside a request."""
    return request_id_var.get()
