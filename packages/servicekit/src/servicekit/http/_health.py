"""Liveness and readiness probes.

``/health/live`` answers while the process runs, touching nothing. ``/health/ready``
checks the database and Redis concurrently, each within its own timeout, and
answers 503 with the reason of every failed check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Literal

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from servicekit.http._routing import ServiceRouter
from servicekit.state import service_state

__all__ = ["Liveness", "Readiness", "health_router"]

_NO_STORE = {"Cache-Control": "no-store"}


class Liveness(BaseModel):
    """The process is running."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether every dependency answers, and what each check found."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


def health_router(*, check_timeout: float) -> ServiceRouter:
    """``GET /health/live`` and ``GET /health/ready``."""
    router = ServiceRouter(tags=["health"])

    @router.get("/health/live", response_model=Liveness, summary="Liveness probe")
    async def check_liveness() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json", headers=_NO_STORE)

    @router.get(
        "/health/ready",
        response_model=Readiness,
        summary="Readiness probe",
        responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
    )
    async def check_readiness(request: Request) -> Response:
        state = service_state(request)
        names = ("database", "redis")
        results = await asyncio.gather(
            _check(state.database.ping(), check_timeout),
            _check(state.redis.ping(), check_timeout),
        )
        checks = dict(zip(names, results, strict=True))
        healthy = all(result == "ok" for result in results)
        body = {"status": "ok" if healthy else "unavailable", "checks": checks}
        return Response(
            orjson.dumps(body),
            status_code=200 if healthy else 503,
            media_type="application/json",
            headers=_NO_STORE,
        )

    return router


async def _check(probe: Awaitable[object], seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            await probe
    except TimeoutError:
        return f"timed out after {seconds:g}s"
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"unavailable ({type(exc).__name__})"
    return "ok"
