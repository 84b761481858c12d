"""All SQL about items."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final, cast

import asyncpg
from sqlalchemy import Table, bindparam, delete, func, insert, select, update

from items.item.models import Item
from servicekit.db import Query, Reader, Transaction

__all__ = ["PUBLIC_COLUMNS", "ItemFilter", "ItemReads", "ItemWrites"]

_ITEMS: Final = cast("Table", Item.__table__)
PUBLIC_COLUMNS: Final = tuple(
    _ITEMS.c[name]
    for name in ("id", "name", "description", "owner_id", "version", "created_at", "updated_at")
)
"""What clients see of an item (`ItemRead`'s fields, in its order): what reads select."""
_GET: Final = Query(select(*PUBLIC_COLUMNS).where(_ITEMS.c.id == bindparam("item_id")))
_LOCK: Final = Query(
    select(*PUBLIC_COLUMNS).where(_ITEMS.c.id == bindparam("item_id")).with_for_update()
)
_INSERT: Final = Query(
    insert(_ITEMS)
    .values(
        name=bindparam("name"),
        description=bindparam("description"),
        owner_id=bindparam("owner_id"),
    )
    .returning(*PUBLIC_COLUMNS)
)
_DELETE: Final = Query(delete(_ITEMS).where(_ITEMS.c.id == bindparam("item_id")))
_DELETE_OWNED: Final = Query(
    delete(_ITEMS)
    .where(_ITEMS.c.owner_id == bindparam("owner_id"))
    .returning(_ITEMS.c.id, _ITEMS.c.owner_id, _ITEMS.c.version)
)
_CHANGEABLE: Final = frozenset({"name", "description"})


@dataclass(frozen=True)
class ItemFilter:
    """Which items a list shows: one owner's, and/or names containing ``name_contains``."""

    owner_id: uuid.UUID | None = None
    name_contains: str | None = None


class ItemWrites:
    """Writes of ``items`` in the request's transaction; rows as clients see them."""

    def __init__(self, transaction: Transaction) -> None:
        self.transaction = transaction

    async def insert(
        self, *, name: str, description: str | None, owner_id: uuid.UUID
    ) -> asyncpg.Record:
        """Insert an item (a violated constraint raises: a 409)."""
        row = await self.transaction.one(
            _INSERT, name=name, description=description, owner_id=owner_id
        )
        if row is None:
            raise RuntimeError("INSERT … RETURNING returned no row")
        return row

    async def lock(self, item_id: int) -> asyncpg.Record | None:
        """The item ``item_id``, its row locked until the transaction ends."""
        return await self.transaction.one(_LOCK, item_id=item_id)

    async def update(self, item_id: int, changes: Mapping[str, object]) -> asyncpg.Record:
        """Apply ``changes`` (a subset of name and description); the version goes up by one."""
        row = await self.transaction.one(_update(frozenset(changes)), item_id=item_id, **changes)
        if row is None:
            raise RuntimeError(f"item {item_id} vanished under its lock")
        return row

    async def delete(self, item_id: int) -> None:
        """Delete the item ``item_id``."""
        await self.transaction.execute(_DELETE, item_id=item_id)

    async def delete_owned_by(self, owner_id: uuid.UUID) -> list[asyncpg.Record]:
        """Delete every item of ``owner_id``; the id, owner and version of each."""
        return await self.transaction.all(_DELETE_OWNED, owner_id=owner_id)


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
def _update(fields: frozenset[str]) -> Query:
    """The update of these fields (a subset of `_CHANGEABLE`), compiled on first use."""
    if not fields <= _CHANGEABLE:
        raise ValueError(f"items cannot change {sorted(fields - _CHANGEABLE)}")
    return Query(
        update(_ITEMS)
        .where(_ITEMS.c.id == bindparam("item_id"))
        .values(
            {_ITEMS.c[name]: bindparam(name) for name in sorted(fields)}
            | {_ITEMS.c.version: _ITEMS.c.version + 1, _ITEMS.c.updated_at: func.now()}
        )
        .returning(*PUBLIC_COLUMNS)
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
