"""What clients send and get back about items."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from servicekit.types import StorableStr

__all__ = ["ItemCreate", "ItemRead", "ItemUpdate"]

Name = Annotated[StorableStr, Field(min_length=1, max_length=200)]
Description = Annotated[StorableStr, Field(max_length=10_000)]


class ItemCreate(BaseModel):
    """A new item; its owner is the caller."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None


class ItemUpdate(BaseModel):
    """Changes to an item: only the fields sent change; ``description: null`` clears it."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, name: str | None) -> str:
        # Runs only when `name` is sent: an absent name means "unchanged".
        if name is None:
            raise ValueError("name cannot be null")
        return name


class ItemRead(BaseModel):
    """An item as clients see it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    owner_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime
