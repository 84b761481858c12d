"""The ``items`` table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from items.database import Base

__all__ = ["Item"]


class Item(Base):
    """An item of the catalogue. ``version`` goes up by one with every change."""

    __tablename__ = "items"
    __table_args__ = (
        CheckConstraint("version > 0", name="version_positive"),
        # Listing one owner's items in id order, keyset-paginated.
        Index("ix_items_owner_id_id", "owner_id", "id"),
        # Case-insensitive substring search on the name (`ILIKE '%q%'`).
        Index(
            "ix_items_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
