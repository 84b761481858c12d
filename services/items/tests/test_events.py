"""Items' events through HTTP: every committed change is published and consumed once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from item_factories import Caller
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy import func, select

from items.database import OUTBOX, PROCESSED_EVENTS
from items.events import EVENTS
from items.main import create_app
from items.models import MIGRATIONS
from items.settings import ItemsSettings
from servicekit.cache import ResponseCache
from servicekit.db import Database, Query, open_database
from servicekit.events import Consumer, Delivery, Event, Relay, Subscription
from servicekit.settings import CacheSettings, DatabaseSettings, EventSettings
from servicekit.testing import Batchers, TokenFactory, app_client, prepare_database


@pytest.fixture
async def committing(
    settings: ItemsSettings, postgres_url: str, redis: Redis
) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The service on a database of its own, committing for real, and that database."""
    url = await prepare_database(postgres_url, "items_events_test", migrations=MIGRATIONS)
    own = settings.model_copy(update={"database": DatabaseSettings(url=url)})
    async with (
        app_client(create_app(own)) as client,
        open_database(own.database, application_name="items-tests") as database,
    ):
        yield client, database


async def test_a_thousand_concurrent_creates_are_a_thousand_events_consumed_once(
    committing: tuple[httpx.AsyncClient, Database],
    redis: Redis,
    batchers: Batchers,
    token_factory: TokenFactory,
) -> None:
    client, database = committing
    owners = [Caller(token_factory) for _ in range(20)]

    responses = await asyncio.gather(
        *(
            client.post("/items/", json={"name": f"Lamp {n}"}, headers=owners[n % 20].headers)
            for n in range(1000)
        )
    )
    created = {response.json()["id"] for response in responses if response.status_code == 201}
    relay = Relay(database, redis, outbox=OUTBOX, stream=EVENTS.stream, settings=EventSettings())
    while await relay.publish():
        pass
    seen: list[Event] = []

    async def audit(delivery: Delivery) -> None:
        seen.append(delivery.event)

    consumer = Consumer(
        database,
        redis,
        ResponseCache.configured(batchers(redis), CacheSettings(), service="items"),
        subscription=Subscription(EVENTS.stream, {"item.created": audit}),
        group="audit",
        processed=PROCESSED_EVENTS,
        settings=EventSettings(retry_after=0.5),
    )
    deadline = time.monotonic() + 30
    while len(seen) < 1000 and time.monotonic() < deadline:
        await consumer.consume()

    assert len(created) == 1000
    assert {event.data["id"] for event in seen} == created
    assert len({event.id for event in seen}) == 1000
    assert {event.data["version"] for event in seen} == {1}
    backlog = await database.reader.one(
        Query(select(func.count()).where(OUTBOX.c.published_at.is_(None)))
    )
    assert backlog is not None
    assert backlog[0] == 0
    (group,) = await redis.xinfo_groups(EVENTS.stream)
    assert (int(group["pending"]), int(group["lag"])) == (0, 0)


async def test_changes_and_deletions_carry_the_version(
    committing: tuple[httpx.AsyncClient, Database], redis: Redis, token_factory: TokenFactory
) -> None:
    client, database = committing
    owner = Caller(token_factory)
    item = (await client.post("/items/", json={"name": "Lamp"}, headers=owner.headers)).json()
    await client.patch(f"/items/{item['id']}", json={"name": "Desk lamp"}, headers=owner.headers)
    await client.delete(f"/items/{item['id']}", headers=owner.headers)

    await Relay(
        database, redis, outbox=OUTBOX, stream=EVENTS.stream, settings=EventSettings()
    ).publish()

    entries: Any = await redis.xrange(EVENTS.stream)
    events = [Event.decode(fields[b"event"]) for _, fields in entries]
    assert [(e.type, e.data["version"]) for e in events] == [
        ("item.created", 1),
        ("item.updated", 2),
        ("item.deleted", 2),
    ]
    assert events[1].data["name"] == "Desk lamp"
    assert events[2].data == {"id": item["id"], "owner_id": str(owner.id), "version": 2}


async def test_a_refused_change_emits_nothing(
    committing: tuple[httpx.AsyncClient, Database], redis: Redis, token_factory: TokenFactory
) -> None:
    client, database = committing
    owner, stranger = Caller(token_factory), Caller(token_factory)
    item = (await client.post("/items/", json={"name": "Lamp"}, headers=owner.headers)).json()
    relay = Relay(database, redis, outbox=OUTBOX, stream=EVENTS.stream, settings=EventSettings())
    await relay.publish()

    refused = await client.patch(
        f"/items/{item['id']}", json={"name": "Mine now"}, headers=stranger.headers
    )
    stale = await client.patch(
        f"/items/{item['id']}", json={"name": "x"}, headers=owner.headers | {"If-Match": '"9"'}
    )

    assert (refused.status_code, stale.status_code) == (403, 412)
    assert await relay.publish() == 0


async def test_metrics_show_the_outbox_and_the_streams(
    committing: tuple[httpx.AsyncClient, Database], redis: Redis, token_factory: TokenFactory
) -> None:
    client, _ = committing
    owner = Caller(token_factory)
    for _ in range(3):
        await client.post("/items/", json={"name": "Lamp"}, headers=owner.headers)
    await redis.xgroup_create("users.events", "items", id="0", mkstream=True)
    await redis.xadd("users.events", {"type": "user.deleted", "event": b"{}"})

    text = (await client.get("/metrics")).text

    assert "events_outbox_backlog 3.0" in text
    assert "events_outbox_oldest_seconds" in text
    assert 'events_stream_lag{group="items",stream="users.events"} 1.0' in text
    assert 'events_dead_letters{stream="users.events"} 0.0' in text
    assert 'events_handled_total{group="items",stream="users.events"} 0.0' in text


def test_dead_letters_are_listed_and_replayed_from_the_command_line(
    settings: ItemsSettings, redis_url: str
) -> None:
    client = SyncRedis.from_url(redis_url)
    client.delete("users.events", "users.events.dead")
    letter = Event(type="user.deleted", data={"id": "not-a-uuid"})
    client.xadd(
        "users.events.dead",
        {
            "type": letter.type,
            "event": letter.encode(),
            "group": "items",
            "error": "ValueError: badly formed hexadecimal UUID string",
            "deliveries": 5,
            "original_id": "1-0",
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITEMS_")} | {
        "ITEMS_DATABASE_URL": settings.database.url,
        "ITEMS_REDIS_URL": redis_url,
    }

    def cli(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", "items", "dead-letters", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    listed = cli()
    replayed = cli("--replay-all")

    assert "users.events: 1 dead letters" in listed
    assert "user.deleted  after 5 deliveries: ValueError: badly formed" in listed
    assert "users.events: 1 replayed" in replayed
    assert client.xlen("users.events.dead") == 0
    entries: Any = client.xrange("users.events")
    ((_, fields),) = entries
    assert Event.decode(fields[b"event"]).id == letter.id
    client.close()
