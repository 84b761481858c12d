"""``Idempotency-Key`` for a create route: a dependency and one call around its work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Final

from fastapi import Header, Request
from sqlalchemy import Table
from starlette.responses import Response

from servicekit.auth import Principal
from servicekit.db import Transaction
from servicekit.idempotency import Idempotency, StoredResponse, fingerprint_of
from servicekit.state import service_state

__all__ = ["IdempotentCreate", "idempotency_for"]

_REPLAYED: Final = "Idempotent-Replayed"


class IdempotentCreate:
    """A create route's work, run once per ``Idempotency-Key`` (see `Idempotency`)."""

    def __init__(self, request: Request, table: Table, key: str | None) -> None:
        self._request = request
        self._table = table
        self._key = key

    async def respond(
        self,
        create: Callable[[], Awaitable[Response]],
        *,
        transaction: Transaction,
        principal: Principal,
    ) -> Response:
        """``create()``'s response the first time; the stored one, marked, for a retry.

        ``transaction`` is the request's: the key is stored in it, with the response.
        """
        if self._key is None:  # nothing to remember
            return await create()
        request = self._request
        idempotency = Idempotency(
            transaction,
            self._table,
            principal=str(principal.user_id),
            key=self._key,
            fingerprint=fingerprint_of(request.method, request.url.path, await request.body()),
            ttl=service_state(request).idempotency_ttl,
        )

        async def stored() -> StoredResponse:
            response = await create()
            return StoredResponse(
                response.status_code, dict(response.headers), bytes(response.body)
            )

        response, replayed = await idempotency.run(stored)
        headers = {**response.headers, _REPLAYED: "true"} if replayed else dict(response.headers)
        headers.pop("content-length", None)
        return Response(response.body, status_code=response.status, headers=headers)


def idempotency_for(table: Table) -> Callable[..., Awaitable[IdempotentCreate]]:
    """The dependency of a create route that takes ``Idempotency-Key``, keyed in ``table``.

    ::

        # deps.py, once
        Idempotent = Annotated[IdempotentCreate, Depends(idempotency_for(IDEMPOTENCY_KEYS))]

        async def create_item(..., idempotent: Idempotent) -> Response:
            return await idempotent.respond(
                lambda: _create(...), transaction=transaction, principal=principal
            )

    It asks FastAPI for nothing but the header: the endpoint already has its
    transaction and principal, and hands them over.
    """

    async def dependency(
        request: Request,
        key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Retry safely: the same key and body get the first response "
                "back (`Idempotent-Replayed: true`), and nothing is created twice.",
            ),
        ] = None,
    ) -> IdempotentCreate:
        return IdempotentCreate(request, table, key)

    return dependency
