"""Every table of the items service, for migrations (importing registers them)."""

from items.database import Base
from items.item.models import Item

__all__ = ["Item", "metadata"]

metadata = Base.metadata
