"""The declarative base of the items service's tables."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from servicekit.db import NAMING_CONVENTION

__all__ = ["Base"]


class Base(DeclarativeBase):
    """Base of every model of the items service."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Read server-side defaults (created_at, …) back with RETURNING on insert and
    # update, so no attribute is ever lazily loaded outside the request.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 -- SQLAlchemy's declarative hook
