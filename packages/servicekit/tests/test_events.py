"""The outbox, the relay and consumer groups against real PostgreSQL and Redis.

Each test has a database of its own (events commit for real: the relay and consumers
use their own connections) and a clean Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.engine import make_url

from servicekit.cache import ResponseCache
from servicekit.db import Database, Query, Transaction, ensure_database, open_database
from servicekit.devstack import free_port
from servicekit.events import (
    Consumer,
    Delivery,
    Event,
    Relay,
    Subscription,
    dead_letter_stream,
    dead_letters,
    emit,
    notify_trigger,
    outbox_table,
    processed_events_table,
    replay_dead_letters,
    trim_acknowledged,
)
from servicekit.redis import ScriptBatcher
from servicekit.settings import CacheSettings, DatabaseSettings, EventSettings

STREAM = "test.events"
METADATA = MetaData()
OUTBOX = outbox_table(METADATA)
PROCESSED = processed_events_table(METADATA)
EFFECTS = Table(
    "effects",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
)
_APPLY = Query(insert(EFFECTS).values(event_id=bindparam("event_id")))
_databases = itertools.count(1)


def _settings(**changes: Any) -> EventSettings:
    return EventSettings(
        **({"retry_after": 0.2, "max_deliveries": 3, "poll_interval": 0.1} | changes)
    )


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    """A database of this test's own with an outbox, processed events and effects."""
    name = f"events_test_{next(_databases)}"
    await ensure_database(postgres_url, name, fresh=True)
    url = make_url(postgres_url).set(drivername="postgresql+asyncpg", database=name)
    async with open_database(
        DatabaseSettings(url=url.render_as_string(hide_password=False)), application_name="events"
    ) as opened:
        async with opened.engine.begin() as connection:
            await connection.run_sync(METADATA.create_all)
            for statement in notify_trigger("outbox")[0]:
                await connection.exec_driver_sql(statement)
        yield opened


async def _emit_committed(
    database: Database, count: int, type: str = "thing.happened"
) -> list[Event]:
    events = []
    for number in range(count):
        async with database.transaction() as transaction:
            events.append(await emit(transaction, OUTBOX, type, {"n": number}))
    return events


async def _published(redis: Redis, *, within: float) -> None:
    """Wait until the stream has an entry (at most ``within`` seconds)."""
    for _ in range(int(within * 100)):
        if await redis.xlen(STREAM):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nothing published within {within} s")


async def _stream_events(redis: Redis) -> list[Event]:
    entries: Any = await redis.xrange(STREAM)
    return [Event.decode(fields[b"event"]) for _, fields in entries]


async def _effects(database: Database) -> list[str]:
    rows = await database.reader.all(Query(select(EFFECTS.c.event_id).order_by(EFFECTS.c.id)))
    return [row["event_id"] for row in rows]


async def _apply(delivery: Delivery) -> None:
    await delivery.transaction.execute(_APPLY, event_id=str(delivery.event.id))


def _consumer(
    database: Database,
    redis: Redis,
    handlers: dict[str, Callable[[Delivery], Any]] | None = None,
    *,
    name: str = "one",
    **settings: Any,
) -> Consumer:
    return Consumer(
        database,
        redis,
        ResponseCache.configured(ScriptBatcher(redis), CacheSettings(), service="test"),
        subscription=Subscription(STREAM, handlers or {"thing.happened": _apply}),
        group="tests",
        processed=PROCESSED,
        settings=_settings(**settings),
        name=name,
    )


