"""``Idempotency-Key`` for a create route: a dependency and one call around its work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Final

from fastapi import Header, Request
from sqlalchemy import Table
from starlette.responses import Response

from servicekit.http._dependencies import CurrentPrincipal, DbTransaction
from servicekit.idempotency import Idempotency, StoredResponse, fingerprint_of
from servicekit.state import service_state

__all__ = ["IdempotentCreate", "idempotency_for"]

_REPLAYED: Final = "Idempotent-Replayed"


class IdempotentCreate:
    """A create route's work, run once per ``Idempotency-Key`` (see `Idempotency`)."""

    def __init__(self, idempotency: Idempotency) -> None:
        self._idempotency = idempotency

    async def respond(self, create: Callable[[], Awaitable[Response]]) -> Response:
        """``create()``'s response the first time; the stored one, marked, for a retry."""

        async def stored() -> StoredResponse:
            response = await create()
            return StoredResponse(
                response.status_code, dict(response.headers), bytes(response.body)
            )

        response, replayed = await self._idempotency.run(stored)
        headers = {**response.headers, _REPLAYED: "true"} if replayed else dict(response.headers)
        headers.pop("content-length", None)
        return Response(response.body, status_code=response.status, headers=headers)


def idempotency_for(table: Table) -> Callable[..., Awaitable[IdempotentCreate]]:
    """The dependency of a create route that takes ``Idempotency-Key``, keyed in ``table``.

    ::

        # deps.py, once
        Idempotent = Annotated[IdempotentCreate, Depends(idempotency_for(IDEMPOTENCY_KEYS))]

        async def create_item(..., idempotent: Idempotent) -> Response:
            return await idempotent.respond(lambda: _create(...))
    """

    async def dependency(
        request: Request,
        transaction: DbTransaction,
        principal: CurrentPrincipal,
        key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Retry safely: the same key and body get the first response "
                "back (`Idempotent-Replayed: true`), and nothing is created twice.",
            ),
        ] = None,
    ) -> IdempotentCreate:
        state = service_state(request)
        return IdempotentCreate(
            Idempotency(
                transaction,
                table,
                principal=str(principal.user_id),
                key=key,
                fingerprint=fingerprint_of(request.method, request.url.path, await request.body())
                if key is not None
                else b"",
                ttl=state.idempotency_ttl,
            )
        )

    return dependency
