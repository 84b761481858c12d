"""Alembic environment of the items service: its schema, servicekit's runner."""

from items.models import MIGRATIONS

MIGRATIONS.run()
