"""The declarative base of the items service's tables, and the tables servicekit brings."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import ServiceModel, service_metadata
from servicekit.idempotency import idempotency_table

__all__ = ["IDEMPOTENCY_KEYS", "Base"]


class Base(ServiceModel, DeclarativeBase):
    metadata = service_metadata()


IDEMPOTENCY_KEYS = idempotency_table(Base.metadata)
"""The keys of ``POST /items/`` retries, with the responses they get back."""
