"""`Consumer`: a consumer group's member, applying a stream's events exactly once in effect."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import Table, bindparam
from sqlalchemy.dialects.postgresql import insert

from servicekit.cache import ResponseCache
from servicekit.db import Database, Query, Transaction
from servicekit.events._event import Event, MalformedEvent
from servicekit.events._outage import unavailable
from servicekit.events._streams import dead_letter_stream
from servicekit.settings import EventSettings

__all__ = ["Consumer", "Delivery", "Handler", "Subscription", "consumer_name", "stats_key"]

_log = structlog.get_logger("servicekit.events")
_BLOCK_MS: Final = 1_000
"""How long a read waits for new entries: also how long a stop waits for a read."""
_BACKOFF: Final = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Delivery:
    """An event being applied, and what its handler may use."""

    event: Event
    transaction: Transaction
    """The handler's unit of work: the record that the event was applied is in it too,
    so the two commit together or not at all."""
    cache: ResponseCache
    """The service's response cache: forget what the handler changed, after the commit
    (``transaction.after_commit``)."""


Handler = Callable[[Delivery], Awaitable[None]]
"""Applies one event; raises to have it delivered again (then dead-lettered)."""


@dataclass(frozen=True)
class Subscription:
    """The events of ``stream`` a service applies, by type; other types are skipped."""

    stream: str
    handlers: Mapping[str, Handler] = field(default_factory=dict)


def consumer_name() -> str:
    """This process's name in its consumer groups: host and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


def stats_key(stream: str, group: str) -> str:
    """The Redis hash where the workers of ``group`` count what they did with ``stream``."""
    return f"events:stats:{stream}:{group}"


