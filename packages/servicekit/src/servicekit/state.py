"""The typed state a service's lifespan creates and every request reads.

A service's lifespan yields a `ServiceState` (or a subclass with the service's
own resources); `create_service_app` stores it in the ASGI lifespan state, and
`service_state` gets it back, typed, from a request. `ServiceState.assemble` builds
what every service has on an opened pool, Redis client and verifier;
`open_service_state` is the whole lifespan of a service that verifies tokens issued
elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Self, TypeVar, overload

from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from servicekit.auth import (
    JwksSettings,
    Revocations,
    RevocationSource,
    TokenSettings,
    TokenVerifier,
    open_jwks_verifier,
)
from servicekit.cache import ResponseCache
from servicekit.db import Database, open_database
from servicekit.ratelimit import RateLimiter
from servicekit.redis import ScriptBatcher, open_redis
from servicekit.settings import ServiceSettings

__all__ = ["STATE_KEY", "ServiceState", "open_service_state", "service_state"]

STATE_KEY: Final = "service"

StateT = TypeVar("StateT", bound="ServiceState")


@dataclass(frozen=True, kw_only=True)
class ServiceState:
    """What every service holds for its lifetime: pool, Redis client, token verifier,
    and on that Redis the rate limiter, the response cache and the revocation list,
    whose scripts share one batcher (a request asks Redis once)."""

    database: Database
    redis: Redis
    scripts: ScriptBatcher
    verifier: TokenVerifier
    rate_limiter: RateLimiter
    cache: ResponseCache
    revocations: Revocations
    idempotency_ttl: timedelta = timedelta(hours=24)
    """How long an ``Idempotency-Key`` is remembered."""

    @classmethod
    def assemble(
        cls,
        config: ServiceSettings,
        *,
        name: str,
        database: Database,
        redis: Redis,
        scripts: ScriptBatcher,
        verifier: TokenVerifier,
        revocation_source: RevocationSource | None = None,
        **extra: Any,
    ) -> Self:
        """The state of the service ``name`` on its opened pool, Redis and verifier, as
        ``config`` says; ``revocation_source`` for the issuer of the tokens (it rebuilds
        the revocation list), ``extra`` for a subclass's own fields."""
        return cls(
            database=database,
            redis=redis,
            scripts=scripts,
            verifier=verifier,
            rate_limiter=RateLimiter(scripts, namespace=name),
            cache=ResponseCache.configured(scripts, config.cache, service=name),
            revocations=Revocations(scripts, issuer=verifier.issuer, source=revocation_source),
            idempotency_ttl=timedelta(seconds=config.idempotency.ttl),
            **extra,
        )


@overload
def service_state(connection: HTTPConnection) -> ServiceState: ...
@overload
def service_state(connection: HTTPConnection, kind: type[StateT]) -> StateT: ...
def service_state(
    connection: HTTPConnection, kind: type[ServiceState] = ServiceState
) -> ServiceState:
    """The state of the app handling ``connection``, checked to be a ``kind``."""
    state = connection.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(state, kind):
        raise RuntimeError(
            f"no {kind.__name__} in the lifespan state: was the app started with its lifespan?"
        )
    return state


@asynccontextmanager
async def open_service_state(
    settings: ServiceSettings, *, name: str, token: TokenSettings, jwks: JwksSettings
) -> AsyncIterator[ServiceState]:
    """The state of a service that verifies tokens issued elsewhere (by users).

    Its pool, its Redis client and a verifier of the JWKS at ``jwks.url``; the
    lifespan of such a service, whole: ``lifespan=lambda: open_service_state(…)``.
    """
    async with (
        open_database(settings.database, application_name=name) as database,
        open_redis(settings.redis, client_name=name) as redis,
        ScriptBatcher(redis) as scripts,
        open_jwks_verifier(jwks, token=token) as verifier,
    ):
        yield ServiceState.assemble(
            settings,
            name=name,
            database=database,
            redis=redis,
            scripts=scripts,
            verifier=verifier,
        )
