"""The rules of sessions. Raises domain errors; never commits."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address

from sqlalchemy.ext.asyncio import AsyncSession

from users.account.models import User
from users.session.models import RefreshToken, Session
from users.session.repository import SessionRepository
from users.settings import AuthSettings

__all__ = ["NewSession", "hash_refresh_token", "start_session"]

_USER_AGENT_MAX = 512


@dataclass(frozen=True)
class NewSession:
    """A session just started, with its refresh token in clear (shown once)."""

    session: Session
    refresh_token: str


def hash_refresh_token(token: str) -> bytes:
    """What is stored of a refresh token. SHA-256 suffices: the token has 256 random bits."""
    return hashlib.sha256(token.encode()).digest()


async def start_session(
    db: AsyncSession,
    user: User,
    *,
    settings: AuthSettings,
    user_agent: str | None,
    ip: IPv4Address | IPv6Address | None,
) -> NewSession:
    """Start a session for ``user`` and issue its first refresh token."""
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=settings.refresh_token_ttl)
    session = Session(
        user_id=user.id,
        expires_at=expires_at,
        user_agent=user_agent[:_USER_AGENT_MAX] if user_agent else None,
        ip=ip,
    )
    token = secrets.token_urlsafe(32)
    refresh_token = RefreshToken(
        token_hash=hash_refresh_token(token),
        expires_at=min(expires_at, now + timedelta(seconds=settings.session_idle_ttl)),
    )
    await SessionRepository(db).add(session, refresh_token)
    return NewSession(session=session, refresh_token=token)
