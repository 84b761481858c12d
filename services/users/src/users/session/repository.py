"""All SQL about sessions and refresh tokens."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from users.session.models import RefreshToken, Session

__all__ = ["SessionRepository"]


class SessionRepository:
    """Reads and writes ``sessions`` and ``refresh_tokens`` rows."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, login: Session, refresh_token: RefreshToken) -> None:
        """Insert a new session with its first refresh token."""
        self.session.add(login)
        await self.session.flush()
        refresh_token.session_id = login.id
        self.session.add(refresh_token)
        await self.session.flush()
