"""The ``sessions``, ``refresh_tokens`` and ``revocations`` tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.ids import uuid7
from users.database import Base

__all__ = ["RefreshToken", "Revocation", "Session"]


class Session(Base):
    """A login: the ``sid`` of its access tokens, with an idle and an absolute lifetime."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[IPv4Address | IPv6Address | None] = mapped_column(INET)


class RefreshToken(Base):
    """One refresh token of a session, stored only as its SHA-256 hash."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Revocation(Base):
    """A session or an access token that must be refused until ``until``: the durable
    truth behind the denylist in Redis, which is rebuilt from here when Redis loses it.

    Not tied to ``sessions`` by a foreign key: an account's deletion removes its
    sessions, and its revocations must outlive them.
    """

    __tablename__ = "revocations"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    """``session`` or ``token``."""
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The ``sid`` or the ``jti``."""
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When the last token it refuses expires (with the leeway): it can go then."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


Index("ix_revocations_until", Revocation.until)
