"""The declarative base of the users service's tables, and the tables servicekit brings."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import ServiceModel, service_metadata
from servicekit.events import outbox_table

__all__ = ["OUTBOX", "Base"]


class Base(ServiceModel, DeclarativeBase):
    metadata = service_metadata()


OUTBOX = outbox_table(Base.metadata)
"""The events of the service's changes, until the worker's relay has published them."""
