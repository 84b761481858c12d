"""`Idempotency`: a create route that runs once per key, and answers retries from memory."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import orjson
from sqlalchemy import Table, bindparam, delete, func, insert, select

from servicekit.db import Query, Transaction
from servicekit.errors import BadRequest, Conflict, UnprocessableContent

__all__ = ["Idempotency", "StoredResponse", "advisory_lock_id", "fingerprint_of"]

MAX_KEY_LENGTH: Final = 255
_REPLAYED_HEADERS: Final = ("content-type", "location", "etag")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to a key: what a retry gets back."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Idempotency:
    """The ``Idempotency-Key`` of one request (IETF draft, Stripe's semantics).

    `run` executes the route the first time a principal sends a key and stores the
    response with it, in the request's transaction: the item and its key are
    committed together or not at all. A retry with the same key and the same body
    gets that response again, and nothing runs; the same key with another body is
    a 422; a retry while the first is still running is a 409. Keys expire after
    ``ttl``. Without the header, `run` just runs the route.
    """

    def __init__(
        self,
        transaction: Transaction,
        table: Table,
        *,
        principal: str,
        key: str,
        fingerprint: bytes,
        ttl: timedelta,
    ) -> None:
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise BadRequest(f"An Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters.")
        self.transaction = transaction
        self.principal = principal
        self.key = key
        self.fingerprint = fingerprint
        self.ttl = ttl
        self._queries = _queries(table)

    async def run(
        self, respond: Callable[[], Awaitable[StoredResponse]]
    ) -> tuple[StoredResponse, bool]:
        """The route's response, and whether it is a replay of the first one."""
        stored = await self._claim()
        if stored is not None:
            return stored, True
        response = await respond()
        await self.transaction.execute(
            self._queries.record,
            principal=self.principal,
            key=self.key,
            fingerprint=self.fingerprint,
            status=response.status,
            headers=orjson.dumps(
                {k: v for k, v in response.headers.items() if k.lower() in _REPLAYED_HEADERS}
            ),
            body=response.body,
            expires_at=datetime.now(UTC) + self.ttl,
        )
        return response, False

    async def _claim(self) -> StoredResponse | None:
        """The stored response of this key; None if this request is the one to run."""
        lock = advisory_lock_id(self.principal, self.key)
        held = await self.transaction.one(self._queries.try_lock, lock=lock)
        if held is None or not held["locked"]:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry later."
            )
        # Expired keys of this principal go first: this one too, if it is.
        await self.transaction.execute(self._queries.expire, principal=self.principal)
        row = await self.transaction.one(self._queries.find, principal=self.principal, key=self.key)
        if row is None:
            return None
        if bytes(row["fingerprint"]) != self.fingerprint:
            raise UnprocessableContent(
                "This Idempotency-Key was used with another request body.", errors=[]
            )
        return StoredResponse(row["status"], orjson.loads(row["headers"]), bytes(row["body"]))


@dataclass(frozen=True, slots=True)
class _Queries:
    try_lock: Query
    expire: Query
    find: Query
    record: Query


_CACHE: dict[str, _Queries] = {}


def _queries(table: Table) -> _Queries:
    """The statements on ``table``, compiled once per table."""
    found = _CACHE.get(table.fullname)
    if found is None:
        columns = table.c
        found = _CACHE[table.fullname] = _Queries(
            try_lock=Query(
                select(func.pg_try_advisory_xact_lock(bindparam("lock")).label("locked"))
            ),
            expire=Query(
                delete(table).where(
                    columns.principal == bindparam("principal"),
                    columns.expires_at < func.now(),
                )
            ),
            find=Query(
                select(columns.fingerprint, columns.status, columns.headers, columns.body).where(
                    columns.principal == bindparam("principal"), columns.key == bindparam("key")
                )
            ),
            record=Query(
                insert(table).values(
                    principal=bindparam("principal"),
                    key=bindparam("key"),
                    fingerprint=bindparam("fingerprint"),
                    status=bindparam("status"),
                    headers=bindparam("headers"),
                    body=bindparam("body"),
                    expires_at=bindparam("expires_at"),
                )
            ),
        )
    return found


def advisory_lock_id(principal: str, key: str) -> int:
    """The PostgreSQL advisory lock a request holds while it runs for (principal, key)."""
    digest = hashlib.blake2b(f"idempotency\0{principal}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def fingerprint_of(method: str, path: str, body: bytes) -> bytes:
    """What makes two requests the same request: method, path and body."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()
