"""All SQL about items."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from items.item.models import Item

__all__ = ["ItemFilter", "ItemRepository"]


@dataclass(frozen=True)
class ItemFilter:
    """Which items a list shows: one owner's, and/or names containing ``name_contains``."""

    owner_id: uuid.UUID | None = None
    name_contains: str | None = None


class ItemRepository:
    """Reads and writes ``items`` rows in the request's database session."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def add(self, item: Item) -> Item:
        """Insert ``item``, filling in its id and defaults."""
        self.db.add(item)
        await self.db.flush()
        return item

    async def get(self, item_id: int, *, for_update: bool = False) -> Item | None:
        """The item ``item_id``; ``for_update`` locks its row until the transaction ends."""
        statement = select(Item).where(Item.id == item_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.db.scalars(statement)).one_or_none()

    async def list_page(
        self, where: ItemFilter, *, limit: int, offset: int = 0, after_id: int | None = None
    ) -> Sequence[Item]:
        """A page in id order: from ``offset``, or (keyset) after the item ``after_id``."""
        statement = _filtered(select(Item), where).order_by(Item.id).limit(limit)
        if after_id is not None:
            statement = statement.where(Item.id > after_id)
        elif offset:
            statement = statement.offset(offset)
        return (await self.db.scalars(statement)).all()

    async def delete(self, item: Item) -> None:
        await self.db.delete(item)
        await self.db.flush()


def _filtered(statement: Select[tuple[Item]], where: ItemFilter) -> Select[tuple[Item]]:
    if where.owner_id is not None:
        statement = statement.where(Item.owner_id == where.owner_id)
    if where.name_contains:
        pattern = "%" + _escape_like(where.name_contains) + "%"
        statement = statement.where(Item.name.ilike(pattern, escape="\\"))
    return statement


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
