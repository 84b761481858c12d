"""Signing keys activate at a time of their own: published first, signing later.

Revision ID: 0003
Revises: 0002
Created: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "signing_keys",
        sa.Column(
            "activates_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    # The keys there are signed from their creation.
    op.execute("UPDATE signing_keys SET activates_at = created_at")


def downgrade() -> None:
    op.drop_column("signing_keys", "activates_at")
