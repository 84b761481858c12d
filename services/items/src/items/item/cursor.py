"""Opaque keyset cursors for the item list: they encode the last id of a page."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["Cursor", "decode_cursor", "encode_cursor"]

_PREFIX: Final = "i:"
_MAX_ID: Final = 2**63 - 1


def encode_cursor(last_id: int) -> str:
    """The cursor of the page after the item ``last_id``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: object) -> int:
    """The last id a cursor encodes; ``ValueError`` if it is not one of ours."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 64:
        raise ValueError("not a cursor from a Link header")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor from a Link header") from None
    number = text.removeprefix(_PREFIX)
    if (
        not (text.startswith(_PREFIX) and number.isascii() and number.isdigit())
        or int(number) > _MAX_ID
    ):
        raise ValueError("not a cursor from a Link header")
    return int(number)


Cursor = Annotated[
    int,
    BeforeValidator(decode_cursor),
    WithJsonSchema({"type": "string", "description": 'Opaque; from a `Link: rel="next"` header.'}),
]
"""A query parameter that is a cursor; invalid ones are a 422."""
