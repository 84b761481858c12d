"""Checks that a service's migrations and models describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["schema_drift"]


async def schema_drift(engine: AsyncEngine, metadata: MetaData, *, version_table: str) -> list[Any]:
    """What autogenerate would put in a new migration: empty when models match the database."""

    def compare(connection: Connection) -> list[Any]:
        options = {"compare_type": True, "version_table": version_table}
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)
