"""`ResponseCache`: ready-to-send responses in Redis, read through, coherent with writes."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import orjson
from pydantic import BaseModel
from redis.exceptions import RedisError

from servicekit.cache._scripts import FILL, INVALIDATE, READ
from servicekit.redis import LuaCall, Outage, ScriptBatcher
from servicekit.settings import CacheSettings

__all__ = ["CachedResponse", "Lookup", "ResponseCache", "representation"]

_SEPARATOR: Final = b"\n"
_LOCK_MS: Final = 2_000
"""How long an instance may hold a key's load lock (a load that outlives it is not harmful)."""
_WAIT_FOR_OTHER: Final = (0.005, 0.01, 0.02, 0.04, 0.08)
"""Pauses while another instance loads the same key: 155 ms in all, then load anyway."""
_GENERATION_MS: Final = 60_000
"""How long an invalidation is remembered: far longer than any load takes."""


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A response as it is sent: its ``ETag`` and its body."""

    etag: bytes
    body: bytes

    def encode(self) -> bytes:
        """One value for Redis (an ETag never holds a newline)."""
        return self.etag + _SEPARATOR + self.body

    @classmethod
    def decode(cls, value: bytes) -> CachedResponse | None:
        """The response stored as ``value``; None for a cached absence (404)."""
        if not value:
            return None
        etag, _, body = value.partition(_SEPARATOR)
        return cls(etag, body)


Loader = Callable[[], Awaitable[CachedResponse | None]]

_LOOKED_UP_MISS: ContextVar[tuple[str, bytes, int] | None] = ContextVar(
    "looked_up_miss", default=None
)
"""The miss a `Lookup` found for this request (entry, generation, lock held): `get` goes
on from it instead of asking Redis again."""


class ResponseCache:
    """A read-through cache of responses in Redis: a hit is one round trip, no query.

    - **Stampedes**: on a miss, one request per key and instance loads (the others
      await it), and a short lock in Redis keeps other instances from loading the
      same key at the same time: they wait up to 155 ms for its value, then load.
    - **Coherence**: `invalidate` after a write commits. A read that missed before the
      write and filled after it would bring back the old row; each entry carries a
      generation that invalidation moves on, and a fill is taken only at the
      generation its miss saw.
    - **Absence**: a load that finds nothing (404) is cached for ``absent_ttl``.
    - **TTL**: ``ttl`` seconds, ±10% at random so that entries filled together do not
      expire together.
    - **Redis away or slow**: reads go to the loader (the database), counted and
      logged once per outage, never an error; invalidations that could not be sent
      are sent again when Redis answers.

    Keys are ``<namespace>:<kind>:<id>``; the namespace names the service and the
    version of the representation, so that a new release never reads old bytes.
    """

    def __init__(
        self,
        scripts: ScriptBatcher,
        *,
        namespace: str,
        ttl: float = 300,
        absent_ttl: float = 5,
        enabled: bool = True,
    ) -> None:
        self.namespace = namespace
        self.ttl = ttl
        self.absent_ttl = absent_ttl
        self.enabled = enabled
        self._scripts = scripts
        self._outage = Outage("cache")
        self._loading: dict[str, asyncio.Future[CachedResponse | None]] = {}
        self._unsent_invalidations: set[str] = set()
        self.counts: Counter[str] = Counter()
        """hit, miss, error, stampede_wait, stale_fill_refused."""

    @classmethod
    def configured(
        cls, scripts: ScriptBatcher, settings: CacheSettings, *, service: str
    ) -> ResponseCache:
        """The response cache of the service ``service``, as ``settings`` say: every process
        of the service (API and worker) builds the same one, so they share its entries."""
        return cls(
            scripts,
            namespace=f"{service}:cache",
            ttl=settings.ttl,
            absent_ttl=settings.absent_ttl,
            enabled=settings.enabled,
        )

    async def get(self, kind: str, key: str, load: Loader) -> CachedResponse | None:
        """The cached response of ``kind`` ``key``, else what ``load`` returns (then cached)."""
        if not self.enabled:
            return await load()
        name = f"{self.namespace}:{kind}:{key}"
        waiting = self._loading.get(name)
        if waiting is not None:
            self.counts["stampede_wait"] += 1
            return await asyncio.shield(waiting)
        loaded = asyncio.get_running_loop().create_future()
        self._loading[name] = loaded
        try:
            response = await self._read_through(name, load)
        except BaseException as exc:
            loaded.set_exception(exc)
            loaded.exception()  # retrieved: nobody may be waiting
            raise
        else:
            loaded.set_result(response)
            return response
        finally:
            del self._loading[name]

    def lookup(self, kind: str, key: str) -> Lookup | None:
        """A read of ``kind`` ``key`` for a caller that sends a hit itself (the middleware,
        before routing); None when there is nothing to read (switched off, Redis away,
        or a load of it under way here, which `get` joins).

        The read is a `LuaCall` that another script may carry (the rate limit's, so the
        request asks Redis once); `Lookup.response` sends it if nobody has. A miss it
        finds is kept for this request's `get`, which then needs no second Redis call.
        """
        if not self.enabled:
            return None
        name = f"{self.namespace}:{kind}:{key}"
        if name in self._loading:
            return None
        if self._outage.ongoing:
            self.counts["error"] += 1
            return None
        return Lookup(self, name, key, LuaCall(READ, [name, name + ":lock"], [_LOCK_MS]))

    async def invalidate(self, kind: str, key: str) -> None:
        """Forget ``kind`` ``key`` everywhere (call it after the write has committed)."""
        if self.enabled:
            await self._invalidate(f"{self.namespace}:{kind}:{key}")

    async def _read_through(self, name: str, load: Loader) -> CachedResponse | None:
        missed = _LOOKED_UP_MISS.get()
        reply: Any
        if missed is not None and missed[0] == name:
            _LOOKED_UP_MISS.set(None)
            reply = [0, missed[1], missed[2]]
        else:
            reply = await self._run(READ.script, [name, name + ":lock"], [_LOCK_MS])
        if reply is None:
            return await load()
        if reply[0]:
            self.counts["hit"] += 1
            return CachedResponse.decode(reply[1])
        generation, locked = reply[1], reply[2]
        if not locked:
            found = await self._wait_for_other(name)
            if found is not None:
                return CachedResponse.decode(found)
        self.counts["miss"] += 1
        response = await load()
        ttl = self.ttl if response is not None else self.absent_ttl
        value = response.encode() if response is not None else b""
        filled = await self._run(
            FILL,
            [name, name + ":lock"],
            [generation, value, int(ttl * 1000 * random.uniform(0.9, 1.1))],  # noqa: S311 -- jitter
        )
        if filled == 0:
            self.counts["stale_fill_refused"] += 1
        return response

    async def _wait_for_other(self, name: str) -> bytes | None:
        """The value another instance is loading, if it comes within a moment."""
        self.counts["stampede_wait"] += 1
        for pause in _WAIT_FOR_OTHER:
            await asyncio.sleep(pause)
            reply = await self._run(READ.script, [name, name + ":lock"], [_LOCK_MS])
            if reply is None:
                return None
            if reply[0]:
                self.counts["hit"] += 1
                value: bytes = reply[1]
                return value
            if reply[2]:
                return None  # the other gave up; this one holds the lock now
        return None

    async def _invalidate(self, name: str) -> None:
        if await self._run(INVALIDATE, [name], [_GENERATION_MS]) is None:
            self._unsent_invalidations.add(name)

    async def _run(
        self, script: str, keys: list[str], args: list[str | int | float | bytes]
    ) -> Any:
        """The script's reply; None (counted) when Redis cannot be asked."""
        if self._outage.ongoing:
            self.counts["error"] += 1
            return None
        return await self._answer(self._scripts.submit(script, keys, args))

    async def _answer(self, reply: asyncio.Future[Any]) -> Any:
        """What Redis answered to a script sent; None (counted, logged) if it failed."""
        try:
            answer = await reply
        except (RedisError, OSError, TimeoutError) as exc:
            self.counts["error"] += 1
            self._outage.failed(exc, meanwhile="reads from the database, uncached")
            return None
        self._outage.answered()
        if self._unsent_invalidations:
            await self._resend_invalidations()
        return answer

    async def _resend_invalidations(self) -> None:
        unsent, self._unsent_invalidations = self._unsent_invalidations, set()
        for name in unsent:
            await self._invalidate(name)


