"""Identifiers: time-ordered UUIDs, so new rows land at the end of their index."""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["uuid7"]


def uuid7() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits."""
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (milliseconds & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version
        | (random >> 68) << 64  # rand_a: 12 bits
        | 0b10 << 62  # variant
        | (random & 0x3FFF_FFFF_FFFF_FFFF)  # rand_b: 62 bits
    )
    return uuid.UUID(int=value)
