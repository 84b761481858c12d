"""The declarative base of the items service's tables, and the tables servicekit brings."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import ServiceModel, service_metadata
from servicekit.events import outbox_table, processed_events_table
from servicekit.idempotency import idempotency_table

__all__ = ["IDEMPOTENCY_KEYS", "OUTBOX", "PROCESSED_EVENTS", "Base"]


class Base(ServiceModel, DeclarativeBase):
    metadata = service_metadata()


IDEMPOTENCY_KEYS = idempotency_table(Base.metadata)
"""The keys of ``POST /items/`` retries, with the responses they get back."""
OUTBOX = outbox_table(Base.metadata)
"""The events of the service's changes, until the worker's relay has published them."""
PROCESSED_EVENTS = processed_events_table(Base.metadata)
"""The events the service's consumers have applied (others' events: users')."""
