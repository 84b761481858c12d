"""Across services, through events: a deleted account's items are gone within seconds.

Users' worker relays ``user.deleted`` to ``users.events``; items' worker applies it,
deleting the items, publishing ``item.deleted`` for each and forgetting their cached
responses. Both workers run here as they run beside the APIs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from items.events import EVENTS as ITEMS_EVENTS
from items.main import create_app as create_items_app
from items.settings import ItemsSettings
from servicekit.events import Event, EventWorker
from servicekit.testing import app_client
from users.events import EVENTS as USERS_EVENTS
from users.settings import UsersSettings

PASSWORD = "a long and uncommon passphrase"


@pytest.fixture
async def workers(
    users_settings: UsersSettings, items_settings: ItemsSettings
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    running = [
        asyncio.create_task(
            EventWorker(users_settings, name="users", events=USERS_EVENTS).run(stop)
        ),
        asyncio.create_task(
            EventWorker(items_settings, name="items", events=ITEMS_EVENTS).run(stop)
        ),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*running)


async def test_deleting_an_account_deletes_its_items_within_seconds(
    users_url: str, items_settings: ItemsSettings, workers: None
) -> None:
    async with (
        httpx.AsyncClient(base_url=users_url) as users,
        app_client(create_items_app(items_settings)) as items,
    ):
        leaving, staying = "leaving@example.com", "staying@example.com"
        headers = {}
        for email in (leaving, staying):
            assert (
                await users.post("/users/", json={"email": email, "password": PASSWORD})
            ).is_success
            login = await users.post("/auth/token", data={"username": email, "password": PASSWORD})
            headers[email] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        owner_id = (await users.get("/users/me", headers=headers[leaving])).json()["id"]
        theirs = [
            (
                await items.post("/items/", json={"name": f"Lamp {n}"}, headers=headers[leaving])
            ).json()
            for n in range(3)
        ]
        kept = (
            await items.post("/items/", json={"name": "Chair"}, headers=headers[staying])
        ).json()
        for item in theirs:  # cached now
            assert (await items.get(f"/items/{item['id']}")).status_code == 200

        assert (await users.delete("/users/me", headers=headers[leaving])).status_code == 204
        deleted_at = time.monotonic()
        left = theirs
        while left and time.monotonic() - deleted_at < 10:
            await asyncio.sleep(0.1)
            left = (await items.get(f"/items/?owner_id={owner_id}")).json()
        took = time.monotonic() - deleted_at

        assert left == []
        assert took < 10
        for item in theirs:  # and no instance serves them from its cache
            assert (await items.get(f"/items/{item['id']}")).status_code == 404
        assert (await items.get(f"/items/{kept['id']}")).status_code == 200


async def test_users_events_say_who_registered_and_who_left(
    users_url: str, users_settings: UsersSettings, workers: None
) -> None:
    async with httpx.AsyncClient(base_url=users_url) as users:
        email = "ada@example.com"
        created = (await users.post("/users/", json={"email": email, "password": PASSWORD})).json()
        login = await users.post("/auth/token", data={"username": email, "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        await users.delete("/users/me", headers=bearer)

    redis = Redis.from_url(users_settings.redis.url)
    try:
        events: list[Event] = []
        for _ in range(50):
            entries: Any = await redis.xrange("users.events")
            events = [Event.decode(fields[b"event"]) for _, fields in entries]
            if len(events) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()

    assert [event.type for event in events] == ["user.registered", "user.deleted"]
    assert events[0].data["id"] == created["id"]
    assert events[0].data["email"] == email
    assert "password_hash" not in events[0].data
    assert events[1].data == {"id": created["id"]}
