"""`create_service_app`: the one way a service builds its FastAPI app.

It wires what every service has — logging, problem details for every error,
the middleware stack, health and metrics endpoints, the OpenAPI error schema —
around the service's own routers and lifespan::

    def create_app(settings: ItemsSettings) -> FastAPI:
        return create_service_app(
            settings,
            name="items",
            version=__version__,
            description="…",
            lifespan=lambda: open_service_state(settings, name="items", …),
            routers=[item_router],
        )
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig

from servicekit.events import EventMetrics, ServiceEvents
from servicekit.http import (
    CachedRoute,
    ServiceRoute,
    document_problems,
    health_router,
    install_middleware,
    install_problem_handlers,
)
from servicekit.observability import Metrics, configure_logging, metrics_router
from servicekit.settings import ServiceSettings
from servicekit.state import STATE_KEY, ServiceState

__all__ = ["ServiceApp", "create_service_app"]

_QUIET_PATHS: Final = ("/health/live", "/health/ready", "/metrics")
_PUBLIC_PATHS: Final = ("/health/", "/metrics", "/docs", "/openapi.json")
"""Prefixes of the paths no rate limit applies to, and no token is read for: probes,
metrics, the API's docs."""


class ServiceApp(FastAPI):
    """A FastAPI app whose OpenAPI document describes errors as problem details."""

    def openapi(self) -> dict[str, Any]:
        return document_problems(super().openapi())


def create_service_app(
    settings: ServiceSettings,
    *,
    name: str,
    version: str,
    description: str,
    lifespan: Callable[[], AbstractAsyncContextManager[ServiceState]],
    routers: Sequence[APIRouter],
    conflicts: Mapping[str, str] | None = None,
    cached_routes: Sequence[CachedRoute] = (),
    events: ServiceEvents | None = None,
) -> ServiceApp:
    """Build the app of the service ``name``.

    ``lifespan`` opens the service's resources and yields its `ServiceState`;
    ``conflicts`` maps unique-constraint names to the 409 detail a violation gets;
    ``cached_routes`` are public routes whose cache hits the middleware sends itself;
    ``events``, what the service writes and applies, shows in ``/metrics``.
    """
    access_log = configure_logging(
        level=settings.log.level, format=settings.log.format, service=name
    )
    metrics = Metrics(enabled=settings.metrics.enabled)

    @asynccontextmanager
    async def app_lifespan(running: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with lifespan() as state:
            running.state.service = state  # for what holds the app, not a request (tests)
            scraped = (
                [EventMetrics(state.database, state.redis, events, group=name)] if events else []
            )
            metrics.watch(
                state.database.engine,
                state.scripts,
                state.rate_limiter,
                state.cache,
                scraped=scraped,
            )
            # What start-up made (modules, models, routes, pools) lives as long as the
            # process: frozen, a full collection no longer walks it (was ~100 ms a time).
            gc.freeze()
            try:
                yield {STATE_KEY: state}
            finally:
                gc.unfreeze()
                metrics.unwatch()

    app = ServiceApp(
        title=name,
        version=version,
        description=description,
        lifespan=app_lifespan,
        redoc_url=None,
        # Operation ids are the endpoint functions' names: create_item, get_item, …
        generate_unique_id_function=_operation_id,
        telemetry=_telemetry(enabled=settings.telemetry.enabled),
    )
    _require_service_routes(routers)
    every_router = [
        health_router(check_timeout=settings.health.check_timeout),
        *([metrics_router(metrics)] if metrics.enabled else []),
        *routers,
    ]
    for router in every_router:
        app.include_router(router)
    install_problem_handlers(
        app, conflicts=conflicts or {}, allowed_methods=_allowed_methods(every_router)
    )
    install_middleware(
        app,
        settings.http,
        metrics=metrics,
        access_log=access_log,
        quiet_paths=_QUIET_PATHS,
        public_paths=_PUBLIC_PATHS,
        cached_routes=cached_routes,
    )
    return app


def _telemetry(*, enabled: bool) -> TelemetryConfig | None:
    """FastAPI's defaults when on; off, every kind off, so it probes for no provider."""
    return None if enabled else {"tracing": False, "metrics": False, "logs": False}


def _allowed_methods(routers: Sequence[APIRouter]) -> Callable[[str], str]:
    """The ``Allow`` header value for a path: the methods of every route matching it."""
    table = [
        (route.path_regex, frozenset(route.methods or ()))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]

    def allowed(path: str) -> str:
        methods: set[str] = set()
        for regex, route_methods in table:
            if regex.match(path):
                methods |= route_methods
        if "GET" in methods:
            methods.add("HEAD")  # answered as a GET without its body
        return ", ".join(sorted(methods))

    return allowed


def _operation_id(route: APIRoute) -> str:
    return route.name


def _require_service_routes(routers: Sequence[APIRouter]) -> None:
    for route in (route for router in routers for route in router.routes):
        if isinstance(route, APIRoute) and not isinstance(route, ServiceRoute):
            raise TypeError(
                f"{route.path} is not a ServiceRoute: "
                "build its router with servicekit's ServiceRouter"
            )
