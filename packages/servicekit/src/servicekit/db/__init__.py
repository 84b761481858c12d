"""PostgreSQL access for services: the engine and sessions, migrations, databases.

- `open_database`: the process's `Database` (one pool, one session factory),
  opened in the lifespan; `NAMING_CONVENTION` for every service's metadata;
- `run_migrations` (the body of a service's ``migrations/env.py``), `upgrade`
  and `alembic_config`: Alembic, the same way for every service;
- `ensure_database`: create a service's (or a test run's) database;
- `client_error`: what a database error means for the client (409, 422, 503).

Nothing here knows HTTP: the request's unit of work is `servicekit.http.DbSession`.
"""

from servicekit.db._database import NAMING_CONVENTION, Database, open_database
from servicekit.db._errors import client_error
from servicekit.db._migrations import alembic_config, run_migrations, upgrade
from servicekit.db._provisioning import ensure_database

__all__ = [
    "NAMING_CONVENTION",
    "Database",
    "alembic_config",
    "client_error",
    "ensure_database",
    "open_database",
    "run_migrations",
    "upgrade",
]
