"""`ScriptBatcher`: the Lua scripts of concurrent callers, written together in batches."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from functools import lru_cache
from types import TracebackType
from typing import Any, Self

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from servicekit.redis._connection import Arg, ScriptCall, ScriptConnection, packed
from servicekit.redis._lua import LuaCall

__all__ = ["ScriptBatcher"]


class ScriptBatcher:
    """Runs Lua scripts for concurrent callers, a few writes per turn of the event loop.

    Every request of a busy service asks Redis something (its rate limit, its cache).
    The calls made while the loop runs its ready callbacks are queued, and written
    together as soon as ``max_batch`` of them are waiting, and the rest at the end of
    that turn. A full batch leaves at once so that Redis works on it while the app
    handles the rest of the turn, instead of both taking turns. Measured with ``make
    bench`` (``get_item_hot_clients``: a limit and a cache read per request), 16 (the
    default) against one batch per turn: when Redis shared a core with the load, the
    app's idle waits went (its CPU 93-98% from 71-93%) and the limit's cost fell from
    28-33% to 8-12%; when the app alone is the bottleneck, no difference either way.
    Batches go on a connection of the batcher's own that every
    batch shares without waiting for the others (`ScriptConnection`: replies come back
    in order, each to its caller). A process has one batcher, shared by every feature
    that asks Redis on the request path, so a request's own questions (its limit and
    its cache entry) share a round trip too. Scripts go by SHA (``EVALSHA``); one that
    Redis does not know yet (a first call, a restarted Redis) is sent again whole.

    A batch not answered within ``timeout`` seconds fails with `TimeoutError`, and so
    does everything else in flight on the connection, which is closed (a late reply
    could no longer be told from the next one's): a quarter of a second by default,
    far beyond a healthy Redis and short enough that a request whose features can do
    without Redis (`Outage`) is not held up for long. The next batch connects again,
    within as long.
    Close the batcher (`aclose`, or ``async with``) with the client it was made for.
    """

    def __init__(self, redis: Redis, *, timeout: float = 0.25, max_batch: int = 16) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.redis = redis
        self.timeout = timeout
        self.max_batch = max_batch
        self._queue: list[ScriptCall] = []
        self._turn_end_scheduled = False
        """Whether the end of this loop turn will send what is still queued."""
        self._connection: ScriptConnection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._waiting: list[ScriptCall] = []
        """Calls queued while the connection is being made."""
        self._closed = False
        self.batches = 0
        """Round trips made: batches written."""
        self.calls = 0
        """Scripts sent in them."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; calls still waiting, and any made later, fail."""
        self._closed = True
        error = RedisConnectionError("the script batcher is closed")
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self._connection is not None:
            self._connection.close(error)
        self._fail(self._waiting + self._queue, error)
        self._waiting, self._queue = [], []

    async def run(self, source: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """The reply of the script ``source`` on ``keys`` and ``args``."""
        return await self.submit(source, keys, args)

    def submit(self, source: str, keys: Sequence[str], args: Sequence[Arg]) -> asyncio.Future[Any]:
        """Queue the script now; its reply comes in the returned future.

        For a caller with two questions for Redis: submitted in the same turn of the
        loop, they travel in one round trip, whichever is awaited first (in one write,
        or in two following each other on the one connection when a batch fills up
        between them).
        """
        loop = asyncio.get_running_loop()
        call = ScriptCall(source, _sha(source), keys, args, loop.create_future())
        if not self._turn_end_scheduled:
            self._turn_end_scheduled = True
            loop.call_soon(self._send_at_turn_end)
        self._queue.append(call)
        if len(self._queue) >= self.max_batch:
            self._send_queued()
        return call.reply

    def call(self, call: LuaCall) -> None:
        """Send ``call`` alone (in this turn's batch), and settle it with its reply."""
        call.sent = True
        reply = self.submit(call.function.script, call.keys, call.args)
        reply.add_done_callback(lambda done: call.settle(done.exception() or done.result()))

    def _send_at_turn_end(self) -> None:
        self._turn_end_scheduled = False
        self._send_queued()

    def _send_queued(self) -> None:
        calls, self._queue = self._queue, []
        if not calls:  # the last batch of the turn filled up and left already
            return
        if self._closed:
            self._fail(calls, RedisConnectionError("the script batcher is closed"))
            return
        self.batches += 1
        self.calls += len(calls)
        connection = self._connection
        if connection is not None and not connection.closed:
            _write(connection, calls)
            return
        self._waiting += calls
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        try:
            connection = await ScriptConnection.open(self.redis, answer_within=self.timeout)
        except Exception as exc:
            self._fail(self._waiting, exc)
            self._waiting = []
            return
        finally:
            self._connecting = None
        self._connection = connection
        waiting, self._waiting = self._waiting, []
        # Those whose callers gave up meanwhile: Redis must not run them.
        _write(connection, [call for call in waiting if not call.reply.done()])

    @staticmethod
    def _fail(calls: Sequence[ScriptCall], error: BaseException) -> None:
        for call in calls:
            if not call.reply.done():
                call.reply.set_exception(error)


def _write(connection: ScriptConnection, calls: list[ScriptCall]) -> None:
    if not calls:
        return
    try:
        data = packed(calls)
    except TypeError:
        # An argument that cannot be sent (a bool, say) fails its own call, not the batch.
        sendable = []
        for call in calls:
            try:
                packed([call])
            except TypeError as exc:
                call.reply.set_exception(exc)
            else:
                sendable.append(call)
        calls, data = sendable, packed(sendable)
    connection.send(calls, data)


@lru_cache(maxsize=64)
def _sha(source: str) -> str:
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
