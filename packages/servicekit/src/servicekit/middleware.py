"""Pure ASGI middleware: each layer is one function call and a wrapped ``send``.

`create_service_app` stacks them, outermost first::

    SecurityHeadersMiddleware  nosniff, no-referrer, no-store on authenticated requests
    RequestContextMiddleware   request id, Server-Timing, access log, metrics, 500s
    TrustedHostMiddleware      only when hosts are restricted
    CORSMiddleware             only when origins are configured (Starlette's)
    HeadMiddleware             HEAD answered as GET without the body
    BodyLimitMiddleware        413 past the configured size
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from typing import Final

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.context import request_id_var
from servicekit.observability import Metrics
from servicekit.problems import problem_response

__all__ = [
    "BodyLimitMiddleware",
    "HeadMiddleware",
    "RequestContextMiddleware",
    "SecurityHeadersMiddleware",
    "TrustedHostMiddleware",
]

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
                response = problem_response(500, instance=scope["path"])
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


class TrustedHostMiddleware:
    """Refuses requests whose ``Host`` is not one of ``allowed_hosts`` (400).

    An entry ``*.example.com`` allows every subdomain of example.com.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.exact = frozenset(h.lower() for h in allowed_hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:].lower() for h in allowed_hosts if h.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _host_without_port(scope)
        if host in self.exact or (self.suffixes and host.endswith(self.suffixes)):
            await self.app(scope, receive, send)
            return
        response = problem_response(
            400,
            instance=scope["path"],
            detail="The Host header names a host this service does not serve.",
        )
        await response(scope, receive, send)


def _host_without_port(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            if host.startswith("["):  # IPv6 literal
                return host.split("]", 1)[0] + "]"
            return host.rsplit(":", 1)[0]
    return ""


class SecurityHeadersMiddleware:
    """Adds the response headers every API response should carry.

    ``Cache-Control: no-store`` goes on every response to a request that carried
    credentials, unless the endpoint set its own ``Cache-Control``.
    """

    _ALWAYS: Final = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = any(name == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *self._ALWAYS]
                if authenticated and not any(n.lower() == b"cache-control" for n, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadMiddleware:
    """Answers ``HEAD`` as ``GET`` without the body (RFC 9110 §9.3.2).

    FastAPI's routes take only the methods they declare, so without this every
    ``HEAD`` would be a 405. The headers, ``Content-Length`` included, stay those
    of the ``GET``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # A copy: the server keeps reading its own scope (uvicorn sends no body
        # for a HEAD only while its scope still says HEAD).
        as_get = {**scope, "method": "GET"}

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(as_get, receive, send_without_body)
        finally:
            if "route" in as_get:  # for the route label of logs and metrics
                scope["route"] = as_get["route"]


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
            response = problem_response(
                400,
                instance=scope["path"],
                detail="The Content-Length header is not a valid number.",
            )
            await response(scope, receive, send)
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
                    raise StarletteHTTPException(413, detail=self._detail())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except StarletteHTTPException as exc:
            # Raised by `counting_receive` where no handler caught it.
            if exc.status_code != 413 or response_started:
                raise
            await self._too_large(scope, receive, send)

    def _detail(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes."

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, instance=scope["path"], detail=self._detail())
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; ``None`` when absent, -1 when not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None
