"""The rules of items. Raises domain errors; never commits.

Every change writes its event (``item.created``, ``item.updated``, ``item.deleted``, with
the item's version) in the same transaction: no change without its event, no event
without its change.
"""

from __future__ import annotations

import uuid

import asyncpg

from items.database import OUTBOX
from items.item.etag import etag
from items.item.repository import ItemFilter, ItemReads, ItemWrites
from items.item.schemas import ItemCreate, ItemUpdate
from servicekit.auth import Principal
from servicekit.db import Reader, Transaction
from servicekit.errors import Forbidden, NotFound, PreconditionFailed
from servicekit.events import emit
from servicekit.http import if_match_holds

__all__ = [
    "create_item",
    "delete_item",
    "delete_items_of",
    "get_item",
    "list_items",
    "update_item",
]


async def create_item(
    transaction: Transaction, principal: Principal, data: ItemCreate
) -> asyncpg.Record:
    """A new item owned by the caller; ``item.created`` says so."""
    item = await ItemWrites(transaction).insert(
        name=data.name, description=data.description, owner_id=principal.user_id
    )
    await emit(transaction, OUTBOX, "item.created", dict(item))
    return item


async def get_item(reader: Reader, item_id: int) -> asyncpg.Record:
    """The item ``item_id`` as clients see it, or 404."""
    item = await ItemReads(reader).get(item_id)
    if item is None:
        raise NotFound(f"No item {item_id}.")
    return item


async def list_items(
    reader: Reader, where: ItemFilter, *, limit: int, offset: int, after_id: int | None
) -> list[asyncpg.Record]:
    """A page of items in id order, as clients see them."""
    return await ItemReads(reader).page(where, limit=limit, offset=offset, after_id=after_id)


async def update_item(
    transaction: Transaction,
    principal: Principal,
    item_id: int,
    data: ItemUpdate,
    *,
    if_match: str | None,
) -> asyncpg.Record:
    """Apply the fields sent; the version goes up by one if anything was sent."""
    item = await _writable(transaction, principal, item_id, if_match=if_match)
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        return item
    changed = await ItemWrites(transaction).update(item_id, changes)
    await emit(transaction, OUTBOX, "item.updated", dict(changed))
    return changed


async def delete_item(
    transaction: Transaction, principal: Principal, item_id: int, *, if_match: str | None
) -> None:
    """Delete the item (owner or admin); ``item.deleted`` says so."""
    item = await _writable(transaction, principal, item_id, if_match=if_match)
    await ItemWrites(transaction).delete(item_id)
    await emit(transaction, OUTBOX, "item.deleted", _deleted(item))


async def delete_items_of(transaction: Transaction, owner_id: uuid.UUID) -> list[asyncpg.Record]:
    """Delete every item of ``owner_id`` (their account is gone); ``item.deleted`` for each.
    The items deleted."""
    deleted = await ItemWrites(transaction).delete_owned_by(owner_id)
    for item in deleted:
        await emit(transaction, OUTBOX, "item.deleted", _deleted(item))
    return deleted


def _deleted(item: asyncpg.Record) -> dict[str, object]:
    """What ``item.deleted`` says of an item: which, whose, at which version."""
    return {"id": item["id"], "owner_id": item["owner_id"], "version": item["version"]}


async def _writable(
    transaction: Transaction, principal: Principal, item_id: int, *, if_match: str | None
) -> asyncpg.Record:
    """The item, locked for this transaction, if the caller may change it as asked."""
    item = await ItemWrites(transaction).lock(item_id)
    if item is None:
        raise NotFound(f"No item {item_id}.")
    if item["owner_id"] != principal.user_id and not principal.is_admin:
        raise Forbidden("Only the owner of an item or an admin may change it.")
    current = etag(item["version"])
    if not if_match_holds(if_match, current):
        raise PreconditionFailed(
            f"The item is at version {item['version']} ({current}); read it again and retry."
        )
    return item
