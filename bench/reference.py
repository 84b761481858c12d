"""The raw reference: what Python can do here with no framework, middleware or auth.

A bare ASGI callable over an asyncpg pool (statements prepared and cached per
connection, no reset query when a connection returns to the pool) that renders
rows with orjson. It does the same database work as the items service, on the
same table, and answers with the same JSON shape:

    GET  /items/{id}                       200 item | 404
    GET  /cached/items/{id}                the same through a Redis GET of the ready bytes
                                           (a miss: the query, then SET EX 300)
    GET  /items/?limit=&skip= | &after=    200 [item, ...] in id order (offset or keyset)
    POST /items/ {"name", "description"}   201 item

Run by the harness as ``uvicorn bench.reference:app`` with ``BENCH_PG_DSN``,
``BENCH_REDIS_URL`` and ``BENCH_POOL_SIZE`` set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

import asyncpg
import orjson
from redis.asyncio import Redis

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_GET: Final = """
    SELECT id, name, description, owner_id, version, created_at, updated_at
    FROM items WHERE id = $1"""
_PAGE: Final = """
    SELECT id, name, description, owner_id, version, created_at, updated_at
    FROM items ORDER BY id LIMIT $1 OFFSET $2"""
_PAGE_AFTER: Final = """
    SELECT id, name, description, owner_id, version, created_at, updated_at
    FROM items WHERE id > $1 ORDER BY id LIMIT $2"""
_INSERT: Final = """
    INSERT INTO items (name, description, owner_id) VALUES ($1, $2, $3)
    RETURNING id, name, description, owner_id, version, created_at, updated_at"""
_OWNER: Final = uuid.UUID("00000000-0000-7000-8000-000000000001")
_JSON: Final = [(b"content-type", b"application/json")]

_state: dict[str, Any] = {}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    path: str = scope["path"]
    method: str = scope["method"]
    pool = _state["pool"]
    if path == "/items/" and method == "GET":
        await _list(pool, scope, send)
    elif path == "/items/" and method == "POST":
        await _create(pool, receive, send)
    elif path.startswith("/items/") and method == "GET" and path[7:].isdigit():
        row = await pool.fetchrow(_GET, int(path[7:]))
        if row is None:
            await _send(send, 404, b'{"detail":"Not Found"}')
        else:
            await _send(send, 200, _dumps(dict(row)))
    elif path.startswith("/cached/items/") and method == "GET" and path[14:].isdigit():
        await _cached_item(pool, _state["redis"], int(path[14:]), send)
    elif path == "/health/live":
        await _send(send, 200, b'{"status":"ok"}')
    else:
        await _send(send, 404, b'{"detail":"Not Found"}')


async def _cached_item(pool: asyncpg.Pool, redis: Redis, item_id: int, send: Send) -> None:
    key = f"reference:item:{item_id}"
    cached = await redis.get(key)
    body = cached if isinstance(cached, bytes) else None
    if body is None:
        row = await pool.fetchrow(_GET, item_id)
        if row is None:
            await _send(send, 404, b'{"detail":"Not Found"}')
            return
        body = _dumps(dict(row))
        await redis.set(key, body, ex=300)
    await _send(send, 200, body)


async def _list(pool: asyncpg.Pool, scope: Scope, send: Send) -> None:
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    limit = int(query.get("limit", 10))
    if "after" in query:
        rows = await pool.fetch(_PAGE_AFTER, int(query["after"]), limit)
    else:
        rows = await pool.fetch(_PAGE, limit, int(query.get("skip", 0)))
    await _send(send, 200, _dumps([dict(row) for row in rows]))


async def _create(pool: asyncpg.Pool, receive: Receive, send: Send) -> None:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    data = orjson.loads(body)
    row = await pool.fetchrow(_INSERT, data["name"], data.get("description"), _OWNER)
    await _send(send, 201, _dumps(dict(row or {})))


def _dumps(value: object) -> bytes:
    # asyncpg's UUID is its own type, which orjson does not know.
    return orjson.dumps(value, default=str)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            size = int(os.environ.get("BENCH_POOL_SIZE", "10"))
            _state["pool"] = await asyncpg.create_pool(
                os.environ["BENCH_PG_DSN"], min_size=size, max_size=size, reset=_no_reset
            )
            _state["redis"] = Redis.from_url(os.environ["BENCH_REDIS_URL"])
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _state.pop("pool").close()
            await _state.pop("redis").aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _no_reset(_: asyncpg.Connection) -> None:
    """Keep no session state, so skip asyncpg's ``RESET ALL`` on every release."""
