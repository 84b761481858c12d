"""All SQL about accounts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, select
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

    async def lock(self, user_id: uuid.UUID) -> User | None:
        """The user, locked until the transaction ends."""
        statement = select(User).where(User.id == user_id).with_for_update()
        return (await self.db.scalars(statement)).one_or_none()

    async def get_by_email(self, email: str) -> User | None:
        """The user with ``email``, compared case-insensitively (uses the unique index)."""
        statement = select(User).where(func.lower(User.email) == func.lower(email))
        return (await self.db.scalars(statement)).one_or_none()

    async def page(self, *, offset: int, limit: int) -> Sequence[User]:
        """Users in the order they registered (ids are time-ordered)."""
        statement = select(User).order_by(User.id).offset(offset).limit(limit)
        return (await self.db.scalars(statement)).all()

    async def delete(self, user_id: uuid.UUID) -> None:
        """Delete the user; their sessions and refresh tokens go with them."""
        await self.db.execute(delete(User).where(User.id == user_id))
