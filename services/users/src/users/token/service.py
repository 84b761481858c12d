"""Issuing tokens. Raises domain errors; never commits."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import access_token_claims
from users.account import service as account_service
from users.session.service import start_session
from users.state import UsersState
from users.token.schemas import TokenResponse

__all__ = ["login"]


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
        issuer=state.settings.token.issuer,
        audience=state.settings.token.audience,
        subject=user.id,
        session_id=new.session.id,
        role=user.role,
        ttl=ttl,
        client_id=client_id,
    )
    return TokenResponse(
        access_token=state.keyring.sign(claims),
        expires_in=ttl,
        refresh_token=new.refresh_token,
    )
