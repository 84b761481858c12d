"""Databases on a server: created for a service or a test run."""

from __future__ import annotations

import asyncpg

__all__ = ["ensure_database"]


async def ensure_database(server_url: str, name: str, *, fresh: bool = False) -> bool:
    """Create database ``name`` on the server unless it exists; True if created.

    ``fresh`` drops it first (disconnecting its sessions): a test run's own database.
    """
    quoted = '"' + name.replace('"', '""') + '"'
    connection = await asyncpg.connect(server_url)
    try:
        if fresh:
            await connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        elif await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await connection.execute(f"CREATE DATABASE {quoted}")
    finally:
        await connection.close()
    return True
