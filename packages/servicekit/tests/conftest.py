"""A small service built with servicekit, to test the library at the HTTP level."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from kit_demo import IDEMPOTENCY_KEYS, create_demo_app, demo_settings
from redis.asyncio import Redis
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

from servicekit.auth import Revocations
from servicekit.db import ensure_database
from servicekit.redis import ScriptBatcher
from servicekit.testing import TEST_ISSUER, app_client

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id serial PRIMARY KEY,
    body text NOT NULL,
    CONSTRAINT uq_notes_body UNIQUE (body) DEFERRABLE INITIALLY DEFERRED
)
"""


@pytest.fixture(scope="session")
async def database_url(postgres_url: str) -> str:
    """A database with the demo's one table."""
    await ensure_database(postgres_url, "servicekit_test")
    url = make_url(postgres_url).set(database="servicekit_test")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute(_SCHEMA)
        await connection.execute(_ddl(CreateTable(IDEMPOTENCY_KEYS, if_not_exists=True)))
        for index in IDEMPOTENCY_KEYS.indexes:
            await connection.execute(_ddl(CreateIndex(index, if_not_exists=True)))
    finally:
        await connection.close()
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _ddl(statement: ExecutableDDLElement) -> str:
    return str(statement.compile(dialect=PGDialect()))  # type: ignore[no-untyped-call]  # SQLAlchemy


@pytest.fixture
async def notes(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the demo database; the notes table is emptied after the test."""
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.execute("TRUNCATE notes, idempotency_keys")
        await connection.close()


@pytest.fixture(scope="session")
def demo_app(database_url: str, redis_url: str, jwks_url: str) -> FastAPI:
    return create_demo_app(demo_settings(database_url, redis_url, jwks_url))


@pytest.fixture(scope="session")
async def demo_client(demo_app: FastAPI, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the demo app, its lifespan running for the whole session; the revocation
    list of the test issuer whole (as the ``redis`` fixture leaves it), whatever ran before."""
    redis = Redis.from_url(redis_url)
    async with ScriptBatcher(redis) as scripts:
        await Revocations(scripts, issuer=TEST_ISSUER).mark_complete()
    await redis.aclose()
    async with app_client(demo_app) as client:
        yield client
