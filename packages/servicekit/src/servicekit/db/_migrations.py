"""Alembic, the same way for every service: its `Migrations`.

Each service keeps its revisions in ``services/<name>/migrations`` with an
``env.py`` of two lines (``MIGRATIONS.run()``), and applies them with
``python -m <name> migrate``. Its version table is ``<name>_alembic_version``, so
services may even share a database. Concurrent upgrades (several instances
starting at once) take turns on an advisory lock.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, pool, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["Migrations"]

_URL_KEY = "database_url"


@dataclass(frozen=True)
class Migrations:
    """A service's schema: its tables (``metadata``) and the revisions that build them."""

    service: str
    directory: Path
    """Where the revisions and ``env.py`` live."""
    metadata: MetaData

    @property
    def version_table(self) -> str:
        """The table that records which revision a database is at."""
        return f"{self.service}_alembic_version"

    def upgrade(self, database_url: str, revision: str = "head") -> None:
        """Apply the revisions up to ``revision``. Blocking: call from a thread in async code."""
        command.upgrade(self._config(database_url), revision)

    def revision(self, database_url: str, *, message: str) -> None:
        """Write a new revision: what the models have that the database (at head) lacks."""
        command.revision(self._config(database_url), message=message, autogenerate=True)

    async def drift(self, engine: AsyncEngine) -> list[Any]:
        """What a new revision would hold: empty when the database is what the models say."""

        def compare(connection: Connection) -> list[Any]:
            options = {"compare_type": True, "version_table": self.version_table}
            return list(
                compare_metadata(
                    MigrationContext.configure(connection, opts=options), self.metadata
                )
            )

        async with engine.connect() as connection:
            return await connection.run_sync(compare)

    def run(self) -> None:
        """The body of the service's ``migrations/env.py``, which Alembic runs."""
        config = context.config
        url = config.attributes.get(_URL_KEY) or config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError(f"no database URL: run `python -m {self.service} migrate`")
        if context.is_offline_mode():
            context.configure(
                url=url,
                target_metadata=self.metadata,
                version_table=self.version_table,
                literal_binds=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            return
        asyncio.run(self._run_online(url))

    def _config(self, database_url: str) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        # An attribute, not an option: a password may contain `%`, which the
        # ini-style options would try to interpolate.
        config.attributes[_URL_KEY] = database_url
        # New revisions come out formatted like the rest of the code.
        config.set_section_option("post_write_hooks", "hooks", "ruff_format")
        config.set_section_option("post_write_hooks", "ruff_format.type", "module")
        config.set_section_option("post_write_hooks", "ruff_format.module", "ruff")
        config.set_section_option(
            "post_write_hooks", "ruff_format.options", "format REVISION_SCRIPT_FILENAME"
        )
        return config

    async def _run_online(self, url: str) -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(self._migrate)
        finally:
            await engine.dispose()

    def _migrate(self, connection: Connection) -> None:
        lock_id = zlib.crc32(self.version_table.encode())
        # A session-level lock: it outlives the commit that ends the autobegun
        # transaction, so Alembic runs each migration in a transaction of its own.
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
        connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=self.metadata,
                version_table=self.version_table,
                compare_type=True,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
            connection.commit()
