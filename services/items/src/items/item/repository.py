"""All SQL about items."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from typing import Final

import asyncpg
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from items.item.models import Item
from servicekit.db import Query, Reader

__all__ = ["PUBLIC_COLUMNS", "ItemFilter", "ItemReads", "ItemRepository"]

_ITEMS: Final = Item.__table__
PUBLIC_COLUMNS: Final = tuple(
    _ITEMS.c[name]
    for name in ("id", "name", "description", "owner_id", "version", "created_at", "updated_at")
)
"""What clients see of an item (`ItemRead`'s fields, in its order): what reads select."""
_GET: Final = Query(select(*PUBLIC_COLUMNS).where(_ITEMS.c.id == bindparam("item_id")))


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

    async def delete(self, item: Item) -> None:
        await self.db.delete(item)
        await self.db.flush()


class ItemReads:
    """Reads of ``items`` in no transaction: rows as clients see them, one round trip each."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def get(self, item_id: int) -> asyncpg.Record | None:
        """The item ``item_id``."""
        return await self.reader.one(_GET, item_id=item_id)

    async def page(
        self, where: ItemFilter, *, limit: int, offset: int = 0, after_id: int | None = None
    ) -> list[asyncpg.Record]:
        """A page in id order: from ``offset``, or (keyset) after the item ``after_id``."""
        query = _page(
            owner=where.owner_id is not None,
            name=bool(where.name_contains),
            keyset=after_id is not None,
            offset=bool(offset) and after_id is None,
        )
        pattern = "%" + _escape_like(where.name_contains) + "%" if where.name_contains else None
        return await self.reader.all(
            query,
            owner_id=where.owner_id,
            pattern=pattern,
            after_id=after_id,
            offset=offset,
            limit=limit,
        )


@cache
def _page(*, owner: bool, name: bool, keyset: bool, offset: bool) -> Query:
    """The page query for one combination of filters, compiled on first use."""
    statement = select(*PUBLIC_COLUMNS).order_by(_ITEMS.c.id).limit(bindparam("limit"))
    if owner:
        statement = statement.where(_ITEMS.c.owner_id == bindparam("owner_id"))
    if name:
        statement = statement.where(_ITEMS.c.name.ilike(bindparam("pattern"), escape="\\"))
    if keyset:
        statement = statement.where(_ITEMS.c.id > bindparam("after_id"))
    if offset:
        statement = statement.offset(bindparam("offset"))
    return Query(statement)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
