"""Fixtures of the items service's tests; `servicekit.testing` adds client, db and redis."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from items.main import create_app
from items.models import MIGRATIONS
from items.settings import ItemsSettings
from servicekit.auth import JwksSettings, TokenSettings
from servicekit.settings import DatabaseSettings, HttpSettings, LogSettings, Rate, RedisSettings
from servicekit.testing import prepare_database


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> str:
    """The items test database, migrated."""
    return await prepare_database(postgres_url, "items_test", migrations=MIGRATIONS)


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str, jwks_url: str, token_settings: TokenSettings
) -> ItemsSettings:
    return ItemsSettings(
        database=DatabaseSettings(url=database_url),
        redis=RedisSettings(url=redis_url),
        token=token_settings,
        jwks=JwksSettings(url=jwks_url),
        log=LogSettings(level="WARNING"),
        # Every test calls from the same address; servicekit's tests cover the limit.
        http=HttpSettings(rate_limit=Rate(quota=100_000, window=60)),
    )


@pytest.fixture(scope="session")
def app(settings: ItemsSettings) -> FastAPI:
    return create_app(settings)
