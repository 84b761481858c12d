"""``/users``: registration and the user resource."""

from __future__ import annotations

import uuid
from typing import Final

from fastapi import Request, Response

from servicekit.http import (
    CurrentPrincipal,
    DbSession,
    ServiceRouter,
    client_address,
    enforce_rate_limit,
    problem_responses,
    url_of,
)
from users.account import service
from users.account.deps import CurrentUser, Passwords
from users.account.models import User
from users.account.schemas import UserCreate, UserRead
from users.token.deps import Settings

__all__ = ["router"]

router = ServiceRouter(tags=["users"])

_USER: Final = "/users/{user_id}"
"""The path of one user, which ``Location`` names."""


@router.post(
    "/users/",
    status_code=201,
    response_model=UserRead,
    summary="Register a user",
    responses=problem_responses(409, 429),
)
async def create_user(
    data: UserCreate,
    db: DbSession,
    passwords: Passwords,
    settings: Settings,
    request: Request,
    response: Response,
) -> User:
    """Create an account. E-mails are unique regardless of case; common passwords are refused.

    Registrations are limited per client address (`USERS_REGISTRATION_RATE_LIMIT`).
    """
    await enforce_rate_limit(
        request, response, settings.auth.registration_policy, f"ip:{client_address(request)}"
    )
    user = await service.register(db, passwords, data)
    response.headers["Location"] = url_of(request, _USER, user_id=user.id)
    return user


@router.get(
    "/users/me",
    response_model=UserRead,
    summary="The caller's own account",
    responses=problem_responses(401),
)
async def get_me(user: CurrentUser) -> User:
    """The account of the access token's subject."""
    return user


@router.get(
    _USER,
    response_model=UserRead,
    summary="A user by id",
    responses=problem_responses(401, 404),
)
async def get_user(user_id: uuid.UUID, db: DbSession, principal: CurrentPrincipal) -> User:
    """Yourself, or anyone if you are an admin; any other id is a 404."""
    return await service.get_visible_user(db, principal, user_id)
