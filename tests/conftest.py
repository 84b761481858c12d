"""Fixtures of the tests across services: users on a real port, items beside it.

Users runs under uvicorn (items fetches its JWKS over HTTP, as in production); items
apps talk to the tests in-process. Both commit for real, into databases of their own.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator

import pytest
import uvicorn
from pydantic import SecretStr
from redis.asyncio import Redis

from items.models import MIGRATIONS as ITEMS_MIGRATIONS
from items.settings import ItemsSettings
from servicekit.auth import JwksSettings, TokenSettings
from servicekit.devstack import free_port
from servicekit.settings import DatabaseSettings, EventSettings, LogSettings, RedisSettings
from servicekit.testing import prepare_database
from users.main import create_app as create_users_app
from users.models import MIGRATIONS as USERS_MIGRATIONS
from users.settings import KeySettings, UsersSettings

ISSUER = "http://127.0.0.1:8001"
FAST_EVENTS = EventSettings(poll_interval=0.1, retry_after=0.5)
"""Events as a test wants them: a failed or abandoned one retried within half a second."""


@pytest.fixture
async def users_settings(postgres_url: str, redis_url: str) -> UsersSettings:
    return UsersSettings(
        database=DatabaseSettings(
            url=await prepare_database(postgres_url, "users_e2e", migrations=USERS_MIGRATIONS)
        ),
        redis=RedisSettings(url=redis_url),
        keys=KeySettings(
            key_encryption_key=SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode())
        ),
        token=TokenSettings(issuer=ISSUER),
        log=LogSettings(level="WARNING"),
        events=FAST_EVENTS,
    )


@pytest.fixture
async def users_url(users_settings: UsersSettings, redis: Redis) -> AsyncIterator[str]:
    """The users service, served by uvicorn on a free port for this test."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_users_app(users_settings),
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
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
        events=FAST_EVENTS,
    )
