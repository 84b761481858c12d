"""The rules of sessions: start, rotate, end, list. Raises domain errors; never commits.

A session is one login. It ends when it is revoked (logout, a password change, a reused
refresh token, the account's deletion), after ``USERS_SESSION_IDLE_TTL`` without a
refresh, or ``USERS_REFRESH_TOKEN_TTL`` after it began, whatever happens. Ending one
also refuses the access tokens it issued, everywhere: its revocation is recorded here
(the durable truth) and written to the denylist in Redis before the request answers.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import MAX_LEEWAY_SECONDS, Principal, Revocations, Revoked
from servicekit.db import Database
from servicekit.errors import NotFound, ServiceUnavailable, Unauthorized
from servicekit.ids import uuid7
from users.account.models import User
from users.session.models import RefreshToken, Revocation, Session
from users.session.repository import SessionRepository
from users.settings import AuthSettings

__all__ = [
    "NewSession",
    "RecordedRevocations",
    "end_session",
    "end_sessions",
    "hash_refresh_token",
    "live_sessions",
    "rotate",
    "start_session",
]

_USER_AGENT_MAX = 512
_LEEWAY = timedelta(seconds=MAX_LEEWAY_SECONDS)
"""What any verifier may add to a token's ``exp``: a revocation lasts that much longer."""


@dataclass(frozen=True)
class NewSession:
    """A session and its newest refresh token, in clear (shown once)."""

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
    session = Session(
        id=uuid7(),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        user_agent=user_agent[:_USER_AGENT_MAX] if user_agent else None,
        ip=ip,
    )
    token, refresh_token = _new_refresh_token(session, now, settings)
    await SessionRepository(db).add(session, refresh_token)
    return NewSession(session=session, refresh_token=token)


async def rotate(
    db: AsyncSession, refresh_token: str, *, settings: AuthSettings, revocations: Revocations
) -> NewSession:
    """The session of ``refresh_token`` with its next refresh token; the one given is used.

    401 for a token that is unknown, expired, or of a session that has ended. A token
    that was already used is a stolen copy or a replay: its whole session is ended,
    and the 401 keeps that write. Of concurrent rotations of one token exactly one
    wins; to the others it is a used token.
    """
    now = datetime.now(UTC)
    repository = SessionRepository(db)
    token_hash = hash_refresh_token(refresh_token)
    claimed = await repository.claim_refresh_token(token_hash, now)
    if claimed is None:
        known = await repository.find_refresh_token(token_hash)
        if known is not None and known.used_at is not None:
            session = await repository.lock(known.session_id)
            if session is not None:
                await _end(
                    db,
                    revocations,
                    session.user_id,
                    settings,
                    now=now,
                    only=[session.id],
                    required=False,
                )
            raise Unauthorized(
                "This refresh token was already used: its session has been ended. Log in again."
            ).keeping_writes()
        raise Unauthorized("Unknown or expired refresh token.")
    session = await repository.lock(claimed.session_id)
    if session is None or not _live(session, now, settings):
        raise Unauthorized("The session of this refresh token has ended. Log in again.")
    session.last_used_at = now
    token, next_token = _new_refresh_token(session, now, settings)
    await repository.add_refresh_token(next_token)
    return NewSession(session=session, refresh_token=token)


async def end_sessions(
    db: AsyncSession,
    revocations: Revocations,
    user_id: uuid.UUID,
    *,
    settings: AuthSettings,
    only: Sequence[uuid.UUID] | None = None,
    keep: uuid.UUID | None = None,
    token: Principal | None = None,
) -> list[uuid.UUID]:
    """End the user's sessions (``only`` these, or all but ``keep``) and refuse their
    access tokens everywhere, and ``token`` itself if given; the ids ended.

    503 if the denylist cannot take the revocation now: nothing is ended then.
    """
    return await _end(
        db, revocations, user_id, settings, now=datetime.now(UTC), only=only, keep=keep, token=token
    )


