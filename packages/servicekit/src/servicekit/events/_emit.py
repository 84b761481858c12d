"""`emit`: an event into the outbox, in the transaction of the change it describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Table, bindparam, insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import Query, Transaction
from servicekit.encoding import json_bytes
from servicekit.events._event import Event

__all__ = ["emit"]

_INSERTS: dict[Table, Query] = {}


async def emit(
    unit: Transaction | AsyncSession,
    outbox: Table,
    type: str,
    data: Mapping[str, Any],
) -> Event:
    """Write the event ``type`` with ``data`` into ``outbox``, in ``unit``: the request's
    `Transaction` or ORM session. It is published once ``unit`` commits, and never if it
    rolls back. The event, with its id."""
    # As JSON has them: ids and times as strings, whatever the caller passed.
    event = Event(type=type, data=orjson.loads(json_bytes(data)))
    values = {
        "event_id": event.id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "data": dict(event.data),
        "schema_version": event.schema_version,
        "trace": dict(event.trace),
    }
    if isinstance(unit, Transaction):
        await unit.execute(_insert(outbox), **values)
    else:
        await unit.execute(insert(outbox).values(**values))
    return event


def _insert(outbox: Table) -> Query:
    query = _INSERTS.get(outbox)
    if query is None:
        columns = ("event_id", "type", "occurred_at", "data", "schema_version", "trace")
        query = _INSERTS[outbox] = Query(
            insert(outbox).values({name: bindparam(name) for name in columns})
        )
    return query
