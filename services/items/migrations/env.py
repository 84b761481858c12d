"""Alembic environment of the items service: its models' metadata, servicekit's runner."""

from items.models import metadata
from servicekit.db import run_migrations

run_migrations(metadata)
