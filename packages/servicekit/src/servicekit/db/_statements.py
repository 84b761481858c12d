"""The hot path's statements: compiled once, run on the pool's asyncpg connections.

A request should cost its round trips and little more Python than the driver's:
no statement compiled per request, no ORM identity map or flush. A `Query` is a
SQLAlchemy Core statement compiled once for asyncpg (which prepares it once per
connection); a `Reader` runs queries in no transaction, each on a connection lent
for it (one round trip, nothing to commit); a `Transaction` is a request's unit of
work on one connection. Measured on one insert here: an ORM ``add``, flush and
commit cost 1.0 ms of CPU, a Core insert through the session 0.6 ms, this 0.14 ms.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, Final, cast

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import greenlet_spawn

from servicekit.errors import AppError, ServiceUnavailable

__all__ = ["Lender", "Query", "Reader", "Transaction", "lender_of"]

# SQLSTATE classes after which a connection must not go back to the pool:
# connection exceptions and operator intervention (shutdown, cancel).
_BROKEN_CLASSES: Final = ("08", "57")


class Query:
    """A Core statement compiled once for asyncpg: its SQL and its parameters, by name.

    ``Query(select(items).where(items.c.id == bindparam("item_id")))`` at import;
    `Reader.one` and `Reader.all` then take the values of its ``bindparam``\\ s by
    name. Values the statement holds itself (``.limit(10)``) need not be given. It
    compiles on first use, with the engine's dialect, which by then knows the
    server (how it quotes a ``LIKE`` escape, for one).
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement as ``dialect`` writes it (compiled once per dialect: per engine)."""
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _Compiled(self.statement, dialect)
        return compiled


class _Compiled:
    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast("SQLCompiler", statement.compile(dialect=dialect))
        self.sql: str = str(compiled)
        binds = compiled.binds
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._defaults: dict[str, Any] = {
            name: bind.value for name, bind in binds.items() if not bind.required
        }
        # Columns whose defaults SQLAlchemy computes in Python at execution (a
        # scalar, a callable such as uuid7): computed here, per execution, instead.
        self._computed: dict[str, Callable[[], Any]] = {
            **{column.key: _computed(column.default) for column in compiled.insert_prefetch},
            **{column.key: _computed(column.onupdate) for column in compiled.update_prefetch},
        }
        self._processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            binds[name].type.bind_processor(dialect) for name in self._names
        )

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        arguments = []
        for name, process in zip(self._names, self._processors, strict=True):
            if name in values:
                value = values[name]
            elif name in self._computed:
                value = self._computed[name]()
            else:
                value = self._defaults[name]
            arguments.append(value if process is None else process(value))
        return arguments


def _computed(default: Any) -> Callable[[], Any]:
    """A column's Python-side default (an insert's) or onupdate (an update's), called bare."""
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:
        # SQLAlchemy wraps every callable default to take an execution context.
        function = default.arg
        return lambda: function(None)
    raise TypeError(f"{default}: a SQL-expression default cannot be computed in Python")


Lender = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
"""Lends an asyncpg connection for the length of a ``with`` block."""


class Reader:
    """Queries in no transaction, each on a connection lent for it: one round trip each.

    One per process (`Database.reader`), shared by every request: it holds no
    connection between queries.
    """

    def __init__(self, lend: Lender, *, dialect: Dialect) -> None:
        self._lend = lend
        self._dialect = dialect

    async def one(self, query: Query, **values: Any) -> asyncpg.Record | None:
        """The first row of ``query``, or ``None``."""
        async with self._lend() as connection:
            return await _Statements(connection, self._dialect).one(query, **values)

    async def all(self, query: Query, **values: Any) -> list[asyncpg.Record]:
        """Every row of ``query``."""
        async with self._lend() as connection:
            return await _Statements(connection, self._dialect).all(query, **values)


class _Statements:
    """Queries on one connection, as they are called."""

    def __init__(self, connection: asyncpg.Connection, dialect: Dialect) -> None:
        self._connection = connection
        self._dialect = dialect

    async def one(self, query: Query, **values: Any) -> asyncpg.Record | None:
        """The first row of ``query``, or ``None``."""
        compiled = query.compiled(self._dialect)
        return await self._connection.fetchrow(compiled.sql, *compiled.arguments(values))

    async def all(self, query: Query, **values: Any) -> list[asyncpg.Record]:
        """Every row of ``query``."""
        compiled = query.compiled(self._dialect)
        return await self._connection.fetch(compiled.sql, *compiled.arguments(values))

    async def execute(self, query: Query, **values: Any) -> str:
        """Run ``query`` for its effect; PostgreSQL's status line (``DELETE 1``)."""
        compiled = query.compiled(self._dialect)
        return await self._connection.execute(compiled.sql, *compiled.arguments(values))


class Transaction(_Statements):
    """A request's unit of work: statements in one transaction, on one lent connection.

    `Transaction.begin` commits when its ``with`` block ends normally and rolls back
    if anything raised, so a request writes everything or nothing. What must happen
    only once the write is durable (invalidating a cache) is registered with
    `after_commit`.
    """

    def __init__(self, connection: asyncpg.Connection, dialect: Dialect) -> None:
        super().__init__(connection, dialect)
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    def after_commit(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` once the transaction has committed (never if it rolls back).

        The write stands whatever the action does, so an action must not raise.
        """
        self._after_commit.append(action)

    @classmethod
    @asynccontextmanager
    async def begin(cls, lend: Lender, *, dialect: Dialect) -> AsyncIterator[Transaction]:
        """A transaction on a connection ``lend`` lends (a savepoint, inside a transaction).

        An `AppError` raised `keeping_writes` commits before it goes on; any other
        exception rolls back.
        """
        kept: AppError | None = None
        async with lend() as connection, connection.transaction():
            unit = cls(connection, dialect)
            try:
                yield unit
            except AppError as error:
                if not error.keep_writes:
                    raise
                kept = error  # leaving the block normally commits
        # Committed, and the connection back in the pool.
        for action in unit._after_commit:
            await action()
        if kept is not None:
            raise kept


def lender_of(engine: AsyncEngine) -> Lender:
    """Lends connections of ``engine``'s pool."""
    return partial(_lend_from, engine)


@asynccontextmanager
async def _lend_from(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection of ``engine``'s pool, returned when the block ends.

    One the block broke (the server went away, the read was cancelled mid-flight)
    is discarded instead of returned, so the next query gets a good one.
    """
    pooled = await engine.raw_connection()
    connection = pooled.driver_connection
    if not isinstance(connection, asyncpg.Connection):
        pooled.close()
        raise TypeError(f"a Reader needs the asyncpg driver, not {connection!r}")
    try:
        yield connection
    except BaseException as exc:
        if not _breaks_connection(exc):
            raise
        pooled.invalidate(exc if isinstance(exc, Exception) else None)
        if isinstance(exc, asyncpg.InterfaceError):
            # "connection is closed": it died between checkout and use.
            raise ServiceUnavailable("The database connection was lost; retry.") from exc
        raise
    finally:
        await _give_back(engine, pooled)


async def _give_back(engine: AsyncEngine, pooled: Any) -> None:
    """Return ``pooled`` to the pool. A connection beyond the pool's size is closed on its
    return, and closing an asyncpg connection awaits: SQLAlchemy can do that only inside
    its greenlet, so that return goes through one (outside it, the connection was
    dropped unclosed). Within the pool's size, the return closes nothing: done directly."""
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool) and pool.checkedin() >= pool.size():
        await greenlet_spawn(pooled.close)
    else:
        pooled.close()


def _breaks_connection(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "").startswith(_BROKEN_CLASSES)
    return isinstance(exc, OSError | asyncpg.InterfaceError | asyncio.CancelledError | TimeoutError)
