"""Revocations: the sessions and tokens the denylist in Redis is rebuilt from.

Revision ID: 0002
Revises: 0001
Created: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_revocations")),
    )
    op.create_index("ix_revocations_until", "revocations", ["until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_revocations_until", table_name="revocations")
    op.drop_table("revocations")
