"""``/auth/token`` and ``/auth/refresh``: the password grant, and refresh rotation."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from servicekit.http import (
    DbSession,
    ServiceRouter,
    client_address,
    enforce_rate_limit,
    hashed,
    problem_responses,
    refund_rate_limit,
)
from users.account.deps import Passwords
from users.session.deps import Denylist
from users.signing_key.deps import Keys
from users.token import service
from users.token.deps import Settings
from users.token.schemas import RefreshRequest, TokenResponse

__all__ = ["router"]

router = ServiceRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Log in (OAuth2 password grant)",
    responses={
        401: {"description": "Wrong e-mail or password (one answer for both)."},
        **problem_responses(429),
    },
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    db: DbSession,
    passwords: Passwords,
    keyring: Keys,
    settings: Settings,
    request: Request,
    response: Response,
) -> TokenResponse:
    """Exchange an e-mail (`username`) and password for an access and a refresh token.

    Unknown e-mail and wrong password get the same 401, after the same work. Failed
    attempts are limited per client address and per account (`USERS_LOGIN_RATE_LIMIT`):
    past either, 429 with `Retry-After`, before the password is even looked at (a
    successful login gives its attempt back).
    """
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    policy = settings.auth.login_policy
    clients = (
        f"ip:{client_address(request)}",
        f"account:{hashed(form.username.strip().lower())}",
    )
    for client in clients:
        await enforce_rate_limit(request, response, policy, client)
    tokens = await service.login(
        db,
        passwords=passwords,
        keyring=keyring,
        tokens=settings.token,
        lifetimes=settings.auth,
        email=form.username,
        password=form.password,
        client_id=form.client_id,
        user_agent=request.headers.get("user-agent"),
        ip=_client_ip(request),
    )
    # Only failed attempts bring a client closer to the limit.
    for client in clients:
        await refund_rate_limit(request, policy, client)
    return tokens


@router.post(
    "/auth/refresh",
    response_model=TokenResponse,
    summary="Exchange a refresh token for a new pair",
    responses={
        401: {
            "description": "Unknown, expired or already used refresh token, or its session "
            "has ended. A reused token ends its whole session."
        },
        **problem_responses(503),
    },
)
async def refresh_token(
    data: RefreshRequest,
    db: DbSession,
    keyring: Keys,
    revocations: Denylist,
    settings: Settings,
    response: Response,
) -> TokenResponse:
    """A new access token and a new refresh token in the same session; the refresh token
    sent is used up. Sending a used one again ends the session (reuse detection): only the
    newest refresh token of a session works, and of concurrent refreshes with one token
    exactly one succeeds."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return await service.refresh(
        db,
        keyring=keyring,
        revocations=revocations,
        tokens=settings.token,
        lifetimes=settings.auth,
        refresh_token=data.refresh_token,
    )


def _client_ip(request: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = request.client.host if request.client else None
    try:
        return ipaddress.ip_address(host) if host else None
    except ValueError:  # not an IP address: a Unix socket, a test transport
        return None
