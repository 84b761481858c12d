"""Dependency aliases of the account feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from servicekit.http import CurrentPrincipal, DbSession
from users.account.models import User
from users.account.password import PasswordHasher
from users.account.service import get_current_user
from users.state import users_state

__all__ = ["CurrentUser", "Passwords"]


async def _passwords(request: Request) -> PasswordHasher:
    return users_state(request).passwords


async def _current_user(db: DbSession, principal: CurrentPrincipal) -> User:
    return await get_current_user(db, principal)


Passwords = Annotated[PasswordHasher, Depends(_passwords)]
CurrentUser = Annotated[User, Depends(_current_user)]
