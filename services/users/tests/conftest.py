"""Fixtures of the users service's tests; `servicekit.testing` adds client, db and redis."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from servicekit.db import open_database
from servicekit.settings import DatabaseSettings, HttpSettings, LogSettings, Rate, RedisSettings
from servicekit.testing import prepare_database
from users.main import create_app
from users.models import MIGRATIONS
from users.settings import AuthSettings, KeySettings, UsersSettings
from users.signing_key.keyring import Keyring


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> str:
    """The users test database, migrated."""
    return await prepare_database(postgres_url, "users_test", migrations=MIGRATIONS)


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> UsersSettings:
    return UsersSettings(
        database=DatabaseSettings(url=database_url),
        redis=RedisSettings(url=redis_url),
        keys=KeySettings(
            key_encryption_key=SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode())
        ),
        log=LogSettings(level="WARNING"),
        # Every test logs in and registers from the same address; the limits' own
        # tests (test_rate_limits.py) run an app with the defaults.
        auth=AuthSettings(
            login_rate_limit=Rate(quota=100_000, window=60),
            registration_rate_limit=Rate(quota=100_000, window=60),
        ),
        http=HttpSettings(rate_limit=Rate(quota=100_000, window=60)),
    )


@pytest.fixture(scope="session")
def app(settings: UsersSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def keyring(settings: UsersSettings) -> Keyring:
    """The keyring the app signs with: the same database and key-encryption key.

    Loading creates the first key if the app has not yet; the app then loads it.
    """
    async with open_database(settings.database, application_name="users-tests") as database:
        return await Keyring.load(
            database,
            key_encryption_key=settings.keys.key_bytes(),
            publish_retired_for=timedelta(hours=1),
        )
