"""What items does with other services' events: the entry points of events, as endpoints
are of requests."""

from __future__ import annotations

import uuid
from functools import partial

from items.item import service
from items.item.endpoints import CACHED_ITEM
from servicekit.events import Delivery

__all__ = ["on_user_deleted"]


async def on_user_deleted(delivery: Delivery) -> None:
    """``user.deleted``: the account is gone, and so are its items (each cached response
    forgotten once the deletion has committed)."""
    owner = uuid.UUID(str(delivery.event.data["id"]))
    deleted = await service.delete_items_of(delivery.transaction, owner)
    for item in deleted:
        delivery.transaction.after_commit(
            partial(delivery.cache.invalidate, CACHED_ITEM.kind, str(item["id"]))
        )
