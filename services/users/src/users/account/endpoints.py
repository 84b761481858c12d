"""``/users``: registration and the user resource."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Annotated, Final

from fastapi import Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.cache import CachedResponse, ResponseCache, representation
from servicekit.db import after_commit
from servicekit.errors import NotFound
from servicekit.http import (
    AdminPrincipal,
    Cache,
    CurrentPrincipal,
    DbSession,
    ServiceRouter,
    client_address,
    enforce_rate_limit,
    if_none_match_matches,
    problem_responses,
    refund_rate_limit,
    url_of,
)
from users.account import service
from users.account.deps import CurrentUser, Passwords
from users.account.models import User
from users.account.schemas import UserCreate, UserRead, UserUpdate
from users.session.deps import Denylist
from users.token.deps import Settings

__all__ = ["router"]

router = ServiceRouter(tags=["users"])

_USER: Final = "/users/{user_id}"
"""The path of one user, which ``Location`` names."""
_CACHED: Final = f"user:{representation(UserRead)}"
"""The cache's kind for one user's response: a new representation, a new kind."""


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
    "/users/",
    response_model=list[UserRead],
    summary="List users (admins only)",
    responses=problem_responses(401, 403),
)
async def list_users(
    admin: AdminPrincipal,
    db: DbSession,
    skip: Annotated[int, Query(ge=0, le=2**31 - 1, description="Users to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 10,
) -> Sequence[User]:
    """Every account, in the order they registered."""
    return await service.list_users(db, offset=skip, limit=limit)


@router.get(
    "/users/me",
    response_model=UserRead,
    summary="The caller's own account",
    responses=problem_responses(401),
)
async def get_me(user: CurrentUser) -> User:
    """The account of the access token's subject."""
    return user


@router.patch(
    "/users/me",
    response_model=UserRead,
    summary="Change the caller's own account",
    responses=problem_responses(401, 403, 429, 503),
)
async def update_me(
    changes: UserUpdate,
    principal: CurrentPrincipal,
    db: DbSession,
    passwords: Passwords,
    revocations: Denylist,
    cache: Cache,
    settings: Settings,
    request: Request,
    response: Response,
) -> User:
    """Change the fields sent. A new `password` needs `current_password` (403 when it is
    wrong; wrong guesses are limited like logins) and ends every other session."""
    guesses = settings.auth.login_policy
    guesser = f"password-change:{principal.user_id}"
    if changes.password is not None:
        await enforce_rate_limit(request, response, guesses, guesser)
    user = await service.update_account(
        db,
        principal,
        changes,
        passwords=passwords,
        revocations=revocations,
        settings=settings.auth,
    )
    if changes.password is not None:
        await refund_rate_limit(request, guesses, guesser)
    _forget_after_commit(db, cache, user.id)
    return user


@router.delete(
    "/users/me",
    status_code=204,
    summary="Delete the caller's own account",
    responses=problem_responses(401, 503),
)
async def delete_me(
    principal: CurrentPrincipal,
    db: DbSession,
    revocations: Denylist,
    cache: Cache,
    settings: Settings,
) -> Response:
    """Delete the account: every session ends and no token of it is accepted any more."""
    await service.delete_account(db, principal, revocations=revocations, settings=settings.auth)
    _forget_after_commit(db, cache, principal.user_id)
    return Response(status_code=204)


def _forget_after_commit(db: AsyncSession, cache: ResponseCache, user_id: uuid.UUID) -> None:
    after_commit(db, lambda: cache.invalidate(_CACHED, str(user_id)))


@router.get(
    _USER,
    response_model=UserRead,
    summary="A user by id",
    responses={
        304: {"description": "Your copy (`If-None-Match`) is current."},
        **problem_responses(401, 404),
    },
)
async def get_user(
    user_id: uuid.UUID,
    db: DbSession,
    principal: CurrentPrincipal,
    cache: Cache,
    if_none_match: Annotated[str | None, Header(description="ETags of copies you hold.")] = None,
) -> Response:
    """Yourself, or anyone if you are an admin; any other id is a 404. With an `ETag`
    (of its content): 304 if `If-None-Match` names it."""
    service.check_visible(principal, user_id)
    cached = await cache.get(_CACHED, str(user_id), lambda: _load(db, user_id))
    if cached is None:
        raise NotFound("No such user.")
    tag = cached.etag.decode()
    if if_none_match_matches(if_none_match, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(cached.body, media_type="application/json", headers={"ETag": tag})


async def _load(db: AsyncSession, user_id: uuid.UUID) -> CachedResponse | None:
    """User ``user_id``'s response as the cache keeps it; None if there is none."""
    user = await service.get_user(db, user_id)
    if user is None:
        return None
    body = UserRead.model_validate(user).model_dump_json().encode()
    return CachedResponse(f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'.encode(), body)
