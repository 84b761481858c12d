"""Alembic environment of the users service: its schema, servicekit's runner."""

from users.models import MIGRATIONS

MIGRATIONS.run()
