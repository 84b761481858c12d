"""FastAPI dependencies every service uses, as ``Annotated`` aliases.

- `DbSession`: the request's unit of work. It commits after the endpoint
  returns and before the response is sent; if the commit fails, the client gets
  an error response, never a 2xx for lost data. Any exception rolls it back.
- `DbTransaction`: the same unit of work as a `Transaction` on one pooled
  asyncpg connection, for hot paths: Core statements, no ORM (a fifth of the cost).
- `DbReader`: for an endpoint that only reads, a `Reader` on a pooled connection
  in no transaction: one round trip per query, nothing to commit.
- `CurrentPrincipal`: the verified caller of an unrevoked token, or a 401 with
  ``WWW-Authenticate`` (503 when revocation cannot be checked); `AdminPrincipal`: an
  admin, or 403.
- `Cache`: the service's `ResponseCache`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal, RevocationUnavailable, TokenRevoked
from servicekit.cache import ResponseCache
from servicekit.db import Reader, Transaction, committing
from servicekit.errors import Forbidden, ServiceUnavailable, Unauthorized
from servicekit.http._credentials import CREDENTIALS_KEY, Credentials, read_credentials
from servicekit.state import service_state

__all__ = [
    "DATABASE_DEPENDENCIES",
    "AdminPrincipal",
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
    """One session per request, committed when the endpoint has returned (or has raised
    an `AppError` `keeping_writes`)."""
    async with service_state(request).database.sessionmaker() as session, committing(session):
        yield session


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
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if bearer is None:
        raise Unauthorized("Send an access token: `Authorization: Bearer <token>`.")
    state = service_state(request)
    credentials = request.scope.get(CREDENTIALS_KEY)
    if not isinstance(credentials, Credentials) or credentials.token != bearer.credentials:
        credentials = await read_credentials(state, bearer.credentials, revocation=True)
    if credentials.principal is None:
        reason = credentials.refusal.reason if credentials.refusal else "not verified"
        raise Unauthorized(f"The access token was refused: {reason}.", error="invalid_token")
    check = credentials.revocation or state.revocations.check(credentials.principal)
    try:
        await state.revocations.confirm(check)
    except TokenRevoked:
        raise Unauthorized(
            "The access token was revoked (logged out, or its session ended).",
            error="invalid_token",
        ) from None
    except RevocationUnavailable:
        raise ServiceUnavailable(
            "Whether this access token was revoked cannot be checked right now; retry."
        ) from None
    return credentials.principal


async def _admin(principal: Annotated[Principal, Depends(_current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Only an admin may do this.")
    return principal


# `scope="function"` ends the session right after the endpoint, before the
# response is sent, so the commit's outcome decides the response.
DbSession = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
DbTransaction = Annotated[Transaction, Depends(transaction, scope="function")]
DbReader = Annotated[Reader, Depends(read_only)]
DATABASE_DEPENDENCIES = (unit_of_work, transaction, read_only)
"""What an endpoint uses the database through (so it can answer 503)."""
CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]
"""The caller of a valid, unrevoked access token; 401 otherwise, 503 when whether the
token was revoked cannot be known (Redis away): fail closed."""
AdminPrincipal = Annotated[Principal, Depends(_admin)]
"""`CurrentPrincipal`, who must be an admin (403 otherwise)."""
Cache = Annotated[ResponseCache, Depends(_response_cache)]
"""The service's response cache (`servicekit.cache`)."""
