"""Factories and helpers of the items tests: plain typed functions."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from items.item.models import Item
from servicekit.auth import Role
from servicekit.testing import TokenFactory

__all__ = ["Caller", "create_item"]

_counter = itertools.count(1)


async def create_item(db: AsyncSession, **overrides: Any) -> Item:
    """An item in the database (owned by a random user unless ``owner_id`` is given)."""
    number = next(_counter)
    values: dict[str, Any] = {
        "name": f"Item {number}",
        "description": f"Description {number}",
        "owner_id": uuid.uuid4(),
    }
    item = Item(**(values | overrides))
    db.add(item)
    await db.flush()
    return item


class Caller:
    """A user of the items API: an id and the header of a valid token for it."""

    def __init__(self, tokens: TokenFactory, *, role: Role = "user") -> None:
        self.id = uuid.uuid4()
        self.token = tokens.issue(user_id=self.id, role=role)

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <token>``."""
        return {"Authorization": f"Bearer {self.token}"}