async def _drain(consumer: Consumer, *, seconds: float = 5.0) -> None:
    """Consume until the group has nothing pending or undelivered."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await consumer.consume()
        groups = await consumer.redis.xinfo_groups(STREAM)
        if all(int(g["pending"]) == 0 and int(g.get("lag") or 0) == 0 for g in groups):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the consumer did not drain the stream")


class TestOutboxAndRelay:
    async def test_a_rolled_back_change_emits_nothing(
        self, database: Database, redis: Redis
    ) -> None:
        async def fails_after_its_event() -> None:
            async with database.transaction() as transaction:
                await emit(transaction, OUTBOX, "thing.happened", {"n": 1})
                raise RuntimeError("the change failed after its event was written")

        with pytest.raises(RuntimeError):
            await fails_after_its_event()

        published = await Relay(
            database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()
        ).publish()

        assert published == 0
        assert await redis.xlen(STREAM) == 0

    async def test_committed_events_are_published_once_in_order(
        self, database: Database, redis: Redis
    ) -> None:
        events = await _emit_committed(database, 5)
        relay = Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings())

        first, again = await relay.publish(), await relay.publish()

        assert (first, again) == (5, 0)
        published = await _stream_events(redis)
        assert [event.id for event in published] == [event.id for event in events]
        assert published[0].envelope().keys() >= {"id", "type", "occurred_at", "data"}
        assert published[0].data == {"n": 0}
        unpublished = await database.reader.one(
            Query(select(OUTBOX.c.id).where(OUTBOX.c.published_at.is_(None)))
        )
        assert unpublished is None

    async def test_a_commit_wakes_the_relay_at_once(self, database: Database, redis: Redis) -> None:
        relay = Relay(
            database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings(poll_interval=30)
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.sleep(0.3)  # listening, and asleep for 30 s
            started = time.monotonic()
            await _emit_committed(database, 1)
            await _published(redis, within=5)
            took = time.monotonic() - started
        finally:
            stop.set()
            await running

        assert await redis.xlen(STREAM) == 1
        assert took < 2  # woken by NOTIFY, not by its 30 s poll

    async def test_two_relays_never_publish_the_same_rows(
        self, database: Database, redis: Redis
    ) -> None:
        await _emit_committed(database, 200)
        relays = [
            Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings(batch_size=10))
            for _ in range(2)
        ]

        async def drain(relay: Relay) -> None:
            while await relay.publish():
                pass

        await asyncio.gather(*(drain(relay) for relay in relays))

        ids = [event.id for event in await _stream_events(redis)]
        assert len(ids) == len(set(ids)) == 200
        assert all(relay.published > 0 for relay in relays)

    async def test_killed_between_publish_and_mark_the_duplicate_is_applied_once(
        self, database: Database, redis: Redis
    ) -> None:
        class KilledBeforeMarking(Relay):
            async def _marked(self, transaction: Transaction, ids: list[int]) -> None:
                raise asyncio.CancelledError  # the process dies here

        events = await _emit_committed(database, 3)
        with pytest.raises(asyncio.CancelledError):
            await KilledBeforeMarking(
                database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()
            ).publish()
        republished = await Relay(
            database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()
        ).publish()
        consumer = _consumer(database, redis)

        await _drain(consumer)

        assert republished == 3
        assert await redis.xlen(STREAM) == 6  # each event twice in the stream
        assert sorted(await _effects(database)) == sorted(str(e.id) for e in events)


class TestConsumers:
    async def test_each_event_is_applied_and_acknowledged(
        self, database: Database, redis: Redis
    ) -> None:
        events = await _emit_committed(database, 10)
        await Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()).publish()

        await _drain(_consumer(database, redis))

        assert await _effects(database) == [str(event.id) for event in events]

    async def test_a_consumer_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
        self, database: Database, redis: Redis
    ) -> None:
        events = await _emit_committed(database, 10)
        await Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()).publish()
        applied = 0

        async def dies_at_the_fourth(delivery: Delivery) -> None:
            nonlocal applied
            await _apply(delivery)
            applied += 1
            if applied == 4:
                raise asyncio.CancelledError  # killed inside the fourth's transaction

        doomed = _consumer(database, redis, {"thing.happened": dies_at_the_fourth}, name="doomed")
        with pytest.raises(asyncio.CancelledError):
            await doomed.consume()
        survivor = _consumer(database, redis, name="survivor")
        await asyncio.sleep(0.25)  # the dead consumer's entries idle past retry_after

        await _drain(survivor)

        assert sorted(await _effects(database)) == sorted(str(e.id) for e in events)
        assert len(await _effects(database)) == 10

    async def test_a_poison_message_goes_to_the_dead_letters_while_later_events_flow(
        self, database: Database, redis: Redis
    ) -> None:
        async def refuse(delivery: Delivery) -> None:
            raise ValueError(f"cannot apply {delivery.event.data}")

        good = await _emit_committed(database, 1)
        await _emit_committed(database, 1, type="thing.poisoned")
        later = await _emit_committed(database, 2)
        await Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()).publish()
        await redis.xadd(STREAM, {"event": b"not json at all"})
        consumer = _consumer(database, redis, {"thing.happened": _apply, "thing.poisoned": refuse})

        await _drain(consumer)

        assert await _effects(database) == [str(e.id) for e in [*good, *later]]
        letters = await dead_letters(redis, STREAM)
        assert [letter.type for letter in letters] == ["", "thing.poisoned"]
        garbage, poisoned = letters
        assert garbage.deliveries == 1
        assert "not an event envelope" in garbage.error
        assert poisoned.deliveries == 3
        assert "ValueError: cannot apply {'n': 0}" in poisoned.error
        assert poisoned.group == "tests"

    async def test_dead_letters_replayed_are_applied_once_fixed(
        self, database: Database, redis: Redis
    ) -> None:
        async def refuse(delivery: Delivery) -> None:
            raise ValueError("not yet")

        await _emit_committed(database, 2)
        await Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()).publish()
        await _drain(_consumer(database, redis, {"thing.happened": refuse}))
        assert len(await dead_letters(redis, STREAM)) == 2

        replayed = await replay_dead_letters(redis, STREAM)
        await _drain(_consumer(database, redis))

        assert replayed == 2
        assert len(await _effects(database)) == 2
        assert await redis.xlen(dead_letter_stream(STREAM)) == 0

    async def test_types_without_a_handler_are_acknowledged_and_skipped(
        self, database: Database, redis: Redis
    ) -> None:
        await _emit_committed(database, 3, type="thing.unknown")
        await Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()).publish()

        await _drain(_consumer(database, redis))

        assert await _effects(database) == []
        assert await dead_letters(redis, STREAM) == []

    async def test_stopping_finishes_the_event_under_way(
        self, database: Database, redis: Redis
    ) -> None:
        events = await _emit_committed(database, 3)
        await Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()).publish()
        stop = asyncio.Event()

        async def slow(delivery: Delivery) -> None:
            stop.set()  # asked to stop while this one is being applied
            await asyncio.sleep(0.2)
            await _apply(delivery)

        await _consumer(database, redis, {"thing.happened": slow}).run(stop)

        assert await _effects(database) == [str(events[0].id)]
        groups = await redis.xinfo_groups(STREAM)
        # The first was acknowledged; the others wait, pending, for a consumer.
        assert int(groups[0]["pending"]) == 2


class TestOutages:
    async def test_a_database_that_is_away_sends_no_event_to_the_dead_letters(
        self, database: Database, redis: Redis
    ) -> None:
        events = await _emit_committed(database, 1)
        await Relay(database, redis, outbox=OUTBOX, stream=STREAM, settings=_settings()).publish()
        away = DatabaseSettings(
            url=f"postgresql://nobody:secret@127.0.0.1:{free_port()}/nothing", connect_timeout=0.5
        )
        async with open_database(away, application_name="events") as unreachable:
            cut_off = _consumer(unreachable, redis)
            for _ in range(5):  # more tries than max_deliveries, each after retry_after
                with pytest.raises(ConnectionRefusedError):
                    await cut_off.consume()
                await asyncio.sleep(0.25)

        assert await dead_letters(redis, STREAM) == []
        await _drain(_consumer(database, redis))
        assert await _effects(database) == [str(events[0].id)]

    async def test_a_relay_outlives_redis_going_away(self, database: Database) -> None:
        await _emit_committed(database, 2)
        away = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
        relay = Relay(database, away, outbox=OUTBOX, stream=STREAM, settings=_settings())
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.sleep(0.5)
            alive = not running.done()
        finally:
            stop.set()
            await running
            await away.aclose()

        assert alive
        backlog = await database.reader.one(
            Query(select(OUTBOX.c.id).where(OUTBOX.c.published_at.is_(None)))
        )
        assert backlog is not None  # still there, for when Redis is back


class TestTrimming:
    async def test_nothing_a_group_has_not_acknowledged_is_trimmed(self, redis: Redis) -> None:
        ids = [await redis.xadd(STREAM, {"n": n}) for n in range(6)]
        await redis.xgroup_create(STREAM, "slow", id="0")
        await redis.xgroup_create(STREAM, "fast", id="0")
        await redis.xreadgroup("fast", "f", {STREAM: ">"}, count=6)
        await redis.xack(STREAM, "fast", *ids)
        read: Any = await redis.xreadgroup("slow", "s", {STREAM: ">"}, count=4)
        await redis.xack(STREAM, "slow", *[entry_id for entry_id, _ in read[0][1][:2]])
        await asyncio.sleep(0.01)  # every entry older than "now"

        removed = await trim_acknowledged(redis, STREAM, older_than=timedelta(0))

        assert removed == 2  # the two both groups acknowledged; "slow" has two pending
        remaining: Any = await redis.xrange(STREAM)
        assert [entry_id for entry_id, _ in remaining] == ids[2:]

    async def test_a_missing_stream_is_nothing_to_trim(self, redis: Redis) -> None:
        assert await trim_acknowledged(redis, "no.such.stream", older_than=timedelta(0)) == 0


async def test_the_envelope_round_trips(redis: Redis) -> None:
    event = Event(type="user.deleted", data={"id": str(uuid.uuid4())})

    assert Event.decode(event.encode()) == event
    assert set(event.envelope()) == {"id", "type", "occurred_at", "data", "schema_version", "trace"}
