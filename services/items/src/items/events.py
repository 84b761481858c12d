"""The events of the items service: what it writes, and what it applies of others'."""

from __future__ import annotations

from typing import Final

from items.database import OUTBOX, PROCESSED_EVENTS
from items.item.handlers import on_user_deleted
from servicekit.events import ServiceEvents, Subscription

__all__ = ["EVENTS"]

EVENTS: Final = ServiceEvents(
    stream="items.events",
    outbox=OUTBOX,
    processed=PROCESSED_EVENTS,
    subscriptions=[Subscription("users.events", {"user.deleted": on_user_deleted})],
)
"""``item.created``, ``item.updated``, ``item.deleted`` go to ``items.events``;
``user.deleted`` of ``users.events`` deletes that user's items."""
