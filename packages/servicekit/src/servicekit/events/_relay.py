"""`Relay`: the outbox, published to the service's Redis stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import structlog
from redis.asyncio import Redis
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.engine import make_url

from servicekit.db import Database, Query
from servicekit.events._event import Event
from servicekit.events._outage import unavailable
from servicekit.events._streams import trim_acknowledged
from servicekit.events._tables import NOTIFY_CHANNEL
from servicekit.settings import EventSettings

__all__ = ["Relay"]

_log = structlog.get_logger("servicekit.events")
_MAINTAIN_EVERY: Final = 60.0
"""Seconds between deletions of old published rows and trims of the stream."""
_BACKOFF: Final = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Relay:
    """Moves committed events from the outbox to the stream ``stream``.

    - **At least once.** A batch of unpublished rows is read and locked (``FOR UPDATE
      SKIP LOCKED``, so several relays share the work and never the same rows), added to
      the stream (one pipelined round trip), then marked published in the same
      transaction. Killed between the two, the rows are published again by the next
      relay: consumers deduplicate by event id.
    - **In order.** Rows go out in ``id`` order, which is the order their transactions
      wrote them; two transactions that commit in the other order than they wrote can
      see their events swap places in the stream, so per-entity order is carried in the
      events themselves (a version).
    - **Prompt.** A commit that wrote to the outbox notifies (``LISTEN``/``NOTIFY``) and
      wakes the relay at once; without a notification (a lost listening connection),
      it looks every ``poll_interval`` seconds anyway.
    - **Bounded.** Published rows older than ``retention`` are deleted, and the stream
      is trimmed to what every consumer group has acknowledged, and is that old.
    """

    def __init__(
        self,
        database: Database,
        redis: Redis,
        *,
        outbox: Table,
        stream: str,
        settings: EventSettings,
    ) -> None:
        self.database = database
        self.redis = redis
        self.stream = stream
        self.settings = settings
        self.published = 0
        """Events added to the stream (duplicates after a crash included)."""
        self._pending = Query(
            select(
                outbox.c.id,
                outbox.c.event_id,
                outbox.c.type,
                outbox.c.occurred_at,
                outbox.c.data,
                outbox.c.schema_version,
                outbox.c.trace,
            )
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(bindparam("batch"))
            .with_for_update(skip_locked=True)
        )
        self._mark = Query(
            update(outbox)
            .where(outbox.c.id == func.any(bindparam("ids")))
            .values(published_at=func.now())
        )
        self._forget = Query(delete(outbox).where(outbox.c.published_at < bindparam("before")))
        self._wake = asyncio.Event()

    async def publish(self) -> int:
        """Publish one batch of unpublished events; how many."""
        async with self.database.transaction() as transaction:
            rows = await transaction.all(self._pending, batch=self.settings.batch_size)
            if not rows:
                return 0
            async with self.redis.pipeline(transaction=False) as pipeline:
                for row in rows:
                    pipeline.xadd(self.stream, {"type": row["type"], "event": _envelope(row)})
                await pipeline.execute()
            await self._marked(transaction, [row["id"] for row in rows])
        self.published += len(rows)
        return len(rows)

    async def _marked(self, transaction: Any, ids: list[int]) -> None:
        """Mark ``ids`` published (a crash before this publishes them again)."""
        await transaction.execute(self._mark, ids=ids)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; a batch under way is finished first."""
        async with self._listening():
            maintained = time.monotonic()
            failures = 0
            while not stop.is_set():
                try:
                    published = await self.publish()
                    failures = 0
                except Exception as exc:  # never let the relay die: an outage passes
                    pause = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                    failures += 1
                    log = _log.warning if unavailable(exc) else _log.exception
                    log("outbox_relay_failed", error=str(exc) or type(exc).__name__, retry_in=pause)
                    await _wait(stop, pause)
                    continue
                if time.monotonic() - maintained > _MAINTAIN_EVERY:
                    await self.maintain()
                    maintained = time.monotonic()
                if published < self.settings.batch_size:
                    self._wake.clear()
                    await _wait(stop, self.settings.poll_interval, self._wake)

    async def maintain(self) -> None:
        """Delete published rows past their retention; trim what every group has read."""
        retention = timedelta(seconds=self.settings.retention)
        try:
            async with self.database.transaction() as transaction:
                await transaction.execute(self._forget, before=datetime.now(UTC) - retention)
            await trim_acknowledged(self.redis, self.stream, older_than=retention)
        except Exception as exc:  # tried again in a minute
            log = _log.warning if unavailable(exc) else _log.exception
            log("outbox_maintenance_failed", error=str(exc) or type(exc).__name__)

    @contextlib.asynccontextmanager
    async def _listening(self) -> Any:
        """A connection of its own that listens for commits to the outbox (if it can)."""
        url = make_url(self.database.engine.url).set(drivername="postgresql")
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(url.render_as_string(hide_password=False))
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError) as exc:
            _log.warning(
                "outbox_listen_failed", error=str(exc), polling_every=self.settings.poll_interval
            )
        try:
            yield
        finally:
            if connection is not None:
                await connection.close()


def _envelope(row: Any) -> bytes:
    return Event(
        type=row["type"],
        data=row["data"],
        id=row["event_id"],
        occurred_at=row["occurred_at"],
        schema_version=row["schema_version"],
        trace=row["trace"],
    ).encode()


async def _wait(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleep ``seconds``, or less if ``stop`` (or ``wake``) is set meanwhile."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
