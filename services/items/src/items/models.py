"""The items service's schema: every table (importing registers them) and its migrations."""

from pathlib import Path

from items.database import Base
from items.item.models import Item
from servicekit.db import Migrations

__all__ = ["MIGRATIONS", "Item"]

MIGRATIONS = Migrations(
    "items",
    # The revisions live beside the package's source tree: services/items/migrations.
    directory=Path(__file__).resolve().parents[2] / "migrations",
    metadata=Base.metadata,
)
