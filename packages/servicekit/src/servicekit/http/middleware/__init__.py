"""What wraps every service's app: one pure-ASGI layer, and CORS when configured.

`install_middleware` stacks, outermost first::

    ServiceMiddleware   request id, Host check, body limit, HEAD as GET, the client
                        and scheme behind trusted proxies, the rate limit, cache hits of
                        public routes (`CachedRoute`) sent before routing, response
                        headers (request id, Server-Timing, security), 500s,
                        access log, metrics: one pass over the request headers,
                        one wrapped ``send``
    CORSMiddleware      only when origins are configured (Starlette's)

One layer where there were six: every layer is a coroutine call and a wrapped
``send`` for every request, and on the hot path that was a measurable share of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from structlog.typing import FilteringBoundLogger

from servicekit.http.middleware._cached import CachedRoute
from servicekit.http.middleware._proxies import TrustedProxies
from servicekit.http.middleware._service import ServiceMiddleware
from servicekit.observability import Metrics
from servicekit.ratelimit import RatePolicy
from servicekit.settings import HttpSettings

__all__ = [
    "CachedRoute",
    "ServiceMiddleware",
    "TrustedProxies",
    "install_middleware",
]


def install_middleware(
    app: FastAPI,
    http: HttpSettings,
    *,
    metrics: Metrics,
    access_log: FilteringBoundLogger,
    quiet_paths: Sequence[str],
    public_paths: Sequence[str],
    cached_routes: Sequence[CachedRoute] = (),
) -> None:
    """Stack the layers around ``app``, in the order above.

    ``quiet_paths`` (probes) are logged at DEBUG instead of INFO; paths that start
    with one of ``public_paths`` (probes, metrics, docs) are neither rate limited nor
    read for a token;
    ``cached_routes`` are answered from the cache when it holds the response.
    """
    # Each add wraps the stack built so far: add from the innermost outwards.
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
                "Idempotent-Replayed",
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
    # Outermost, so that every response has its headers: 500s, 400s, preflights.
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        access_log=access_log,
        max_body_bytes=http.max_body_bytes,
        allowed_hosts=http.trusted_hosts,
        trusted_proxies=http.trusted_proxies,
        rate_limit=RatePolicy.of("default", http.rate_limit) if http.rate_limit_enabled else None,
        public_paths=public_paths,
        cached_routes=cached_routes,
        quiet_paths=quiet_paths,
    )
