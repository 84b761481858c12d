"""Fixtures of the users service's tests: a migrated database, the app, a client."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.database import open_database
from servicekit.settings import DatabaseSettings, LogSettings, RedisSettings
from servicekit.testing import TestDatabase, prepare_database, running_app
from users.main import create_app
from users.settings import KeySettings, UsersSettings
from users.signing_key.keyring import Keyring

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def make_settings(database_url: str, redis_url: str, **overrides: object) -> UsersSettings:
    """Settings for a test app; ``overrides`` replace whole sections."""
    values: dict[str, object] = {
        "database": DatabaseSettings(url=database_url),
        "redis": RedisSettings(url=redis_url),
        "keys": KeySettings(key_encryption_key=SecretStr(_KEY_ENCRYPTION_KEY)),
        "log": LogSettings(level="WARNING"),
    }
    return UsersSettings.model_validate(values | overrides)


_KEY_ENCRYPTION_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> str:
    """The users test database, migrated."""
    return await prepare_database(
        postgres_url, "users_test", migrations=MIGRATIONS, version_table="users_alembic_version"
    )


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> UsersSettings:
    return make_settings(database_url, redis_url)


@pytest.fixture(scope="session")
async def test_database(database_url: str) -> AsyncIterator[TestDatabase]:
    database = TestDatabase(database_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def app(settings: UsersSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app) as client:
        yield client


@pytest.fixture(scope="session")
async def keyring(app_client: httpx.AsyncClient, settings: UsersSettings) -> Keyring:
    """The keyring the app signs with (loaded from the same database and key)."""
    async with open_database(settings.database, application_name="users-tests") as database:
        return await Keyring.load(
            database,
            key_encryption_key=settings.keys.key_bytes(),
            publish_retired_for=timedelta(hours=1),
        )


@pytest.fixture
async def db(app: FastAPI, test_database: TestDatabase) -> AsyncIterator[AsyncSession]:
    """The test's session; the app's requests join its transaction, rolled back at the end."""
    async with test_database.rollback(app) as session:
        yield session


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """The tests' Redis database, empty at the start of each test."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def client(
    app_client: httpx.AsyncClient, db: AsyncSession, redis: Redis
) -> httpx.AsyncClient:
    """A client of the users app, for one test with a clean database and Redis."""
    return app_client
