"""Issuing tokens: the password grant and the refresh grant. Raises domain errors; never
commits."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Revocations, TokenSettings, access_token_claims
from servicekit.errors import Unauthorized
from users.account import service as account_service
from users.account.models import User
from users.account.password import PasswordHasher
from users.session.service import NewSession, rotate, start_session
from users.settings import AuthSettings
from users.signing_key.keyring import Keyring
from users.token.schemas import TokenResponse

__all__ = ["login", "refresh"]


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
    return _pair(
        user, new, keyring=keyring, tokens=tokens, lifetimes=lifetimes, client_id=client_id
    )


async def refresh(
    db: AsyncSession,
    *,
    keyring: Keyring,
    revocations: Revocations,
    tokens: TokenSettings,
    lifetimes: AuthSettings,
    refresh_token: str,
) -> TokenResponse:
    """The next token pair of the session of ``refresh_token``, which is used up."""
    new = await rotate(db, refresh_token, settings=lifetimes, revocations=revocations)
    user = await account_service.get_user(db, new.session.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The account of this session no longer exists.")
    return _pair(user, new, keyring=keyring, tokens=tokens, lifetimes=lifetimes, client_id=None)


def _pair(
    user: User,
    new: NewSession,
    *,
    keyring: Keyring,
    tokens: TokenSettings,
    lifetimes: AuthSettings,
    client_id: str | None,
) -> TokenResponse:
    """An access token for ``user`` in ``new``'s session, and its refresh token."""
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
        access_token=keyring.sign(claims), expires_in=ttl, refresh_token=new.refresh_token
    )
