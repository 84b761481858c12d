"""FastAPI dependencies every service uses, as ``Annotated`` aliases.

- `DbSession`: the request's unit of work. It commits after the endpoint
  returns and before the response is sent; if the commit fails, the client gets
  an error response, never a 2xx for lost data. Any exception rolls it back.
- `DbTransaction`: the same unit of work as a `Transaction` on one pooled
  asyncpg connection, for hot paths: Core statements, no ORM (a fifth of the cost).
- `DbReader`: for an endpoint that only reads, a `Reader` on a pooled connection
  in no transaction: one round trip per query, nothing to commit.
- `CurrentPrincipal`: the verified caller, or a 401 with ``WWW-Authenticate``.
- `Cache`: the service's `ResponseCache`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import InvalidToken, Principal
from servicekit.cache import ResponseCache
from servicekit.db import Reader, Transaction
from servicekit.errors import Unauthorized
from servicekit.http._context import VERIFIED_PRINCIPAL_KEY
from servicekit.state import service_state

__all__ = [
    "DATABASE_DEPENDENCIES",
    "Cache",
    "CurrentPrincipal",
    "DbReader",
    "DbSession",
    "DbTransaction",
    "read_only",
    "transaction",
    "unit_of_work",
]

_bearer = HTTPBearer(
    auto_error=False,
    description="An access token: `Authorization: Bearer <token>`.",
)


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the endpoint has returned."""
    async with service_state(request).database.sessionmaker() as session:
        yield session
        await session.commit()


async def transaction(request: Request) -> AsyncIterator[Transaction]:
    """The request's transaction, committed when the endpoint has returned."""
    async with service_state(request).database.transaction() as unit:
        yield unit


async def read_only(request: Request) -> Reader:
    """The process's reader: it borrows a pooled connection per query, so nothing to close.

    Not a ``yield`` dependency on purpose: those cost a shielded cancel scope each.
    """
    return service_state(request).database.reader


async def _response_cache(request: Request) -> ResponseCache:
    return service_state(request).cache


async def _current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("Send an access token: `Authorization: Bearer <token>`.")
    verified = request.scope.get(VERIFIED_PRINCIPAL_KEY)
    if verified is not None and verified[0] == credentials.credentials:
        principal: Principal = verified[1]  # the rate limit verified it a moment ago
        return principal
    try:
        return await service_state(request).verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized(
            f"The access token was refused: {exc.reason}.", error="invalid_token"
        ) from None


# `scope="function"` ends the session right after the endpoint, before the
# response is sent, so the commit's outcome decides the response.
DbSession = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
DbTransaction = Annotated[Transaction, Depends(transaction, scope="function")]
DbReader = Annotated[Reader, Depends(read_only)]
DATABASE_DEPENDENCIES = (unit_of_work, transaction, read_only)
"""What an endpoint uses the database through (so it can answer 503)."""
CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]
Cache = Annotated[ResponseCache, Depends(_response_cache)]
"""The service's response cache (`servicekit.cache`)."""
