"""The table of idempotency keys, in the database of each service that takes them."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, LargeBinary, MetaData, SmallInteger, String, Table

__all__ = ["idempotency_table"]


def idempotency_table(metadata: MetaData) -> Table:
    """``idempotency_keys`` in ``metadata``: one row per principal and key.

    Written in the transaction of the request it remembers, with that request's
    response, so a key never outlives or predates what it stands for.
    """
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(64), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", LargeBinary(32), nullable=False),
        Column("status", SmallInteger, nullable=False),
        Column("headers", LargeBinary, nullable=False),  # JSON
        Column("body", LargeBinary, nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )
