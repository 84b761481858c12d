"""Entity tags of items: an item's version is its tag."""

from __future__ import annotations

__all__ = ["etag"]


def etag(version: int) -> str:
    """The strong entity tag of an item at ``version``."""
    return f'"{version}"'
