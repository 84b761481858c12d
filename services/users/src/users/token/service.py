"""Issuing tokens. Raises domain errors; never commits."""

from __future__ import annotations

import time
import uuid
from ipaddress import IPv4Address, IPv6Address

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.ids import uuid7
from users.account import service as account_service
from users.account.models import User
from users.session.service import start_session
from users.state import UsersState
from users.token.schemas import TokenResponse

__all__ = ["access_token_claims", "login"]


async def login(
    session: AsyncSession,
    state: UsersState,
    *,
    email: str,
    password: str,
    client_id: str | None,
    user_agent: str | None,
    ip: IPv4Address | IPv6Address | None,
) -> TokenResponse:
    """Check the credentials, start a session, and issue its first token pair."""
    user = await account_service.authenticate(session, state.passwords, email, password)
    new = await start_session(
        session, user, settings=state.settings.auth, user_agent=user_agent, ip=ip
    )
    ttl = state.settings.auth.access_token_ttl
    claims = access_token_claims(
        state, user=user, session_id=new.session.id, client_id=client_id, ttl=ttl
    )
    return TokenResponse(
        access_token=state.keyring.sign(claims),
        expires_in=ttl,
        refresh_token=new.refresh_token,
    )


def access_token_claims(
    state: UsersState, *, user: User, session_id: uuid.UUID, client_id: str | None, ttl: int
) -> dict[str, object]:
    """The claims of an access token (RFC 9068, plus ``sid`` and ``role``)."""
    now = int(time.time())
    token = state.settings.token
    return {
        "iss": token.issuer,
        "aud": token.audience,
        "sub": str(user.id),
        "sid": str(session_id),
        "jti": str(uuid7()),
        "iat": now,
        "exp": now + ttl,
        "role": user.role,
        "client_id": client_id or "public",
    }
