"""The rules of accounts. Raises domain errors; never commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from servicekit.errors import NotFound, Unauthorized
from users.account.models import User
from users.account.password import PasswordHasher
from users.account.repository import UserRepository
from users.account.schemas import UserCreate

__all__ = ["authenticate", "check_visible", "get_current_user", "get_user", "register"]

_BAD_CREDENTIALS = "Incorrect e-mail or password."


async def register(db: AsyncSession, passwords: PasswordHasher, data: UserCreate) -> User:
    """Create an account; a taken e-mail (in any case) becomes a 409 at the flush."""
    user = User(
        email=data.email,
        full_name=data.full_name,
        password_hash=await passwords.hash(data.password),
    )
    return await UserRepository(db).add(user)


async def authenticate(
    db: AsyncSession, passwords: PasswordHasher, email: str, password: str
) -> User:
    """The active user with these credentials; the same 401, at the same cost, otherwise."""
    # No stored e-mail contains NUL, and PostgreSQL cannot even compare one.
    user = None if "\x00" in email else await UserRepository(db).get_by_email(email)
    if user is None:
        await passwords.verify_nothing(password)
        raise Unauthorized(_BAD_CREDENTIALS)
    if not await passwords.verify(user.password_hash, password) or not user.is_active:
        raise Unauthorized(_BAD_CREDENTIALS)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    return user


async def get_current_user(db: AsyncSession, principal: Principal) -> User:
    """The account behind a verified token; 401 if it is gone or deactivated."""
    user = await UserRepository(db).get(principal.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The account of this token no longer exists.", error="invalid_token")
    return user


def check_visible(principal: Principal, user_id: uuid.UUID) -> None:
    """Raise 404 unless the caller may see user ``user_id``: themselves, or anyone for
    an admin. Anyone else's id is a 404, exactly as for an id that does not exist, so
    the answer never tells whether an account exists."""
    if principal.user_id != user_id and not principal.is_admin:
        raise NotFound("No such user.")


async def get_user(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    """User ``user_id``, if there is one."""
    return await UserRepository(db).get(user_id)
