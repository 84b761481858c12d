"""Test databases: created fresh, migrated once per run, rolled back after every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import asyncpg
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from servicekit.db import Migrations, Reader, Transaction, committing, ensure_database
from servicekit.http import read_only, transaction, unit_of_work
from servicekit.state import ServiceState

__all__ = ["TestDatabase", "prepare_database"]


async def prepare_database(server_url: str, name: str, *, migrations: Migrations) -> str:
    """Create database ``name`` afresh on the server and migrate it; its asyncpg URL.

    The schema comes from the migrations, not from ``create_all``, so every
    test run tests the migrations too.
    """
    server = make_url(server_url).set(drivername="postgresql")
    await ensure_database(server.render_as_string(hide_password=False), name, fresh=True)
    url = server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )
    await asyncio.to_thread(migrations.upgrade, url)
    return url


class TestDatabase:
    """A migrated database whose tests each run in a transaction that is rolled back.

    SQLAlchemy's "join a session into an external transaction" recipe: the
    test and every request of the app under test share one connection and its
    outer transaction; each unit of work (session or transaction) commits a
    savepoint, each reader reads on that connection; the outer transaction is
    rolled back when the test ends.
    """

    __test__ = False  # not a test class, despite its name

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, poolclass=NullPool)

    @asynccontextmanager
    async def rollback(self, app: FastAPI) -> AsyncIterator[AsyncSession]:
        """A session for the test; ``app``'s requests join its transaction."""
        async with self.engine.connect() as connection:
            outer = await connection.begin()
            # SQLAlchemy begins on the driver lazily, at the first statement; begin
            # now, so that a request's Transaction is a savepoint inside this one.
            await connection.exec_driver_sql("SELECT 1")
            factory = async_sessionmaker(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )

            async def joined_unit_of_work() -> AsyncIterator[AsyncSession]:
                async with factory() as session, committing(session):
                    yield session

            raw = await connection.get_raw_connection()

            @asynccontextmanager
            async def lend() -> AsyncIterator[asyncpg.Connection]:
                # The test's own connection: reads see what the test and the
                # requests before wrote, inside the transaction.
                yield cast("asyncpg.Connection", raw.driver_connection)

            reader = Reader(lend, dialect=connection.dialect)

            async def joined_reader() -> Reader:
                return reader

            async def joined_transaction() -> AsyncIterator[Transaction]:
                if not cast("asyncpg.Connection", raw.driver_connection).is_in_transaction():
                    raise RuntimeError("a test's request would commit for real")
                # Inside the test's transaction, asyncpg makes this a savepoint.
                async with Transaction.begin(lend, dialect=connection.dialect) as unit:
                    yield unit

            app.dependency_overrides[unit_of_work] = joined_unit_of_work
            app.dependency_overrides[read_only] = joined_reader
            app.dependency_overrides[transaction] = joined_transaction
            # What reads outside FastAPI's dependencies (a cached route's loader, in the
            # middleware) reads through the state's reader: the joined one too.
            state = getattr(app.state, "service", None)
            database = state.database if isinstance(state, ServiceState) else None
            pooled = database.reader if database is not None else None
            if database is not None:
                database.reader = reader
            try:
                async with factory() as session:
                    yield session
            finally:
                if database is not None and pooled is not None:
                    database.reader = pooled
                app.dependency_overrides.pop(unit_of_work, None)
                app.dependency_overrides.pop(read_only, None)
                app.dependency_overrides.pop(transaction, None)
                await outer.rollback()

    async def dispose(self) -> None:
        """Close the engine."""
        await self.engine.dispose()
