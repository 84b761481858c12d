"""The request's id, timing, access log line and metrics; the last line of defence."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from typing import Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.errors import AppError
from servicekit.http._context import request_id_var
from servicekit.http._problems import problem_response
from servicekit.observability import Metrics

__all__ = ["RequestContextMiddleware"]


_REQUEST_ID_HEADER: Final = b"x-request-id"
_SANE_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:@=+/-]{1,128}")
_UNMATCHED_ROUTE: Final = "<unmatched>"

_access_log = structlog.get_logger("servicekit.access")
_error_log = structlog.get_logger("servicekit.errors")


class RequestContextMiddleware:
    """Gives every request an id and a timing; logs and measures every request.

    The client's ``X-Request-ID`` is kept when it is sane (1 to 128 characters
    of ``[A-Za-z0-9._:@=+/-]``), else a new one is made. It is echoed in the
    response, bound into every log line, and put into problem details.

    It is also the last line of defence: an exception nothing else handled is
    logged with its traceback and answered with a 500 problem that reveals
    nothing of it.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, quiet_paths: Sequence[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        method = scope["method"]
        request_id = _incoming_request_id(scope) or secrets.token_hex(16)
        id_token = request_id_var.set(request_id)
        log_tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        encoded_id = request_id.encode("latin-1")
        status = 500
        response_started = False

        async def send_with_context(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                elapsed_ms = (time.perf_counter() - started_at) * 1000
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", encoded_id),
                    (b"server-timing", f"app;dur={elapsed_ms:.1f}".encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        except Exception:
            _error_log.exception("unhandled_exception", method=method, path=scope["path"])
            if not response_started:
                response = problem_response(AppError(), instance=scope["path"])
                await response(scope, receive, send_with_context)
        finally:
            seconds = time.perf_counter() - started_at
            route = getattr(scope.get("route"), "path", None) or _UNMATCHED_ROUTE
            self.metrics.observe_request(method, route, status, seconds)
            log = _access_log.debug if scope["path"] in self.quiet_paths else _access_log.info
            log(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**log_tokens)
            request_id_var.reset(id_token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_HEADER:
            return value.decode("latin-1") if _SANE_REQUEST_ID.fullmatch(value) else None
    return None
