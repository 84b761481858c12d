"""Alembic environment of the users service: its models' metadata, servicekit's runner."""

from servicekit.db import run_migrations
from users.models import metadata

run_migrations(metadata)
