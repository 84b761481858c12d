"""Across services: a logout at users ends the token at every instance of items.

Users runs under uvicorn on a real port (items fetches its JWKS over HTTP, as in
production); two instances of items share one Redis and one database, and talk to the
test in-process. Everything commits for real, into databases of this module's own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from redis.asyncio import Redis

from items.main import create_app as create_items_app
from items.models import MIGRATIONS as ITEMS_MIGRATIONS
from items.settings import ItemsSettings
from servicekit.auth import JwksSettings, TokenSettings
from servicekit.devstack import free_port
from servicekit.settings import DatabaseSettings, LogSettings, RedisSettings
from servicekit.testing import app_client, prepare_database
from users.main import create_app as create_users_app
from users.models import MIGRATIONS as USERS_MIGRATIONS
from users.settings import KeySettings, UsersSettings

ISSUER = "http://127.0.0.1:8001"
PASSWORD = "a long and uncommon passphrase"


@pytest.fixture
async def users_url(postgres_url: str, redis_url: str, redis: Redis) -> AsyncIterator[str]:
    """The users service, served by uvicorn on a free port for this test."""
    settings = UsersSettings(
        database=DatabaseSettings(
            url=await prepare_database(postgres_url, "users_e2e", migrations=USERS_MIGRATIONS)
        ),
        redis=RedisSettings(url=redis_url),
        keys=KeySettings(
            key_encryption_key=SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode())
        ),
        token=TokenSettings(issuer=ISSUER),
        log=LogSettings(level="WARNING"),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_users_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "users did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def items_settings(postgres_url: str, redis_url: str, users_url: str) -> ItemsSettings:
    return ItemsSettings(
        database=DatabaseSettings(
            url=await prepare_database(postgres_url, "items_e2e", migrations=ITEMS_MIGRATIONS)
        ),
        redis=RedisSettings(url=redis_url),
        token=TokenSettings(issuer=ISSUER),
        jwks=JwksSettings(url=f"{users_url}/.well-known/jwks.json"),
        log=LogSettings(level="WARNING"),
    )


async def test_logout_at_users_ends_the_token_at_every_items_instance_within_a_second(
    users_url: str, items_settings: ItemsSettings
) -> None:
    async with (
        httpx.AsyncClient(base_url=users_url) as users,
        app_client(create_items_app(items_settings)) as first,
        app_client(create_items_app(items_settings)) as second,
    ):
        email = "e2e-logout@example.com"
        registered = await users.post("/users/", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201
        tokens = (
            await users.post("/auth/token", data={"username": email, "password": PASSWORD})
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await users.get("/users/me", headers=headers)).status_code == 200
        for items in (first, second):
            created = await items.post("/items/", json={"name": "Lamp"}, headers=headers)
            assert created.status_code == 201, created.text

        assert (await users.post("/auth/logout", headers=headers)).status_code == 204
        logged_out_at = time.monotonic()
        refused: dict[str, float] = {}
        while len(refused) < 2 and time.monotonic() - logged_out_at < 1.0:
            for name, items in (("first", first), ("second", second)):
                response = await items.post("/items/", json={"name": "Lamp"}, headers=headers)
                if response.status_code == 401:
                    refused.setdefault(name, time.monotonic() - logged_out_at)

        assert set(refused) == {"first", "second"}
        assert max(refused.values()) < 1.0
        # Public reads are not affected.
        assert (await first.get("/items/")).status_code == 200
