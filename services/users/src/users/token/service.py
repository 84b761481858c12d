"""Issuing tokens. Raises domain errors; never commits."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import TokenSettings, access_token_claims
from users.account import service as account_service
from users.account.password import PasswordHasher
from users.session.service import start_session
from users.settings import AuthSettings
from users.signing_key.keyring import Keyring
from users.token.schemas import TokenResponse

__all__ = ["login"]


async def login(
    db: AsyncSession,
    *,
    passwords: PasswordHasher,
    keyring: Keyring,
    tokens: TokenSettings,
    lifetimes: AuthSettings,
    email: str,
    password: str,
    client_id: str | None,
    user_agent: str | None,
    ip: IPv4Address | IPv6Address | None,
) -> TokenResponse:
    """Check the credentials, start a session, and issue its first token pair."""
    user = await account_service.authenticate(db, passwords, email, password)
    new = await start_session(db, user, settings=lifetimes, user_agent=user_agent, ip=ip)
    ttl = lifetimes.access_token_ttl
    claims = access_token_claims(
        issuer=tokens.issuer,
        audience=tokens.audience,
        subject=user.id,
        session_id=new.session.id,
        role=user.role,
        ttl=ttl,
        client_id=client_id,
    )
    return TokenResponse(
        access_token=keyring.sign(claims),
        expires_in=ttl,
        refresh_token=new.refresh_token,
    )
