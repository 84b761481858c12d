"""All SQL about sessions, refresh tokens and revocations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from users.session.models import RefreshToken, Revocation, Session

__all__ = ["SessionRepository"]


class SessionRepository:
    """Reads and writes ``sessions``, ``refresh_tokens`` and ``revocations`` rows."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def add(self, session: Session, refresh_token: RefreshToken) -> None:
        """Insert a new session with its first refresh token."""
        self.db.add(session)
        await self.db.flush()
        refresh_token.session_id = session.id
        self.db.add(refresh_token)
        await self.db.flush()

    async def add_refresh_token(self, refresh_token: RefreshToken) -> None:
        """Insert the next refresh token of a session."""
        self.db.add(refresh_token)
        await self.db.flush()

    async def claim_refresh_token(self, token_hash: bytes, now: datetime) -> RefreshToken | None:
        """Mark the refresh token used, if it is unused and unexpired; it, or None.

        One statement: of concurrent claims of one token, exactly one gets the row.
        """
        statement = (
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken)
        )
        return (await self.db.scalars(statement)).one_or_none()

    async def find_refresh_token(self, token_hash: bytes) -> RefreshToken | None:
        """The refresh token with this hash, used or not."""
        statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.db.scalars(statement)).one_or_none()

    async def lock(self, session_id: uuid.UUID) -> Session | None:
        """The session, locked until the transaction ends."""
        statement = select(Session).where(Session.id == session_id).with_for_update()
        return (await self.db.scalars(statement)).one_or_none()

    async def live_of(
        self, user_id: uuid.UUID, *, now: datetime, idle_since: datetime
    ) -> Sequence[Session]:
        """The user's sessions that have not ended, newest first."""
        statement = (
            select(Session)
            .where(
                Session.user_id == user_id,
                Session.revoked_at.is_(None),
                Session.expires_at > now,
                Session.last_used_at > idle_since,
            )
            .order_by(Session.created_at.desc(), Session.id.desc())
        )
        return (await self.db.scalars(statement)).all()

    async def end(
        self,
        user_id: uuid.UUID,
        *,
        only: Sequence[uuid.UUID] | None,
        keep: uuid.UUID | None,
        now: datetime,
    ) -> list[tuple[uuid.UUID, datetime]]:
        """Revoke the user's sessions not yet revoked (``only`` these, or all but ``keep``);
        the id of each, and when it last issued an access token."""
        statement = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
        if only is not None:
            statement = statement.where(Session.id.in_(only))
        if keep is not None:
            statement = statement.where(Session.id != keep)
        ended = await self.db.execute(
            statement.values(revoked_at=now).returning(Session.id, Session.last_used_at)
        )
        return [(row.id, row.last_used_at) for row in ended]

    async def record_revocations(self, revocations: Sequence[Revocation], *, now: datetime) -> None:
        """Keep ``revocations`` (the later ``until`` wins), and forget those long past."""
        if revocations:
            statement = insert(Revocation).values(
                [{"kind": r.kind, "value": r.value, "until": r.until} for r in revocations]
            )
            await self.db.execute(
                statement.on_conflict_do_update(
                    index_elements=[Revocation.kind, Revocation.value],
                    set_={"until": func.greatest(Revocation.until, statement.excluded.until)},
                )
            )
        await self.db.execute(delete(Revocation).where(Revocation.until < now))

    async def unexpired_revocations(
        self, now: datetime, *, recorded_since: datetime | None = None
    ) -> Sequence[Revocation]:
        """Every revocation still refusing a token (recorded since ``recorded_since``)."""
        statement = select(Revocation).where(Revocation.until > now)
        if recorded_since is not None:
            statement = statement.where(Revocation.created_at >= recorded_since)
        return (await self.db.scalars(statement)).all()
