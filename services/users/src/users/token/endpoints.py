"""``/auth/token``: the OAuth2 password grant."""

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
from users.signing_key.deps import Keys
from users.token import service
from users.token.deps import Settings
from users.token.schemas import TokenResponse

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


def _client_ip(request: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    host = request.client.host if request.client else None
    try:
        return ipaddress.ip_address(host) if host else None
    except ValueError:  # not an IP address: a Unix socket, a test transport
        return None
