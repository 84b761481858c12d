"""Dependency aliases of the item feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from items.database import IDEMPOTENCY_KEYS
from servicekit.http import IdempotentCreate, idempotency_for

__all__ = ["Idempotent"]

Idempotent = Annotated[IdempotentCreate, Depends(idempotency_for(IDEMPOTENCY_KEYS))]
"""``Idempotency-Key`` on a create: retries get the first response, nothing twice."""
