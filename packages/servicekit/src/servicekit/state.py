"""The typed state a service's lifespan creates and every request reads.

A service's lifespan yields a `ServiceState` (or a subclass with the service's
own resources); `create_service_app` stores it in the ASGI lifespan state, and
`service_state` gets it back, typed, from a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeVar, overload

from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from servicekit.auth import TokenVerifier
from servicekit.db import Database

__all__ = ["STATE_KEY", "ServiceState", "service_state"]

STATE_KEY: Final = "service"

StateT = TypeVar("StateT", bound="ServiceState")


@dataclass(frozen=True, kw_only=True)
class ServiceState:
    """What every service holds for its lifetime: pool, Redis client, token verifier."""

    database: Database
    redis: Redis
    verifier: TokenVerifier


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
