"""All SQL about signing keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from users.signing_key.models import SigningKey

__all__ = ["SigningKeyRepository"]

# Serialises key creation between instances starting at once.
_CREATE_LOCK = 0x5167_4B45


class SigningKeyRepository:
    """Reads and writes ``signing_keys`` rows."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def lock_for_creation(self) -> None:
        """Hold a transaction-scoped lock so only one instance (or command) adds a key."""
        await self.db.execute(select(func.pg_advisory_xact_lock(_CREATE_LOCK)))

    async def list_all(self) -> Sequence[SigningKey]:
        """Every key, in the order they activate."""
        statement = select(SigningKey).order_by(SigningKey.activates_at, SigningKey.created_at)
        return (await self.db.scalars(statement)).all()

    async def delete_retired_before(self, moment: datetime) -> None:
        """Delete the keys retired before ``moment``."""
        await self.db.execute(delete(SigningKey).where(SigningKey.retired_at < moment))

    async def add(self, key: SigningKey) -> None:
        self.db.add(key)
        await self.db.flush()
