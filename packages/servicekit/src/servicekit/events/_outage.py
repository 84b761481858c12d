"""Whether an error says a dependency is away (retry later) or the work is bad (give up)."""

from __future__ import annotations

import asyncpg
import sqlalchemy.exc
from redis.exceptions import RedisError

from servicekit.db import client_error
from servicekit.errors import ServiceUnavailable

__all__ = ["unavailable"]

_AWAY = (
    OSError,
    TimeoutError,
    RedisError,
    asyncpg.InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    ServiceUnavailable,
)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database or Redis cannot be used right now."""
    if isinstance(exc, _AWAY):
        return True
    if isinstance(exc, asyncpg.PostgresError | sqlalchemy.exc.DBAPIError):
        return isinstance(client_error(exc, conflicts={}), ServiceUnavailable)
    return False
