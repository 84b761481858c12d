"""Conditional requests (RFC 9110 §13): the comparisons ``If-None-Match`` and ``If-Match`` make."""

from __future__ import annotations

__all__ = ["if_match_holds", "if_none_match_matches"]


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def if_none_match_matches(header: str | None, current: str) -> bool:
    """Whether ``If-None-Match`` matches (weak comparison): the client's copy is current."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or any(tag.removeprefix("W/") == current for tag in tags)


def if_match_holds(header: str | None, current: str) -> bool:
    """Whether ``If-Match`` allows the change (strong comparison; absent allows it)."""
    if header is None:
        return True
    tags = _tags(header)
    return "*" in tags or current in tags
