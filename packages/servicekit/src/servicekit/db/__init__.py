"""PostgreSQL access for services: the engine and sessions, the schema, databases.

- `open_database`: the process's `Database` (one pool, one session factory),
  `committing` a session at the end of a unit of work, and what runs `after_commit`;
  opened in the lifespan; `Query`, `Reader` and `Transaction`: the hot path's
  statements, compiled once and run on the pool's asyncpg connections (reads in
  no transaction; writes in the request's);
- `ServiceModel` and `service_metadata`: what a service's declarative base is
  made of; `Migrations`: its tables and the Alembic revisions that build them;
- `ensure_database`: create a service's (or a test run's) database;
- `client_error`: what a database error means for the client (409, 422, 503).

Nothing here knows HTTP: the request's unit of work is `servicekit.http.DbSession`.
"""

from servicekit.db._database import (
    Database,
    ServiceModel,
    after_commit,
    committing,
    open_database,
    service_metadata,
)
from servicekit.db._errors import client_error
from servicekit.db._migrations import Migrations
from servicekit.db._provisioning import ensure_database
from servicekit.db._statements import Query, Reader, Transaction

__all__ = [
    "Database",
    "Migrations",
    "Query",
    "Reader",
    "ServiceModel",
    "Transaction",
    "after_commit",
    "client_error",
    "committing",
    "ensure_database",
    "open_database",
    "service_metadata",
]