class Consumer:
    """A member of the consumer group ``group`` of ``subscription.stream``.

    - **Acknowledged after the commit.** Each event is applied in a transaction that also
      records its id in ``processed``; the entry is acknowledged once that commits. A
      crash before the acknowledgement leaves it pending: delivered again, it finds its
      record, changes nothing, and is acknowledged. Applied once in effect, however often
      delivered.
    - **Nothing abandoned.** An entry pending for ``retry_after`` seconds (its consumer
      died, or its handler failed) is claimed (``XAUTOCLAIM``) and delivered again.
    - **Poison goes aside.** After its handler has failed ``max_deliveries`` times, or at
      once if it is not an event at all, the entry goes to the dead-letter stream with the
      error, and the events after it flow on. The database or Redis being away is not the
      event's failure: the consumer pauses and the entry waits, however long it lasts.
    - **Stops cleanly.** When ``stop`` is set, the event being applied is finished and
      acknowledged, and nothing new is read.
    """

    def __init__(
        self,
        database: Database,
        redis: Redis,
        cache: ResponseCache,
        *,
        subscription: Subscription,
        group: str,
        processed: Table,
        settings: EventSettings,
        name: str | None = None,
    ) -> None:
        self.database = database
        self.redis = redis
        self.cache = cache
        self.stream = subscription.stream
        self.handlers = dict(subscription.handlers)
        self.group = group
        self.name = name or consumer_name()
        self.settings = settings
        self._record = Query(
            insert(processed)
            .values(consumer=bindparam("consumer"), event_id=bindparam("event_id"))
            .on_conflict_do_nothing()
            .returning(processed.c.event_id)
        )
        self._counts: dict[str, float] = {}
        self._claimed_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Apply events until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            try:
                await self.consume(stop)
                failures = 0
            except Exception as exc:  # never let the loop die: an outage passes, a bug is logged
                pause = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                log = _log.warning if unavailable(exc) else _log.exception
                log(
                    "event_consumer_failed",
                    stream=self.stream,
                    group=self.group,
                    error=str(exc) or type(exc).__name__,
                    retry_in=pause,
                )
                await asyncio.sleep(pause)
            await self.flush_stats()

    async def consume(self, stop: asyncio.Event | None = None) -> int:
        """One pass: claim abandoned entries, else read new ones, and apply them; how many
        were applied (or skipped as not for this group, or already applied)."""
        await self._ensure_group()
        entries = await self._claimed()
        if not entries:
            reply: Any = await self.redis.xreadgroup(
                self.group,
                self.name,
                {self.stream: ">"},
                count=self.settings.batch_size,
                block=_BLOCK_MS,
            )
            entries = [entry for _, stream_entries in reply or [] for entry in stream_entries]
        done = 0
        for entry_id, fields in entries:
            if stop is not None and stop.is_set():
                break  # left pending: claimed again after retry_after
            done += await self._apply(_text(entry_id), fields)
        return done

    async def _ensure_group(self) -> None:
        try:
            # From the stream's start: a group created late misses nothing still kept.
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _claimed(self) -> list[Any]:
        """Entries pending longer than ``retry_after`` in the group (any member's)."""
        now = time.monotonic()
        if now - self._claimed_at < self.settings.retry_after / 2:
            return []
        self._claimed_at = now
        reply = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=int(self.settings.retry_after * 1000),
            count=self.settings.batch_size,
        )
        claimed: list[Any] = reply[1]
        return claimed

    async def _apply(self, entry_id: str, fields: Mapping[Any, Any] | None) -> int:
        if not fields:  # deleted from the stream while pending: nothing to apply
            await self.redis.xack(self.stream, self.group, entry_id)
            return 0
        found = {_text(name): value for name, value in fields.items()}
        try:
            event = Event.decode(found.get("event", b""))
        except MalformedEvent as exc:
            await self._dead_letter(entry_id, found, error=str(exc), deliveries=1)
            return 0
        handler = self.handlers.get(event.type)
        if handler is None:
            await self.redis.xack(self.stream, self.group, entry_id)
            return 1
        started = time.perf_counter()
        try:
            async with self.database.transaction() as transaction:
                fresh = await transaction.one(self._record, consumer=self.group, event_id=event.id)
                if fresh is not None:
                    await handler(Delivery(event=event, transaction=transaction, cache=self.cache))
        except Exception as exc:
            if unavailable(exc):
                raise  # not the event's fault: it stays pending, tried again after a pause
            # The handler's, whatever it raised: the event is tried again, then set aside.
            self._count("failed")
            _log.warning(
                "event_handler_failed",
                stream=self.stream,
                group=self.group,
                event_id=str(event.id),
                type=event.type,
                error=f"{type(exc).__name__}: {exc}",
            )
            failures = await self._failed(entry_id)
            if failures >= self.settings.max_deliveries:
                await self._dead_letter(
                    entry_id, found, error=f"{type(exc).__name__}: {exc}", deliveries=failures
                )
            return 0
        await self.redis.xack(self.stream, self.group, entry_id)
        self._count("handled")
        self._count("seconds", time.perf_counter() - started)
        return 1

    async def _failed(self, entry_id: str) -> int:
        """Count one more failure of the handler on ``entry_id``; how many so far.

        Counted apart from Redis's delivery count, which also grows while the database
        is down: an outage must not send good events to the dead letters.
        """
        key = f"events:failures:{self.stream}:{self.group}:{entry_id}"
        async with self.redis.pipeline(transaction=True) as pipeline:
            pipeline.incr(key)
            pipeline.expire(key, self.settings.retention)
            failures, _ = await pipeline.execute()
        return int(failures)

    async def _dead_letter(
        self, entry_id: str, fields: Mapping[str, Any], *, error: str, deliveries: int
    ) -> None:
        """Move the entry to the dead-letter stream (with why), and acknowledge it."""
        async with self.redis.pipeline(transaction=True) as pipeline:
            pipeline.xadd(
                dead_letter_stream(self.stream),
                {
                    "type": fields.get("type", b""),
                    "event": fields.get("event", b""),
                    "group": self.group,
                    "consumer": self.name,
                    "error": error[:2000],
                    "deliveries": deliveries,
                    "original_id": entry_id,
                    "failed_at": int(time.time() * 1000),
                },
            )
            pipeline.xack(self.stream, self.group, entry_id)
            await pipeline.execute()
        self._count("dead_lettered")
        _log.error(
            "event_dead_lettered",
            stream=self.stream,
            group=self.group,
            entry=entry_id,
            deliveries=deliveries,
            error=error,
        )

    def _count(self, name: str, amount: float = 1) -> None:
        self._counts[name] = self._counts.get(name, 0) + amount

    async def flush_stats(self) -> None:
        """Add what this consumer did since the last flush to the group's counts in Redis
        (what ``/metrics`` of the service shows)."""
        if not self._counts:
            return
        counts, self._counts = self._counts, {}
        key = stats_key(self.stream, self.group)
        try:
            async with self.redis.pipeline(transaction=False) as pipeline:
                for name, amount in counts.items():
                    pipeline.hincrbyfloat(key, name, amount)
                await pipeline.execute()
        except (RedisError, OSError, TimeoutError):
            for name, amount in counts.items():
                self._count(name, amount)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
