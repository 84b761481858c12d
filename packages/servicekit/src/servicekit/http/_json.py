"""JSON responses an endpoint builds itself, the way the schemas serialise.

On a hot read, rendering rows straight to bytes (`servicekit.encoding.json_bytes`)
costs an eighth of validating them into a response model and serialising that. The
endpoint keeps its ``response_model`` for the OpenAPI document; FastAPI sends a
`Response` it is given as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from servicekit.encoding import json_bytes

__all__ = ["json_bytes", "json_response"]


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
