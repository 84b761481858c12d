"""Pure ASGI middleware: each layer is one function call and a wrapped ``send``.

`install_middleware` stacks them, outermost first::

    SecurityHeadersMiddleware  nosniff, no-referrer, no-store on authenticated requests
    RequestContextMiddleware   request id, Server-Timing, access log, metrics, 500s
    AllowedHostsMiddleware     only when hosts are restricted
    CORSMiddleware             only when origins are configured (Starlette's)
    HeadMiddleware             HEAD answered as GET without the body
    BodyLimitMiddleware        413 past the configured size
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from servicekit.http.middleware._body_limit import BodyLimitMiddleware
from servicekit.http.middleware._head import HeadMiddleware
from servicekit.http.middleware._hosts import AllowedHostsMiddleware
from servicekit.http.middleware._request_context import RequestContextMiddleware
from servicekit.http.middleware._security_headers import SecurityHeadersMiddleware
from servicekit.observability import Metrics
from servicekit.settings import HttpSettings

__all__ = [
    "AllowedHostsMiddleware",
    "BodyLimitMiddleware",
    "HeadMiddleware",
    "RequestContextMiddleware",
    "SecurityHeadersMiddleware",
    "install_middleware",
]


def install_middleware(
    app: FastAPI, http: HttpSettings, *, metrics: Metrics, quiet_paths: Sequence[str]
) -> None:
    """Stack the layers around ``app``, in the order above.

    ``quiet_paths`` (probes) are logged at DEBUG instead of INFO.
    """
    # Each add wraps the stack built so far: add from the innermost outwards.
    app.add_middleware(BodyLimitMiddleware, max_bytes=http.max_body_bytes)
    app.add_middleware(HeadMiddleware)
    if http.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(http.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Link",
                "Location",
                "Retry-After",
                "RateLimit",
                "RateLimit-Policy",
                "X-Request-ID",
                "Server-Timing",
            ],
            max_age=600,
        )
    if "*" not in http.trusted_hosts:
        app.add_middleware(AllowedHostsMiddleware, allowed_hosts=http.trusted_hosts)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, quiet_paths=quiet_paths)
    # Outermost, so that every response has them: 500s, 400s for bad hosts, preflights.
    app.add_middleware(SecurityHeadersMiddleware)
