"""Async PostgreSQL access: one engine (pool) per process, one session per request.

The engine is created in the app's lifespan by `open_database` and disposed at
shutdown; nothing connects at import time. Sessions never expire their objects
on commit, so a response can still read what a request wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, Final

import sqlalchemy.exc
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from servicekit.db._statements import Reader, Transaction, lender_of
from servicekit.errors import AppError
from servicekit.settings import DatabaseSettings

__all__ = [
    "Database",
    "ServiceModel",
    "after_commit",
    "committing",
    "open_database",
    "service_metadata",
]

_AFTER_COMMIT: Final = "servicekit.after_commit"

_NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata() -> MetaData:
    """A service's own ``MetaData``, naming its constraints so that migrations can."""
    return MetaData(naming_convention=_NAMING_CONVENTION)


class ServiceModel:
    """What every service's tables share: mix into its base before ``DeclarativeBase``.

    ::

        class Base(ServiceModel, DeclarativeBase):
            metadata = service_metadata()

    Server-side defaults (``created_at``, …) are read back with ``RETURNING`` on
    insert and update, so no attribute is ever lazily loaded outside the request.
    """

    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}


class Database:
    """The engine and the session factory of one service process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False
        )
        self._lend = lender_of(engine)
        self.reader: Reader = Reader(self._lend, dialect=engine.dialect)
        """Reads outside any transaction (see `Query`)."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work on a pooled connection (see `Query`): committed, or rolled back."""
        return Transaction.begin(self._lend, dialect=self.engine.dialect)

    async def ping(self) -> None:
        """Run a trivial statement; raises if the database does not answer."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))


def _engine(settings: DatabaseSettings, *, application_name: str) -> AsyncEngine:
    """An asyncpg engine with the pool and timeouts of ``settings``."""
    url = make_url(settings.url)
    connect_args: dict[str, Any] = {
        "timeout": settings.connect_timeout,
        "command_timeout": settings.command_timeout,
        "server_settings": {"application_name": application_name},
    }
    if settings.pgbouncer:
        # Transaction pooling hands each transaction any server connection, so
        # prepared statements must be neither cached nor reused by name.
        url = url.update_query_dict({"prepared_statement_cache_size": "0"})
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unique_statement_name
    else:
        # JIT compilation costs more than it saves on short OLTP queries.
        connect_args["server_settings"]["jit"] = "off"
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        connect_args=connect_args,
        # Errors (and so logs) never carry the values of a statement: they can
        # be personal data or secrets.
        hide_parameters=True,
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Never hand out a connection the server has closed (a restart, an idle timeout).

    asyncpg notices a closed socket on its own, so this costs no round trip, unlike
    ``pool_pre_ping``; the pool discards the connection and checks out another.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise sqlalchemy.exc.DisconnectionError("the server closed this connection")


@asynccontextmanager
async def committing(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Commit ``session`` when the block ends, unless it raised: an `AppError` raised
    `keeping_writes` commits first, anything else leaves the session to roll back.
    Then the actions registered with `after_commit` run."""
    try:
        yield session
    except AppError as error:
        if error.keep_writes:
            await _commit(session)
        raise
    await _commit(session)


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` once ``session``'s unit of work has committed (never if it rolls back),
    as `Transaction.after_commit` does for the hot path. It must not raise."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


async def _commit(session: AsyncSession) -> None:
    await session.commit()
    for action in session.info.pop(_AFTER_COMMIT, ()):
        await action()


@asynccontextmanager
async def open_database(
    settings: DatabaseSettings, *, application_name: str
) -> AsyncIterator[Database]:
    """The process's `Database`, disposed of (all connections closed) on exit."""
    engine = _engine(settings, application_name=application_name)
    try:
        yield Database(engine)
    finally:
        await engine.dispose()


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"
