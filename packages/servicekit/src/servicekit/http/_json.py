"""JSON bytes for responses an endpoint builds itself, the way the schemas serialise.

On a hot read, rendering rows straight to bytes with orjson costs an eighth of
validating them into a response model and serialising that (measured on an item:
0.5 µs against 4 µs). The bytes are the same: datetimes in UTC with ``Z``, UUIDs
(asyncpg's too) as strings. The endpoint keeps its ``response_model`` for the
OpenAPI document; FastAPI sends a `Response` it is given as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

import orjson
from starlette.responses import Response

__all__ = ["json_bytes", "json_response"]

_OPTIONS: Final = orjson.OPT_UTC_Z


def json_bytes(value: Any) -> bytes:
    """``value`` (dicts, lists, str, int, float, bool, None, datetime, UUID) as JSON."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def json_response(
    value: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A ``200`` (or ``status_code``) ``application/json`` response of ``value``."""
    return Response(
        json_bytes(value),
        status_code=status_code,
        headers=dict(headers) if headers else None,
        media_type="application/json",
    )


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # asyncpg's UUID is a subclass orjson does not know
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
