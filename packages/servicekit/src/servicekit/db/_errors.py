"""What a database error means for the client, by its SQLSTATE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import asyncpg
import sqlalchemy.exc
import structlog

from servicekit.errors import AppError, Conflict, ServiceUnavailable, UnprocessableContent

__all__ = ["client_error"]

_UNIQUE_VIOLATION: Final = "23505"
_FOREIGN_KEY_VIOLATION: Final = "23503"
_DATA_EXCEPTION_CLASS: Final = "22"
# Connection exceptions, insufficient resources, operator intervention (shutdown).
_UNAVAILABLE_CLASSES: Final = ("08", "53", "57P")

_log = structlog.get_logger("servicekit.db")


def client_error(
    exc: sqlalchemy.exc.DBAPIError | asyncpg.PostgresError, *, conflicts: Mapping[str, str]
) -> AppError | None:
    """The error ``exc`` is for the client, or ``None`` when it is the server's own (a 500).

    A unique violation is a 409 whose detail is ``conflicts[constraint name]``
    (services insert and let the constraint decide, instead of check-then-insert
    races); a value PostgreSQL refuses is a 422; a lost or refused connection is
    a 503.
    """
    sqlstate, constraint = _sqlstate(exc)
    if sqlstate == _UNIQUE_VIOLATION:
        _log.info("unique_violation", constraint=constraint)
        return Conflict(conflicts.get(constraint or "") or "A resource with these values exists.")
    if sqlstate == _FOREIGN_KEY_VIOLATION:
        _log.info("foreign_key_violation", constraint=constraint)
        return Conflict("The request refers to a resource that no longer exists.")
    if sqlstate and sqlstate.startswith(_DATA_EXCEPTION_CLASS):
        # Validation lets little through that PostgreSQL refuses (a NUL
        # character, a number out of range); what it missed is still the
        # client's input, not a 500.
        _log.info("data_exception", sqlstate=sqlstate)
        message = "A value cannot be stored or searched for as given."
        return UnprocessableContent(
            message, errors=[{"loc": [], "msg": message, "type": "value_error"}]
        )
    invalidated = isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated
    if invalidated or (sqlstate and sqlstate.startswith(_UNAVAILABLE_CLASSES)):
        return ServiceUnavailable()
    return None


def _sqlstate(
    exc: sqlalchemy.exc.DBAPIError | asyncpg.PostgresError,
) -> tuple[str | None, str | None]:
    """The SQLSTATE of a database error, and the constraint it names, if any.

    asyncpg's own error when raised by a `Reader`, inside SQLAlchemy's otherwise.
    """
    driver_error = exc if isinstance(exc, asyncpg.PostgresError) else exc.orig
    cause = (
        driver_error
        if isinstance(exc, asyncpg.PostgresError)
        else getattr(driver_error, "__cause__", None)
    )
    sqlstate = getattr(cause, "sqlstate", None) or getattr(driver_error, "sqlstate", None)
    constraint = getattr(cause, "constraint_name", None)
    return sqlstate, constraint
