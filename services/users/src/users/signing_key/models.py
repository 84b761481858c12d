"""The ``signing_keys`` table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from users.database import Base

__all__ = ["SigningKey"]


class SigningKey(Base):
    """An Ed25519 key pair; the private half sealed with the key-encryption key.

    A key is published from its creation, signs from ``activates_at`` until
    ``retired_at``, and stays published after that until every token it signed has
    expired.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activates_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    """When it starts to sign (it is published from its creation)."""
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When it stops signing: the activation of the key that replaces it."""
