"""Alembic, the same way for every service.

Each service keeps its revisions in ``services/<name>/migrations`` with an
``env.py`` of two lines (``run_migrations(Base.metadata)``), and applies them with
``python -m <name> migrate`` (which `upgrade` implements). Its version table is
``<name>_alembic_version``, so services may even share a database. Concurrent
upgrades (several instances starting at once) take turns on an advisory lock.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["alembic_config", "run_migrations", "upgrade"]

_URL_KEY = "database_url"
_VERSION_TABLE_KEY = "version_table"


def alembic_config(*, script_location: Path, database_url: str, version_table: str) -> Config:
    """An Alembic configuration for a service's migrations directory and database."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # Passed as attributes, not options: a password may contain `%`, which
    # the ini-style options would try to interpolate.
    config.attributes[_URL_KEY] = database_url
    config.attributes[_VERSION_TABLE_KEY] = version_table
    # New revisions come out formatted like the rest of the code.
    config.set_section_option("post_write_hooks", "hooks", "ruff_format")
    config.set_section_option("post_write_hooks", "ruff_format.type", "module")
    config.set_section_option("post_write_hooks", "ruff_format.module", "ruff")
    config.set_section_option(
        "post_write_hooks", "ruff_format.options", "format REVISION_SCRIPT_FILENAME"
    )
    return config


def upgrade(
    *, script_location: Path, database_url: str, version_table: str, revision: str = "head"
) -> None:
    """Apply the migrations up to ``revision``. Blocking: call from a thread in async code."""
    config = alembic_config(
        script_location=script_location, database_url=database_url, version_table=version_table
    )
    command.upgrade(config, revision)


def run_migrations(target_metadata: MetaData) -> None:
    """The body of a service's ``migrations/env.py``."""
    config = context.config
    url = config.attributes.get(_URL_KEY) or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations with `python -m <service> migrate`")
    version_table = config.attributes.get(_VERSION_TABLE_KEY, "alembic_version")
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            version_table=version_table,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata, version_table))


async def _run_online(url: str, target_metadata: MetaData, version_table: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate, target_metadata, version_table)
    finally:
        await engine.dispose()


def _migrate(connection: Connection, target_metadata: MetaData, version_table: str) -> None:
    lock_id = zlib.crc32(version_table.encode())
    # A session-level lock: it outlives the commit that ends the autobegun
    # transaction, so Alembic runs each migration in a transaction of its own.
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
    connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
        connection.commit()
