"""All SQL about sessions and refresh tokens."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from users.session.models import RefreshToken, Session

__all__ = ["SessionRepository"]


class SessionRepository:
    """Reads and writes ``sessions`` and ``refresh_tokens`` rows."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def add(self, session: Session, refresh_token: RefreshToken) -> None:
        """Insert a new session with its first refresh token."""
        self.db.add(session)
        await self.db.flush()
        refresh_token.session_id = session.id
        self.db.add(refresh_token)
        await self.db.flush()
