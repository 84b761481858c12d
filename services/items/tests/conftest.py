"""Fixtures of the items service's tests: a migrated database, the app, a client, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from items.main import create_app
from items.settings import ItemsSettings
from servicekit.settings import DatabaseSettings, JwksSettings, LogSettings, RedisSettings
from servicekit.testing import TestDatabase, prepare_database, running_app

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def make_settings(
    database_url: str, redis_url: str, jwks_url: str, **overrides: object
) -> ItemsSettings:
    """Settings for a test app; ``overrides`` replace whole sections."""
    values: dict[str, object] = {
        "database": DatabaseSettings(url=database_url),
        "redis": RedisSettings(url=redis_url),
        "jwks": JwksSettings(url=jwks_url),
        "log": LogSettings(level="WARNING"),
    }
    return ItemsSettings.model_validate(values | overrides)


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> str:
    """The items test database, migrated."""
    return await prepare_database(
        postgres_url, "items_test", migrations=MIGRATIONS, version_table="items_alembic_version"
    )


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, jwks_url: str) -> ItemsSettings:
    return make_settings(database_url, redis_url, jwks_url)


@pytest.fixture(scope="session")
async def test_database(database_url: str) -> AsyncIterator[TestDatabase]:
    database = TestDatabase(database_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def app(settings: ItemsSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app) as client:
        yield client


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
    """A client of the items app, for one test with a clean database and Redis."""
    return app_client