def representation(model: type[BaseModel]) -> str:
    """A digest of ``model``'s JSON schema: it changes when what clients get changes."""
    schema = orjson.dumps(model.model_json_schema(), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(schema, digest_size=4).hexdigest()


class Lookup:
    """A read of one entry by `ResponseCache.lookup`, answered by `response`."""

    __slots__ = ("_cache", "_name", "call", "key")

    def __init__(self, cache: ResponseCache, name: str, key: str, call: LuaCall) -> None:
        self._cache = cache
        self._name = name
        self.key = key
        """The key looked up (of the kind the lookup was for)."""
        self.call = call
        """The read, for a script that carries it (`servicekit.redis.chained`)."""

    async def response(self) -> CachedResponse | None:
        """The cached response, or None: a miss (kept for this request's `get`), a cached
        absence (which `get` answers too), or Redis failing. Sends the read if nobody has."""
        if not self.call.sent:
            self._cache._scripts.call(self.call)
        elif self.call.reply.cancelled():  # it rode with a refused request's limit
            return None
        reply = await self._cache._answer(self.call.reply)
        if reply is None:
            return None
        if reply[0]:
            cached = CachedResponse.decode(reply[1])
            if cached is not None:
                self._cache.counts["hit"] += 1
            return cached
        _LOOKED_UP_MISS.set((self._name, reply[1], reply[2]))
        return None
