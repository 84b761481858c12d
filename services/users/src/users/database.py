"""The declarative base of the users service's tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import ServiceModel, service_metadata

__all__ = ["Base"]


class Base(ServiceModel, DeclarativeBase):
    metadata = service_metadata()
