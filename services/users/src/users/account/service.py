"""The rules of accounts. Raises domain errors; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal, Revocations
from servicekit.errors import Forbidden, NotFound, Unauthorized
from servicekit.events import emit
from users.account.models import User
from users.account.password import PasswordHasher
from users.account.repository import UserRepository
from users.account.schemas import UserCreate, UserRead, UserUpdate
from users.database import OUTBOX
from users.session.service import end_sessions
from users.settings import AuthSettings

__all__ = [
    "authenticate",
    "check_visible",
    "delete_account",
    "get_current_user",
    "get_user",
    "list_users",
    "register",
    "update_account",
]

_BAD_CREDENTIALS = "Incorrect e-mail or password."


async def register(db: AsyncSession, passwords: PasswordHasher, data: UserCreate) -> User:
    """Create an account; a taken e-mail (in any case) becomes a 409 at the flush."""
    user = User(
        email=data.email,
        full_name=data.full_name,
        password_hash=await passwords.hash(data.password),
    )
    await UserRepository(db).add(user)
    await emit(db, OUTBOX, "user.registered", _public(user))
    return user


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


async def list_users(db: AsyncSession, *, offset: int, limit: int) -> Sequence[User]:
    """A page of every account, in the order they registered."""
    return await UserRepository(db).page(offset=offset, limit=limit)


async def update_account(
    db: AsyncSession,
    principal: Principal,
    changes: UserUpdate,
    *,
    passwords: PasswordHasher,
    revocations: Revocations,
    settings: AuthSettings,
) -> User:
    """Apply the fields sent to the caller's account.

    A new password needs the current one (403 if it is wrong), and ends every other
    session of the account: whoever knew the old password is logged out everywhere.
    """
    user = await UserRepository(db).lock(principal.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The account of this token no longer exists.", error="invalid_token")
    sent = changes.model_fields_set
    if "full_name" in sent:
        user.full_name = changes.full_name
    if changes.password is not None and changes.current_password is not None:
        if not await passwords.verify(user.password_hash, changes.current_password):
            raise Forbidden("The current password is wrong.")
        user.password_hash = await passwords.hash(changes.password)
        await end_sessions(
            db,
            revocations,
            user.id,
            settings=settings,
            keep=uuid.UUID(principal.session_id),
        )
    await db.flush()
    return user


async def delete_account(
    db: AsyncSession,
    principal: Principal,
    *,
    revocations: Revocations,
    settings: AuthSettings,
) -> None:
    """Delete the caller's account; every session ends, no token of it is accepted, and
    ``user.deleted`` tells the other services (items deletes the account's items)."""
    await end_sessions(db, revocations, principal.user_id, settings=settings, token=principal)
    await UserRepository(db).delete(principal.user_id)
    await emit(db, OUTBOX, "user.deleted", {"id": principal.user_id})


def _public(user: User) -> dict[str, object]:
    """What an event says of an account: what ``GET /users/{id}`` shows."""
    return UserRead.model_validate(user).model_dump(mode="json")