async def live_sessions(
    db: AsyncSession, user_id: uuid.UUID, *, settings: AuthSettings
) -> Sequence[Session]:
    """The user's sessions that have not ended, newest first."""
    now = datetime.now(UTC)
    return await SessionRepository(db).live_of(
        user_id, now=now, idle_since=_idle_since(now, settings)
    )


async def end_session(
    db: AsyncSession,
    revocations: Revocations,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    *,
    settings: AuthSettings,
) -> None:
    """End one live session of the user; 404 for any other id (someone else's is not told
    apart from one that does not exist)."""
    live = await live_sessions(db, user_id, settings=settings)
    if session_id not in {session.id for session in live}:
        raise NotFound("No such session.")
    await end_sessions(db, revocations, user_id, settings=settings, only=[session_id])


async def _end(
    db: AsyncSession,
    revocations: Revocations,
    user_id: uuid.UUID,
    settings: AuthSettings,
    *,
    now: datetime,
    only: Sequence[uuid.UUID] | None = None,
    keep: uuid.UUID | None = None,
    token: Principal | None = None,
    required: bool = True,
) -> list[uuid.UUID]:
    """End sessions in the database and on the denylist (see `end_sessions`).

    Not ``required``, a denylist that does not answer is not an error: what was
    recorded here is written there again within seconds (`Revocations.keep`).
    """
    repository = SessionRepository(db)
    ended = await repository.end(user_id, only=only, keep=keep, now=now)
    lifetime = timedelta(seconds=settings.access_token_ttl) + _LEEWAY
    entries = [
        Revoked(kind="session", value=str(session_id), until=(last_issued + lifetime).timestamp())
        for session_id, last_issued in ended
        if last_issued + lifetime > now
    ]
    if token is not None:
        entries.append(
            Revoked(
                kind="token", value=token.token_id, until=token.expires_at + _LEEWAY.total_seconds()
            )
        )
    await repository.record_revocations(
        [
            Revocation(
                kind=entry.kind, value=entry.value, until=datetime.fromtimestamp(entry.until, UTC)
            )
            for entry in entries
        ],
        now=now,
    )
    try:
        await revocations.revoke(entries)
    except (RedisError, OSError, TimeoutError):
        if required:
            raise ServiceUnavailable(
                "Sessions cannot be ended right now (the revocation list does not answer); retry."
            ) from None
    return [session_id for session_id, _ in ended]


class RecordedRevocations:
    """The revocations recorded in the database: where the denylist is rebuilt from
    (a `servicekit.auth.RevocationSource`)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def unexpired(self, *, recorded_since: float | None = None) -> list[Revoked]:
        """Every revocation still refusing a token (recorded since ``recorded_since``)."""
        since = None if recorded_since is None else datetime.fromtimestamp(recorded_since, UTC)
        async with self._database.sessionmaker() as db:
            rows = await SessionRepository(db).unexpired_revocations(
                datetime.now(UTC), recorded_since=since
            )
        return [_revoked(row) for row in rows]


def _revoked(row: Revocation) -> Revoked:
    until = row.until.timestamp()
    if row.kind == "session":
        return Revoked(kind="session", value=row.value, until=until)
    return Revoked(kind="token", value=row.value, until=until)


def _new_refresh_token(
    session: Session, now: datetime, settings: AuthSettings
) -> tuple[str, RefreshToken]:
    """A new refresh token of ``session``: in clear, and as stored."""
    token = secrets.token_urlsafe(32)
    idle_end = now + timedelta(seconds=settings.session_idle_ttl)
    stored = RefreshToken(
        session_id=session.id,
        token_hash=hash_refresh_token(token),
        expires_at=min(session.expires_at, idle_end),
    )
    return token, stored


def _live(session: Session, now: datetime, settings: AuthSettings) -> bool:
    return (
        session.revoked_at is None
        and session.expires_at > now
        and session.last_used_at > _idle_since(now, settings)
    )


def _idle_since(now: datetime, settings: AuthSettings) -> datetime:
    return now - timedelta(seconds=settings.session_idle_ttl)
