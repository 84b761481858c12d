"""All SQL about accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from users.account.models import User

__all__ = ["UserRepository"]


class UserRepository:
    """Reads and writes ``users`` rows in the request's database session."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def add(self, user: User) -> User:
        """Insert ``user``; a taken e-mail raises at this flush (a 409)."""
        self.db.add(user)
        await self.db.flush()
        return user

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.db.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        """The user with ``email``, compared case-insensitively (uses the unique index)."""
        statement = select(User).where(func.lower(User.email) == func.lower(email))
        return (await self.db.scalars(statement)).one_or_none()
