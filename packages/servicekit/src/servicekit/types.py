"""Field types for the request schemas of every service."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

__all__ = ["StorableStr"]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


StorableStr = Annotated[str, AfterValidator(_no_nul)]
"""A string PostgreSQL can store and search for: any Unicode but the NUL character."""
